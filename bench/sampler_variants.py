"""Which settings make a model's samples good: the VAE's prior, the DAE's chain.

Usage::

    .venv/bin/python bench/sampler_variants.py --data-dir /work/shared/data/mnist

The score is bench/sample_quality.py's: the Fréchet distance (FD) between 10000
samples and the MNIST test images in the features of the same seeded CNN, and the
entropy of the predicted classes. Every model is an MLP 512-256 trained for
``--epochs`` on the same 54000 images with one seed (``--seed``, default 0); the
autoencoder sampled through the BIC-chosen GMM of its codes is the reference row.
The VAE variants change one thing at a time from the lecture notes' Bernoulli VAE
with d = 16: the learning-rate schedule and a KL warm-up, the size of the code, the
likelihood (a Gaussian whose one shared σ is learned, as in σ-VAE, Rybkin et al.
2021, instead of σ = 1 fixed), and β; and the prior itself, a learned 10-component
Gaussian mixture instead of N(0, I). Two diagnostic samplers tell the prior's
mismatch from the decoder's blur: the VAE's decoder fed its own codes' GMM (as the
AE's), and reconstructions of test images ("reconstruction", no sampling: the
decoder at its best); and the prior at reduced temperature ("prior@0.8":
z ~ N(0, 0.8² I)). The denoising autoencoder rows (d = 128, σ = 0.5, Bernoulli: the
benchmark's) sample by its Markov chain with bench/sample_quality.py's settings, with
and without walkback training (Bengio et al. 2013), and at other corruption levels
than the training σ ("chain@0.7": the chain corrupts with σ = 0.7). Writes
bench/out/sampler_variants.{md,json} and a sample grid per row to ``--grids``.
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
import time
from pathlib import Path

import torch

import aekit
from aekit.data import load_data
from aekit.runs.figures import sample_grid

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sample_quality import (  # noqa: E402
    CHAIN,
    features_and_classes,
    sample_score,
    timed_log,
    train_classifier,
)

ROOT = Path(__file__).resolve().parents[1]

BERNOULLI = dict(likelihood="bernoulli")
TUNED = dict(likelihood="bernoulli", lr=2e-3, lr_schedule="cosine", kl_warmup_epochs=5)
DAE = dict(likelihood="bernoulli", noise_std=0.5, latent_dim=128)
VARIANTS: dict[str, tuple[type, dict, tuple[str, ...]]] = {
    "AE": (aekit.Autoencoder, {}, ("gmm", "reconstruction")),
    "VAE Bernoulli": (
        aekit.VAE,
        BERNOULLI,
        ("prior", "prior@0.9", "prior@0.8", "prior@0.7", "gmm", "reconstruction"),
    ),
    "VAE Bernoulli, cosine lr 2e-3, KL warm-up 5": (aekit.VAE, TUNED, ("prior",)),
    "VAE Bernoulli, tuned, d = 8": (aekit.VAE, {**TUNED, "latent_dim": 8}, ("prior",)),
    "VAE Bernoulli, tuned, β = 0.5": (aekit.VAE, {**TUNED, "beta": 0.5}, ("prior",)),
    "VAE Bernoulli, β = 2": (aekit.VAE, {**BERNOULLI, "beta": 2.0}, ("prior", "gmm")),
    "VAE Bernoulli, mixture prior (10)": (
        aekit.VAE,
        {**BERNOULLI, "prior": "mixture"},
        ("prior", "gmm", "reconstruction"),
    ),
    "VAE Gaussian, learned shared σ, tuned": (
        aekit.VAE,
        {**TUNED, "likelihood": "gaussian-learned", "shared_variance": True},
        ("prior",),
    ),
    "DAE d = 128, σ = 0.5": (
        aekit.DenoisingAutoencoder,
        DAE,
        ("chain", "chain@0.4", "chain@0.3"),
    ),
    "DAE d = 128, σ = 0.5, walkback 1": (
        aekit.DenoisingAutoencoder,
        {**DAE, "walkback": 1},
        ("chain",),
    ),
    "DAE d = 128, σ = 0.5, walkback 3": (
        aekit.DenoisingAutoencoder,
        {**DAE, "walkback": 3},
        ("chain", "chain@0.7", "chain@0.6", "chain@0.4", "chain@0.3", "chain@0.2"),
    ),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=None, help="folder of the MNIST IDX .gz files")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--n-samples", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=0, help="seed of every model")
    parser.add_argument("--train-subset", type=int, default=None, help="for quick checks")
    parser.add_argument("--only", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument("--grids", type=Path, default=ROOT / "bench" / "out" / "variant-grids")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    args.grids.mkdir(parents=True, exist_ok=True)
    start_all = time.perf_counter()
    log = timed_log(start_all)

    data = load_data("mnist", data_dir=args.data_dir, val_fraction=0.1, random_state=0)
    X = data.train.X[: args.train_subset]
    net = train_classifier(X, data.train.y[: args.train_subset], epochs=2)
    test_feats, test_classes = features_and_classes(net, data.test.X)
    accuracy = float((test_classes == data.test.y).mean())
    log(f"classifier: test accuracy {accuracy:.4f}")

    rows = []
    for name in args.only:
        cls, options, methods = VARIANTS[name]
        model = cls(
            **{
                "latent_dim": 16,
                "epochs": args.epochs,
                "random_state": args.seed,
                "device": "cpu",
                **options,
            }
        )
        t = time.perf_counter()
        model.fit(X)
        seconds = time.perf_counter() - t
        elbo = float(model.score(data.test.X[:2000])) if isinstance(model, aekit.VAE) else None
        for method in methods:
            if method == "reconstruction":  # the decoder's own quality, no sampling
                samples = model.reconstruct(data.test.X[: args.n_samples])
            elif method.startswith("chain"):  # "chain@0.7": the chain's corruption σ = 0.7
                noise = float(method.partition("@")[2] or model.noise_std)
                samples = model.sample(
                    args.n_samples, method="chain", random_state=1, noise_std=noise, **CHAIN
                )
            else:  # "prior@0.8": the prior at temperature 0.8
                how, _, temperature = method.partition("@")
                samples = model.sample(
                    args.n_samples, method=how, random_state=1, temperature=float(temperature or 1)
                )
            fd, entropy = sample_score(net, samples, test_feats)
            row = {
                "variant": name,
                "method": method,
                "fd": fd,
                "entropy": entropy,
                "fit_seconds": seconds,
                "options": dict(options),
                "test_elbo": elbo,
            }
            rows.append(row)
            slug = "".join(c if c.isalnum() else "-" for c in f"{name} {method}".lower())
            sample_grid(samples[:64], args.grids / f"{slug.strip('-')}.png")
            log(f"{name} + {method}: FD {row['fd']:.2f}, entropy {row['entropy']:.3f}")

    reference = next((r["fd"] for r in rows if (r["variant"], r["method"]) == ("AE", "gmm")), None)
    lines = [
        "| model | sampler (@: temperature) | FD ↓ | / AE + gmm | class entropy "
        "| ELBO-form cross-entropy on grey levels (nats/image, 2000; not log p) | fit s |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ratio = f"{r['fd'] / reference:.2f}" if reference else ""
        elbo = "" if r["test_elbo"] is None else f"{r['test_elbo']:.1f}"
        lines.append(
            f"| {r['variant']} | {r['method']} | {r['fd']:.2f} | {ratio} | {r['entropy']:.3f} "
            f"| {elbo} | {r['fit_seconds']:.0f} |"
        )
    lines += [
        "",
        f"MLP 512-256, d = 16 unless stated, {args.epochs} epochs, seed {args.seed}, "
        f"{len(X)} MNIST "
        f"training images (ELBOs of the Bernoulli rows compare among themselves; the "
        f"Gaussian's is a density of grey levels); classifier test accuracy {accuracy:.2%}; torch "
        f"{torch.__version__}, {torch.get_num_threads()} threads, {platform.machine()}; "
        f"total {(time.perf_counter() - start_all) / 60:.1f} min.",
        "",
        "Command: `.venv/bin/python bench/sampler_variants.py "
        + shlex.join(sys.argv[1:] if argv is None else argv)
        + "`",
    ]
    text = "\n".join(lines) + "\n"
    (args.out / "sampler_variants.md").write_text(text)
    (args.out / "sampler_variants.json").write_text(
        json.dumps(
            {"classifier_test_accuracy": accuracy, "epochs": args.epochs, "rows": rows}, indent=2
        )
        + "\n"
    )
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
