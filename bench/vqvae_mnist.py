"""Conv VQ-VAE on MNIST (issue 30): a 7×7 grid of K = 512 codes beside a continuous code.

Usage::

    .venv/bin/python bench/vqvae_mnist.py --data-dir ../shared/data/mnist
    .venv/bin/python bench/vqvae_mnist.py --data-dir ../shared/data/mnist --likelihood bernoulli

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

A third model is the controlled reference at the VQ-VAE's size in bits: the
same conv encoder and decoder (channels (32, 64)) around a flat code of
``--reference-dim`` floats (``aekit.Autoencoder``, default 14: 14 × 32 bits = 448
bits of float32, the nearest to the VQ-VAE's 441; the 7×7×D grid above is 49·D
floats, 25 088 bits at D = 16, so it says what quantisation costs the networks, not
what a code of the same size keeps), trained with the same epochs, likelihood, Adam
lr 2e-3, cosine schedule, batch 128 and validation share. A 7×7 grid of one
channel would be 1568 bits, 3.6 times the VQ-VAE's. 32 bits per float is its storage;
how much of it a continuous code uses is not measured.

``--likelihood bernoulli``: every model on binarised MNIST with a Bernoulli
likelihood, so the bound ``log p(x|z_q) + log p(z_q)`` is in nats of binary images,
level with the VAE's NLL table in BENCHMARKS.md: its test images are the ones that
table is evaluated on (the 10000 official test images binarised once with the
evaluation seed ``BINARIZATION_SEEDS["test"]``, as ``aekit evaluate`` draws them).
The VQ-VAE has no dynamic binarisation, so it trains on one fixed binarisation of
the training images (seed ``BINARIZATION_SEEDS["train"]``), where the VAE draws a
fresh one every batch. The MSE is then against the binary test images.

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

from aekit import VQVAE, Autoencoder
from aekit.core.heads import CodeDistribution
from aekit.data import binarize, load_idx_dataset
from aekit.data.values import BINARIZATION_SEEDS
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
    parser.add_argument(
        "--reference-dim",
        type=int,
        default=14,
        help="floats of the continuous reference's code (14 × 32 = 448 bits)",
    )
    parser.add_argument(
        "--likelihood",
        choices=["gaussian", "bernoulli"],
        default="gaussian",
        help="bernoulli: binarised MNIST, the bound in nats of binary images",
    )
    parser.add_argument("--limit", type=int, help="train and test on the first N images only")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="default: bench/out/vqvae_mnist[_bernoulli]")
    parser.add_argument("--samples", type=Path)
    parser.add_argument("--reconstructions", type=Path)
    args = parser.parse_args(argv)
    tag = "_bernoulli" if args.likelihood == "bernoulli" else ""  # keeps the Gaussian run's
    args.out = args.out or HERE / "out" / f"vqvae_mnist{tag}"
    args.samples = args.samples or DOCS / f"vqvae_prior_samples{tag}.png"
    args.reconstructions = args.reconstructions or DOCS / f"vqvae_reconstructions{tag}.png"

    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    X_train, _ = load_idx_dataset("mnist", "train", data_dir=args.data_dir, download=False)
    X_test, _ = load_idx_dataset("mnist", "test", data_dir=args.data_dir, download=False)
    if args.limit:
        X_train, X_test = X_train[: args.limit], X_test[: args.limit]
    X_train, X_test = X_train[:, 0], X_test[:, 0]  # (n, 28, 28)
    if args.likelihood == "bernoulli":  # the test images of the VAE's NLL table
        X_train = binarize(X_train, seed=BINARIZATION_SEEDS["train"])
        X_test = binarize(X_test, seed=BINARIZATION_SEEDS["test"])
    training = {"architecture": "conv", "hidden": (32, 64), "likelihood": args.likelihood,
                "epochs": args.epochs, "batch_size": 128, "lr": 2e-3, "lr_schedule": "cosine",
                "validation_fraction": 0.1, "n_threads": args.threads, "device": "cpu",
                "random_state": args.seed}  # fmt: skip
    common = {"code_dim": args.code_dim, **training}
    seconds: dict[str, float] = {}

    t0 = time.perf_counter()
    vq = VQVAE(args.codebook_size, prior_epochs=args.prior_epochs, **common).fit(X_train)
    seconds["vqvae_and_prior"] = time.perf_counter() - t0
    seconds["of_which_prior_epochs"] = sum(r["seconds"] for r in vq.prior_history_ or [])
    t0 = time.perf_counter()
    ae = ContinuousGrid(args.codebook_size, prior_epochs=0, **common).fit(X_train)
    seconds["continuous"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    reference = Autoencoder(args.reference_dim, **training).fit(X_train)
    seconds["reference"] = time.perf_counter() - t0

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
        "reference_test_mse": reference.reconstruction_error(X_test),
        "reference_code_floats": args.reference_dim,
        "reference_bits": 32 * args.reference_dim,
        "likelihood": args.likelihood,
        "codebook_usage": metrics["codebook_usage"],
        "perplexity": metrics["perplexity"],
        "code_prior_nll_nats": metrics["code_prior_nll_nats"],
        "code_prior_bits": metrics["code_prior_bits"],
        "uniform_bits": metrics["uniform_code_nll_nats"] / math.log(2),
        "bound_nats": metrics["bound_nats"],
        "epochs_run": len(vq.history_),
        "continuous_epochs_run": len(ae.history_),
        "reference_epochs_run": len(reference.history_),
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
        [shown, vq.reconstruct(shown), ae.reconstruct(shown), reference.reconstruct(shown)],
        ["test", f"VQ-VAE ({result['bits_per_image']:.0f} bits)",
         f"continuous ({result['continuous_code_floats']} floats)",
         f"continuous ({args.reference_dim} floats, {result['reference_bits']} bits)"],
        args.reconstructions,
    )  # fmt: skip
    seconds["evaluation"] = time.perf_counter() - t0
    seconds["vqvae_epochs"] = sum(r["seconds"] for r in vq.history_)
    seconds["continuous_epochs"] = sum(r["seconds"] for r in ae.history_)
    seconds["reference_epochs"] = sum(r["seconds"] for r in reference.history_)
    result["seconds"] = seconds
    (args.out / "results.json").write_text(json.dumps(result, indent=2))

    print(f"{args.likelihood} likelihood{', binarised MNIST' if tag else ''}")
    print("| model | code | test MSE |\n|---|---|---|")
    print(
        f"| conv VQ-VAE | {grid[0]}×{grid[1]} of K={args.codebook_size} "
        f"({result['bits_per_image']:.0f} bits) | {result['vqvae_test_mse']:.5f} |"
    )
    print(f"| conv AE, same networks | {grid[0]}×{grid[1]}×{args.code_dim} floats | "
          f"{result['continuous_test_mse']:.5f} |")  # fmt: skip
    print(f"| conv AE, code of the same size | {args.reference_dim} floats "
          f"({result['reference_bits']} bits) | {result['reference_test_mse']:.5f} |")  # fmt: skip
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
