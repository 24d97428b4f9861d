#!/usr/bin/env bash
# Gaussian-likelihood VAEs on grey-level MNIST (issue 5): σ fixed at 1 (the lecture
# notes' case), one learned shared σ, and a learned σ per pixel (bounded below by
# 1e-3), each trained for EPOCHS epochs and evaluated by the importance-sampled test
# log-likelihood with K samples. Densities of continuous data in nats per image: they
# can be positive, and they depend on the σ floor (see the note in BENCHMARKS.md).
# Usage: bench/vae_gaussian.sh [EPOCHS] [K] [THREADS]
set -euo pipefail
EPOCHS=${1:-10}
K=${2:-500}
export OMP_NUM_THREADS=${3:-2}
MNIST=${AEKIT_DATA:-../shared/data/mnist}
AEKIT=${AEKIT:-.venv/bin/aekit}
common=(--data mnist --data-dir "$MNIST" --latent-dim 32 --hidden 512,256 --epochs "$EPOCHS"
  --batch-size 128 --lr 1e-3 --lr-schedule cosine --seed 0 --overwrite --quiet
  --start random --early-stopping 0)  # as the published figures were made (before issue 32)
for variant in fixed shared per-pixel; do
  case $variant in
    fixed) opts=(--likelihood gaussian --sigma 1) ;;
    shared) opts=(--likelihood gaussian-learned --shared-variance) ;;
    per-pixel) opts=(--likelihood gaussian-learned) ;;
  esac
  run=bench/runs/vae-gauss-$variant
  start=$(date +%s)
  "$AEKIT" train vae "${common[@]}" "${opts[@]}" --out "$run" > /dev/null
  trained=$(date +%s)
  "$AEKIT" evaluate "$run" --nll-samples "$K" > "$run/evaluate-k$K.json"
  done_=$(date +%s)
  echo "$variant train_seconds $((trained - start)) evaluate_seconds $((done_ - trained))"
  cat "$run/evaluate-k$K.json"
done
