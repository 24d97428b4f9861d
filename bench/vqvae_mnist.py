"""Conv VQ-VAE on MNIST (issue 30): a 7×7 grid of K = 512 codes beside a continuous code.

Usage::

    .venv/bin/python bench/vqvae_mnist.py --data-dir ../shared/data/mnist

Trains ``VQVAE(codebook_size=512, code_dim=D, architecture="conv")`` on the 60000
official MNIST training images (the default conv networks, channels (32, 64): two
stride-2 layers make a 7×7 grid, so a code is 49 indices of 9 bits, 441 bits per
image), then its code prior (the autoregressive transformer of
``aekit.core.code_prior``) for ``--prior-epochs`` epochs. Beside it, the same
networks with the quantiser removed: the same encoder and 1×1 projection, a
continuous 7×7×D code (49·D floats) into the same decoder, trained with the same
settings (``ContinuousGrid`` below). Both: Gaussian likelihood (σ = 1, so training
minimises the squared error), Adam lr 2e-3, cosine schedule, batch 128, 10% of the
training images held out by the model for validation (early stopping).

Reported on the 10000 official test images: the MSE per pixel of both models;
the VQ-VAE's codebook usage (share of the 512 codes that some test image uses; the
issue's target is ≥ 90%) and perplexity; the code prior's NLL of the test codes in
nats and bits per image, beside the uniform prior's 441 bits; the bound
``log p(x|z_q) + log p(z_q)`` on ``log p(x)`` in nats (under the σ = 1 Gaussian: a
valid but loose density). Pictures: 64 samples of the code prior and 10 test images
above both reconstructions, into ``--samples`` and ``--reconstructions``.

``--threads`` CPU threads (``torch.set_num_threads``, default 2) and seed 0; the
seconds of each stage are recorded. ``--limit N`` trains on the first N training
images and evaluates on the first N test images (a quick check of the script, not
a result). Output: a markdown table on stdout and ``--out``/results.json.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch
from torch import nn

from aekit import VQVAE
from aekit.core.heads import CodeDistribution
from aekit.data import load_idx_dataset
from aekit.runs.figures import image_mosaic, sample_grid

HERE = Path(__file__).resolve().parent
DOCS = HERE.parent / "docs"


class GridHead(nn.Module):
    """A VQ-VAE head without its quantiser: the 1×1 projection's continuous grid."""

    stochastic = False
    log_var_layer = None

    def __init__(self, quantising_head: nn.Module) -> None:
        super().__init__()
        self.inner = quantising_head
        self.latent_dim = quantising_head.latent_dim

    def forward(self, h: torch.Tensor) -> CodeDistribution:
        return CodeDistribution(self.inner.flatten(self.inner.continuous(h), h.shape[0]))


class ContinuousGrid(VQVAE):
    """The VQ-VAE's networks and training with a continuous 7×7×D code (no prior)."""

    def build_module(self, input_shape, start=None):
        module = super().build_module(input_shape, start)
        module.head = GridHead(module.head)
        return module


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="../shared/data/mnist")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--prior-epochs", type=int, default=20)
    parser.add_argument("--codebook-size", type=int, default=512)
    parser.add_argument("--code-dim", type=int, default=16)
    parser.add_argument("--limit", type=int, help="train and test on the first N images only")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=HERE / "out" / "vqvae_mnist")
    parser.add_argument("--samples", type=Path, default=DOCS / "vqvae_prior_samples.png")
    parser.add_argument("--reconstructions", type=Path, default=DOCS / "vqvae_reconstructions.png")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    X_train, _ = load_idx_dataset("mnist", "train", data_dir=args.data_dir, download=False)
    X_test, _ = load_idx_dataset("mnist", "test", data_dir=args.data_dir, download=False)
    if args.limit:
        X_train, X_test = X_train[: args.limit], X_test[: args.limit]
    X_train, X_test = X_train[:, 0], X_test[:, 0]  # (n, 28, 28)
    common = {"code_dim": args.code_dim, "architecture": "conv", "epochs": args.epochs,
              "n_threads": args.threads, "device": "cpu", "random_state": args.seed}  # fmt: skip
    seconds: dict[str, float] = {}

    t0 = time.perf_counter()
    vq = VQVAE(args.codebook_size, prior_epochs=args.prior_epochs, **common).fit(X_train)
    seconds["vqvae_and_prior"] = time.perf_counter() - t0
    seconds["of_which_prior_epochs"] = sum(r["seconds"] for r in vq.prior_history_ or [])
    t0 = time.perf_counter()
    ae = ContinuousGrid(args.codebook_size, prior_epochs=0, **common).fit(X_train)
    seconds["continuous"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    metrics = vq.evaluation_metrics(X_test)
    grid = vq.code_shape_
    result = {
        "grid": list(grid),
        "codebook_size": args.codebook_size,
        "code_dim": args.code_dim,
        "bits_per_image": metrics["bits_per_example"],
        "vqvae_test_mse": vq.reconstruction_error(X_test),
        "continuous_test_mse": ae.reconstruction_error(X_test),
        "continuous_code_floats": int(math.prod(grid) * args.code_dim),
        "codebook_usage": metrics["codebook_usage"],
        "perplexity": metrics["perplexity"],
        "code_prior_nll_nats": metrics["code_prior_nll_nats"],
        "code_prior_bits": metrics["code_prior_bits"],
        "uniform_bits": metrics["uniform_code_nll_nats"] / math.log(2),
        "bound_nats": metrics["bound_nats"],
        "epochs_run": len(vq.history_),
        "continuous_epochs_run": len(ae.history_),
        "prior_epochs_run": len(vq.prior_history_),
        "n_train": len(X_train),
        "n_test": len(X_test),
        "threads": args.threads,
        "seed": args.seed,
    }
    samples = vq.sample(64, random_state=args.seed)
    args.samples.parent.mkdir(parents=True, exist_ok=True)
    sample_grid(samples, args.samples, title=f"VQ-VAE code-prior samples (K={args.codebook_size})")
    shown = X_test[:10]
    image_mosaic(
        [shown, vq.reconstruct(shown), ae.reconstruct(shown)],
        ["test", f"VQ-VAE ({result['bits_per_image']:.0f} bits)",
         f"continuous ({result['continuous_code_floats']} floats)"],
        args.reconstructions,
    )  # fmt: skip
    seconds["evaluation"] = time.perf_counter() - t0
    seconds["vqvae_epochs"] = sum(r["seconds"] for r in vq.history_)
    seconds["continuous_epochs"] = sum(r["seconds"] for r in ae.history_)
    result["seconds"] = seconds
    (args.out / "results.json").write_text(json.dumps(result, indent=2))

    print("| model | code | test MSE |\n|---|---|---|")
    print(
        f"| conv VQ-VAE | {grid[0]}×{grid[1]} of K={args.codebook_size} "
        f"({result['bits_per_image']:.0f} bits) | {result['vqvae_test_mse']:.5f} |"
    )
    print(f"| conv AE, same networks | {grid[0]}×{grid[1]}×{args.code_dim} floats | "
          f"{result['continuous_test_mse']:.5f} |")  # fmt: skip
    print()
    print(
        "| codebook usage | perplexity | prior NLL (nats) | prior bits / image | uniform bits "
        "| bound (nats) |\n|---|---|---|---|---|---|"
    )
    print(f"| {result['codebook_usage']:.1%} | {result['perplexity']:.1f} | "
          f"{result['code_prior_nll_nats']:.1f} | {result['code_prior_bits']:.1f} | "
          f"{result['uniform_bits']:.0f} | {result['bound_nats']:.1f} |")  # fmt: skip
    print()
    print("seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in seconds.items()))
    print(f"pictures: {args.samples}, {args.reconstructions}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
