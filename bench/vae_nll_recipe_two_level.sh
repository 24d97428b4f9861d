#!/usr/bin/env bash
# Issue 29, item 4: the two-level Bernoulli VAE (z2 -> z1 -> x, Burda et al.'s
# architecture; aekit.core.hierarchy) on dynamically binarised MNIST, trained from
# scratch with the IWAE objective (k = 5) over both levels, one seed, no selection on
# the test set; then its test NLL by K = 5000 importance samples over both levels on the
# 10000 official test images (a fixed binarisation), with the estimate at K/10 beside it.
# Run from the repository root with the virtual environment active, nothing else running.
# Usage: bench/vae_nll_recipe_two_level.sh [RUN] [TRAIN_THREADS] [EPOCHS] [K] [PRIOR]
# PRIOR is the prior over the top level z2: standard (N(0, I), the default, the run in
# BENCHMARKS.md: 450 epochs in 79.5 min) or vamp (a VampPrior of 500 pseudo-inputs,
# Tomczak & Welling 2018's two-level VAE: 17.6 s an epoch against 11.1, side by side
# in an 8-epoch pilot, so about 360 epochs fit in the same 106 minutes:
# bench/vae_nll_recipe_two_level.sh bench/runs/vae-nll-two-level-vamp 2 360 5000 vamp).
# The one-level recipe is bench/vae_nll_recipe.sh; this one differs by --levels 2,
# the prior and the epochs.
set -euo pipefail
RUN=${1:-bench/runs/vae-nll-two-level}
THREADS=${2:-2}
EPOCHS=${3:-450}
K=${4:-5000}
PRIOR=${5:-standard}
MNIST=${AEKIT_DATA:-../shared/data/mnist}
mkdir -p "$(dirname "$RUN")"
start=$(date +%s)
aekit --threads "$THREADS" train vae --data mnist --data-dir "$MNIST" \
  --likelihood bernoulli --binarize dynamic --latent-dim 32 --hidden 512,256 --levels 2 \
  --prior "$PRIOR" --pseudo-inputs 500 \
  --objective iwae --k 5 --epochs "$EPOCHS" --batch-size 128 --lr 1e-3 \
  --lr-schedule cosine --early-stopping 0 --seed 0 --out "$RUN" --overwrite --quiet \
  > "$RUN.train.json"
trained=$(date +%s)
echo "train_seconds $((trained - start))" | tee "$RUN/timing.txt"
mv "$RUN.train.json" "$RUN/train.json"
# test ELBO, KL and log p(x) with K importance samples (5000) (and its estimate at K/10), all 10000 images
aekit --threads "$THREADS" evaluate "$RUN" --nll-samples "$K" > "$RUN/evaluate-k$K.json"
echo "evaluate_seconds $(( $(date +%s) - trained ))" | tee -a "$RUN/timing.txt"
