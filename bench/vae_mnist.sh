#!/usr/bin/env bash
# Bernoulli VAE on dynamically binarised MNIST (issue 5): train, then the K = 5000
# importance-sampled test log-likelihood. Usage: bench/vae_mnist.sh [EPOCHS] [RUN] [THREADS]
# One thread by default so the run's time is a fixed share of this 2-core machine.
set -euo pipefail
EPOCHS=${1:-250}
RUN=${2:-bench/runs/vae-bernoulli}
export OMP_NUM_THREADS=${3:-1}
MNIST=${AEKIT_DATA:-../shared/data/mnist}
start=$(date +%s)
aekit train vae --data mnist --data-dir "$MNIST" --likelihood bernoulli --binarize dynamic \
  --latent-dim 32 --hidden 512,256 --epochs "$EPOCHS" --batch-size 128 --lr 1e-3 \
  --lr-schedule cosine --kl-warmup 10 --seed 0 --out "$RUN" --overwrite --quiet
trained=$(date +%s)
aekit evaluate "$RUN" --nll-samples 5000 > "$RUN/evaluate-k5000.json"
done_=$(date +%s)
echo "train_seconds $((trained - start)) evaluate_seconds $((done_ - trained))" | tee "$RUN/timing.txt"
cat "$RUN/evaluate-k5000.json"
