"""PCA, MLP and convolutional autoencoders, and denoising, on MNIST (issues 2 and 4).

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python bench/deep.py --data-dir ../shared/data/mnist

The data are those of ``aekit train ... --data mnist``: 54000 training images
(the official training set less a seeded 10% validation share), the official
10000 test images, pixels / 255. For each code size d, PCA, the MLP autoencoder
(aekit's defaults: 512-256 ReLU, Adam lr 2e-3 with a cosine schedule, batch 128)
and the convolutional autoencoder (32-64 channels) are trained and their test
MSE per pixel reported with the seconds per epoch. Then denoising: for each σ a
``DenoisingAutoencoder`` (d = 32) is trained and the PSNR (peak 1) of the noisy
test input ``x + N(0, σ²)``, of the DAE's output and of the plain d = 32 MLP
autoencoder's output on the same noisy input are reported. Prints markdown
tables and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from aekit import PCA, Autoencoder, DenoisingAutoencoder
from aekit.data import load_data


def mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((np.asarray(a, np.float64).reshape(b.shape) - b) ** 2))


def psnr(error: float) -> float:
    return float(10 * np.log10(1.0 / error))


def seconds_per_epoch(model) -> float:
    return float(np.median([row["seconds"] for row in model.history_]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("AEKIT_DATA"))
    parser.add_argument("--dims", type=int, nargs="+", default=[2, 16, 32])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--conv-epochs", type=int, default=10)
    parser.add_argument("--sigmas", type=float, nargs="+", default=[0.1, 0.3, 0.5])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="bench/out/deep.json")
    args = parser.parse_args()

    bundle = load_data("mnist", data_dir=args.data_dir, download=False)
    X, V, T = bundle.train.X, bundle.val.X, bundle.test.X
    common = dict(random_state=args.seed, device="auto")
    rows, plain = [], {}
    for d in args.dims:
        start = time.perf_counter()
        pca = PCA(d).fit(X)
        row = {"d": d, "pca_mse": pca.reconstruction_error(T)}
        row["pca_seconds"] = time.perf_counter() - start
        for name, arch, epochs in (("mlp", "mlp", args.epochs), ("conv", "conv", args.conv_epochs)):
            model = Autoencoder(d, architecture=arch, epochs=epochs, **common)
            model.fit(X, X_val=V)
            row[f"{name}_mse"] = model.reconstruction_error(T)
            row[f"{name}_seconds_per_epoch"] = seconds_per_epoch(model)
            if name == "mlp":
                plain[d] = model
        row["mlp_over_pca"] = row["mlp_mse"] / row["pca_mse"]
        row["conv_over_pca"] = row["conv_mse"] / row["pca_mse"]
        rows.append(row)
        print(json.dumps(row), flush=True)

    d_dae = 32 if 32 in plain else max(plain)
    denoising = []
    for sigma in args.sigmas:
        noise = np.random.default_rng(args.seed + 1).normal(0, sigma, T.shape)
        noisy = T + noise.astype(np.float32)
        dae = DenoisingAutoencoder(d_dae, noise_std=sigma, epochs=args.epochs, **common)
        dae.fit(X, X_val=V)
        row = {
            "sigma": sigma,
            "d": d_dae,
            "noisy_psnr_db": psnr(mse(noisy, T)),
            "dae_psnr_db": psnr(mse(dae.reconstruct(noisy), T)),
            "plain_ae_psnr_db": psnr(mse(plain[d_dae].reconstruct(noisy), T)),
            "dae_clean_mse": dae.reconstruction_error(T),
            "dae_seconds_per_epoch": seconds_per_epoch(dae),
        }
        row["gain_db"] = row["dae_psnr_db"] - row["noisy_psnr_db"]
        denoising.append(row)
        print(json.dumps(row), flush=True)

    result = {
        "command": "bench/deep.py " + " ".join(f"{k}={v}" for k, v in vars(args).items()),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d"),
        "reconstruction": rows,
        "denoising": denoising,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(
        "\n| d | PCA MSE | MLP AE MSE | MLP/PCA | conv AE MSE | conv/PCA "
        "| s/epoch MLP | s/epoch conv |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['d']} | {r['pca_mse']:.5f} | {r['mlp_mse']:.5f} | {r['mlp_over_pca']:.2f} "
            f"| {r['conv_mse']:.5f} | {r['conv_over_pca']:.2f} | {r['mlp_seconds_per_epoch']:.1f} "
            f"| {r['conv_seconds_per_epoch']:.1f} |"
        )
    print("\n| σ | noisy PSNR | DAE PSNR | plain AE PSNR | DAE gain |")
    print("|---|---|---|---|---|")
    for r in denoising:
        print(
            f"| {r['sigma']} | {r['noisy_psnr_db']:.2f} dB | {r['dae_psnr_db']:.2f} dB "
            f"| {r['plain_ae_psnr_db']:.2f} dB | {r['gain_db']:+.2f} dB |"
        )


if __name__ == "__main__":
    main()
