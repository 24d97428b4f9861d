"""Fit time and exactness of aekit's PCA against scikit-learn's, on MNIST.

Usage::

    .venv/bin/python bench/pca.py --data-dir /work/shared/data/mnist

For d = 16 and 64, every solver of both libraries fits MNIST train (60000 x 784,
pixels / 255, float32 as loaded). Methods run interleaved, round after round, and
the median fit time is reported; the exact SVD solvers (scikit-learn's "full",
aekit's "svd"), several times slower, run only in the first ``--slow-repeats``
rounds. Exactness is measured against an independent NumPy
float64 eigendecomposition of the covariance: the training reconstruction MSE
relative to the Eckart–Young bound, and the largest principal angle between the
fitted subspace and the exact one. Prints a markdown table and writes JSON.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import sklearn
import torch
from scipy.linalg import subspace_angles
from sklearn.decomposition import PCA as SklearnPCA

from aekit.data import load_idx_dataset
from aekit.models.pca import PCA

SLOW = {"sklearn full", "aekit svd"}


def methods(d: int, X32: np.ndarray, X64: np.ndarray) -> dict[str, Callable[[], object]]:
    """Name -> a function that fits one model (aekit "auto" is "covariance" here).

    Every aekit entry but the last two takes aekit's default precision: float32
    products on this float32 input, summed and diagonalised in float64."""
    out: dict[str, Callable[[], object]] = {
        f"aekit {s}": (lambda s=s: PCA(d, solver=s, random_state=0).fit(X32))
        for s in ("covariance", "randomized", "svd")
    }
    # the default reads float32 in place (float32 products); these two are exact to 1e-12 deg
    out["aekit covariance, float64 products"] = lambda: PCA(d, dtype="float64").fit(X32)
    out["aekit covariance, float64 input"] = lambda: PCA(d).fit(X64)
    # scikit-learn's randomized solver runs 7 power iterations for such d
    out["aekit randomized, 7 power iterations"] = lambda: PCA(
        d, solver="randomized", n_power_iter=7, random_state=0
    ).fit(X32)
    if torch.cuda.is_available():
        out["aekit covariance, cuda"] = lambda: PCA(d, device="cuda").fit(X32)
    sk_solvers = ["full", "covariance_eigh", "randomized", "arpack"]
    if tuple(int(v) for v in sklearn.__version__.split(".")[:2]) < (1, 5):
        sk_solvers.remove("covariance_eigh")  # added in scikit-learn 1.5
    for s in sk_solvers:
        out[f"sklearn {s}"] = lambda s=s: SklearnPCA(d, svd_solver=s, random_state=0).fit(X32)
    if "covariance_eigh" in sk_solvers:  # the same float64 accuracy as aekit's
        out["sklearn covariance_eigh, float64 input"] = lambda: SklearnPCA(
            d, svd_solver="covariance_eigh"
        ).fit(X64)
    return out


def exactness(model, X64: np.ndarray, eigvals: np.ndarray, eigvecs: np.ndarray) -> dict:
    """Training MSE relative to the Eckart–Young bound; largest angle to the exact subspace."""
    W = np.asarray(model.components_, dtype=np.float64)
    d = len(W)
    mse = 0.0
    for start in range(0, len(X64), 10000):  # reconstruct in float64, in chunks
        centred = X64[start : start + 10000] - np.asarray(model.mean_, dtype=np.float64)
        residual = centred - (centred @ W.T) @ W
        mse += float(np.sum(residual**2))
    mse /= X64.size
    bound = float(eigvals[d:].sum() / X64.shape[1])
    angle = float(np.degrees(subspace_angles(W.T, eigvecs[:d].T).max()))
    return {"mse": mse, "bound": bound, "mse_rel_excess": mse / bound - 1, "max_angle_deg": angle}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("AEKIT_DATA"))
    parser.add_argument("--dims", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--slow-repeats", type=int, default=1)
    parser.add_argument("--out", default=str(Path(__file__).parent / "out" / "pca.json"))
    args = parser.parse_args(argv)

    X, _ = load_idx_dataset("mnist", "train", data_dir=args.data_dir, download=False)
    X32 = np.ascontiguousarray(X.reshape(len(X), -1))
    X64 = X32.astype(np.float64)
    centred = X64 - X64.mean(0)
    eigvals, eigvecs = np.linalg.eigh(centred.T @ centred / len(X64))  # the reference
    eigvals, eigvecs = eigvals[::-1], eigvecs[:, ::-1].T
    del centred

    load_before = os.getloadavg()
    results: dict[str, dict] = {}
    for d in args.dims:
        fits = methods(d, X32, X64)
        times: dict[str, list[float]] = {name: [] for name in fits}
        quality: dict[str, dict] = {}
        for round_ in range(args.repeats):
            for name, fit in fits.items():
                if name in SLOW and round_ >= args.slow_repeats:
                    continue
                gc.collect()
                start = time.perf_counter()
                model = fit()
                times[name].append(time.perf_counter() - start)
                if name not in quality:
                    quality[name] = exactness(model, X64, eigvals, eigvecs)
                del model
            print(f"d={d}: round {round_ + 1}/{args.repeats} done", file=sys.stderr)
        median = {name: statistics.median(t) for name, t in times.items()}
        sk_fastest = min((n for n in median if n.startswith("sklearn")), key=median.get)
        sk_exact = "sklearn covariance_eigh, float64 input"
        results[str(d)] = {
            "sklearn_fastest": sk_fastest,
            "methods": {
                name: {
                    "times_s": times[name],
                    "median_s": median[name],
                    "ratio_to_sklearn_fastest": median[name] / median[sk_fastest],
                    "ratio_to_sklearn_float64": median[name] / median[sk_exact]
                    if sk_exact in median
                    else None,
                    **quality[name],
                }
                for name in fits
            },
        }

    report = {
        "data": "MNIST train, 60000 x 784, pixels / 255, float32",
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
        },
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "sklearn": sklearn.__version__,
            "numpy": np.__version__,
        },
        "repeats": args.repeats,
        "slow_repeats": args.slow_repeats,
        "results": results,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(markdown(report))
    print(f"\nJSON: {out}")
    return 0


def markdown(report: dict) -> str:
    lines = [
        "| d | method | median fit (s) | runs | / sklearn fastest | / sklearn float64 "
        "| MSE / bound − 1 | max angle to exact (°) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for d, block in report["results"].items():
        for name, m in sorted(block["methods"].items(), key=lambda kv: kv[1]["median_s"]):
            fastest = " (fastest sklearn)" if name == block["sklearn_fastest"] else ""
            to64 = m["ratio_to_sklearn_float64"]
            lines.append(
                f"| {d} | {name}{fastest} | {m['median_s']:.2f} | {len(m['times_s'])} "
                f"| {m['ratio_to_sklearn_fastest']:.2f} | "
                f"{'' if to64 is None else f'{to64:.2f}'} | {m['mse_rel_excess']:.1e} "
                f"| {m['max_angle_deg']:.1e} |"
            )
    machine = report["machine"]
    lines.append(
        f"\n{machine['cpu_count']} CPUs, torch threads {machine['torch_threads']}, "
        f"load average before/after {machine['load_average_before'][0]:.1f}/"
        f"{machine['load_average_after'][0]:.1f}; torch {report['versions']['torch']}, "
        f"scikit-learn {report['versions']['sklearn']}."
    )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
