"""Importance-sampled test log-likelihood of a VAE run: time, FLOPs and GFLOP/s.

Usage::

    .venv/bin/python bench/iwae_eval.py bench/runs/vae-nll-recipe \\
        --data-dir ../shared/data/mnist --k 5000 --compare 500

Evaluates ``log p(x)`` with ``K`` importance samples on the run's test split (a
fixed binarisation for a dynamically binarised run, as ``aekit evaluate``), and
prints JSON: the seconds, the decoder's FLOPs per code (the multiply-adds of its
linear and convolutional layers, ×2; elementwise work not counted), the achieved
decoder GFLOP/s, and the GFLOP/s of a plain float32 matrix product of the
decoder's largest layer's shape measured in the same process with the same
threads. ``--compare N`` first runs the estimator as it was before issue 16's
item 6 (one binary cross-entropy per value over repeated inputs, chunks of 2**25
decoder outputs) and the current one side by side on the first N test images:
their times (and the current likelihood with the old chunks, to split the gain) and
the paired difference of their estimates.
"""

from __future__ import annotations

import argparse
import functools
import json
import time

import numpy as np
import torch
from torch import nn

from aekit.core.likelihoods import Likelihood
from aekit.runs.evaluation import evaluation_data
from aekit.runs.folder import open_run


def decoder_flops(decoder: nn.Module, latent_dim: int) -> int:
    """FLOPs (2 per multiply-add) of one decoder pass, counted with forward hooks."""
    total = 0

    def count(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Linear):
            total += 2 * module.in_features * module.out_features
        elif isinstance(module, nn.modules.conv._ConvNd):
            kernel = int(np.prod(module.kernel_size)) * module.in_channels // module.groups
            total += 2 * kernel * int(np.prod(output.shape[1:]))

    hooks = [m.register_forward_hook(count) for m in decoder.modules()]
    with torch.no_grad():
        decoder(torch.zeros(1, latent_dim))
    for hook in hooks:
        hook.remove()
    return total


def matmul_gflops(m: int, k: int, n: int, seconds: float = 3.0) -> float:
    """GFLOP/s of ``(m×k) @ (k×n)`` in float32, repeated for about ``seconds``."""
    a, b = torch.randn(m, k), torch.randn(k, n)
    a @ b
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        done += 1
    return 2 * m * k * n * done / (time.perf_counter() - start) / 1e9


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run")
    parser.add_argument("--data-dir")
    parser.add_argument("--k", type=int, default=5000)
    parser.add_argument("--n", type=int, default=None, help="First N test images (default all).")
    parser.add_argument("--compare", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", help="Also write the JSON here.")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    _, spec, model = open_run(args.run, data_dir=args.data_dir, device="cpu")
    X = evaluation_data(spec.load(), "test", binarized=spec.binarize)[: args.n]
    module = model.module_
    flops = decoder_flops(module.decoder, model.latent_dim)
    widest = max(
        (m for m in module.decoder.modules() if isinstance(m, nn.Linear)),
        key=lambda m: m.in_features * m.out_features,
        default=None,
    )
    shape = (4096, widest.in_features, widest.out_features) if widest else (4096, 512, 784)
    result = {
        "run": args.run,
        "k": args.k,
        "n": len(X),
        "threads": torch.get_num_threads(),
        "decoder_flops_per_code": flops,
        "matmul_shape": shape,
        "matmul_gflops": matmul_gflops(*shape),
    }
    if args.compare:
        head = X[: args.compare]
        likelihood = module.likelihood
        old_path = functools.partial(Likelihood.log_prob_samples, likelihood)
        likelihood.log_prob_samples = old_path  # the pre-issue-16 estimator
        old, old_s = timed(model.log_likelihood, head, n_samples=args.k, max_elements=2**25)
        del likelihood.log_prob_samples
        _, big_s = timed(model.log_likelihood, head, n_samples=args.k, max_elements=2**25)
        new, new_s = timed(model.log_likelihood, head, n_samples=args.k)
        diff = new - old
        result["compare"] = {
            "n": len(head),
            "old_seconds": old_s,
            "new_seconds": new_s,
            "speedup": old_s / new_s,
            "new_likelihood_old_chunks_seconds": big_s,
            "speedup_from_likelihood": old_s / big_s,
            "speedup_from_chunks": big_s / new_s,
            "old_mean": float(old.mean()),
            "new_mean": float(new.mean()),
            "paired_difference": float(diff.mean()),
            "paired_difference_stderr": float(diff.std(ddof=1) / np.sqrt(len(diff))),
        }
        print(json.dumps(result["compare"]), flush=True)
    (ll, mc), seconds = timed(
        model.log_likelihood, X, n_samples=args.k, return_mc_stderr=True, progress=True
    )
    result.update(
        {
            "seconds": seconds,
            "nll_nats": float(-ll.mean()),
            "stderr_over_images": float(ll.std(ddof=1) / np.sqrt(len(ll))),
            "mc_stderr": float(np.sqrt(np.sum(mc**2)) / len(ll)),
            "decoder_gflops_per_s": flops * args.k * len(X) / seconds / 1e9,
        }
    )
    result["fraction_of_matmul"] = result["decoder_gflops_per_s"] / result["matmul_gflops"]
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
