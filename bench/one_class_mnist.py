"""One-class MNIST: aekit's models against the outlier detectors people use, side by side.

Usage::

    .venv/bin/pip install pyod        # for the PyOD row only; never an aekit dependency
    .venv/bin/python bench/one_class_mnist.py --data-dir ../shared/data/mnist

The protocol of Ruff et al. (ICML 2018, "Deep One-Class Classification"): for each
digit c, train on the official training images of c only (about 6000), score all
10000 test images, and report the AUROC of "is c" against the scores (higher =
more normal). Every detector sees the same pixels in [0, 1], flattened for the
non-convolutional ones, and runs with its library's defaults except where the
row's name says otherwise. Rows:

- aekit ``PCA(16)``: its ``score_samples`` (the probabilistic-PCA log-likelihood)
  and, as ``pca16-recon``, minus the reconstruction error;
- aekit ``Autoencoder(16)`` (MLP, defaults), ``Autoencoder(16, architecture="conv",
  epochs=10)``, ``DenoisingAutoencoder(16)`` and ``VAE(16)`` (ELBO), all defaults;
- scikit-learn's ``IsolationForest()`` and ``OneClassSVM(gamma="scale", nu=0.1)``;
- PyOD's ``AutoEncoder()`` (skipped, and said, when PyOD is not installed).

Each row also gives the mean fit seconds per class (2 cores; nothing else running
unless the output says so).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score
from sklearn.svm import OneClassSVM

import aekit
from aekit.data import load_idx_dataset

Scorer = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (train, test) -> test scores


def aekit_scorer(make: Callable[[], object], images: bool = False, recon: bool = False) -> Scorer:
    def score(train: np.ndarray, test: np.ndarray) -> np.ndarray:
        shape = (-1, 1, 28, 28) if images else (len(train), -1)
        model = make().fit(train.reshape(shape))
        test = test.reshape((-1, 1, 28, 28) if images else (len(test), -1))
        return -model.reconstruction_errors(test) if recon else model.score_samples(test)

    return score


def sklearn_scorer(make: Callable[[], object]) -> Scorer:
    def score(train: np.ndarray, test: np.ndarray) -> np.ndarray:
        model = make().fit(train.reshape(len(train), -1))
        return model.score_samples(test.reshape(len(test), -1))

    return score


def pyod_scorer() -> Scorer | None:
    try:
        from pyod.models.auto_encoder import AutoEncoder
    except ImportError:
        return None

    def score(train: np.ndarray, test: np.ndarray) -> np.ndarray:
        model = AutoEncoder(verbose=0, random_state=0)
        model.fit(train.reshape(len(train), -1))
        return -model.decision_function(test.reshape(len(test), -1))  # PyOD: higher = outlier

    return score


def detectors() -> dict[str, Scorer]:
    out: dict[str, Scorer] = {
        "aekit pca16 (PPCA log-likelihood)": aekit_scorer(lambda: aekit.PCA(16)),
        "aekit pca16-recon": aekit_scorer(lambda: aekit.PCA(16), recon=True),
        "aekit ae (MLP)": aekit_scorer(lambda: aekit.Autoencoder(16, random_state=0)),
        "aekit ae (conv, 10 epochs)": aekit_scorer(
            lambda: aekit.Autoencoder(16, architecture="conv", epochs=10, random_state=0),
            images=True,
        ),
        "aekit dae": aekit_scorer(lambda: aekit.DenoisingAutoencoder(16, random_state=0)),
        "aekit vae (ELBO)": aekit_scorer(lambda: aekit.VAE(16, random_state=0)),
        "sklearn IsolationForest": sklearn_scorer(lambda: IsolationForest(random_state=0)),
        "sklearn OneClassSVM": sklearn_scorer(lambda: OneClassSVM(gamma="scale", nu=0.1)),
    }
    pyod = pyod_scorer()
    if pyod is None:
        print("PyOD is not installed: its row is skipped (pip install pyod)", flush=True)
    else:
        out["PyOD AutoEncoder"] = pyod
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("AEKIT_DATA"))
    parser.add_argument("--classes", type=int, nargs="+", default=list(range(10)))
    parser.add_argument("--only", nargs="+", help="detector names containing these words")
    parser.add_argument("--out", default="bench/out/one_class_mnist.json")
    args = parser.parse_args()
    X, y = load_idx_dataset("mnist", "train", data_dir=args.data_dir, download=False)
    X_test, y_test = load_idx_dataset("mnist", "test", data_dir=args.data_dir, download=False)
    rows: dict[str, dict] = {}
    chosen = detectors()
    if args.only:
        chosen = {k: v for k, v in chosen.items() if any(w in k for w in args.only)}
    for c in args.classes:
        train = X[y == c]
        for name, score in chosen.items():
            torch.manual_seed(0)
            start = time.perf_counter()
            scores = score(train, X_test)
            seconds = time.perf_counter() - start
            auroc = float(roc_auc_score(y_test == c, scores))
            row = rows.setdefault(name, {"auroc": {}, "seconds": {}})
            row["auroc"][c], row["seconds"][c] = auroc, seconds
            print(f"digit {c}  {name:<36} AUROC {auroc:.4f}  {seconds:6.1f} s", flush=True)
    summary = {
        name: {
            **row,
            "mean_auroc": float(np.mean(list(row["auroc"].values()))),
            "mean_seconds": float(np.mean(list(row["seconds"].values()))),
        }
        for name, row in rows.items()
    }
    for name, row in sorted(summary.items(), key=lambda kv: -kv[1]["mean_auroc"]):
        print(f"{name:<36} mean AUROC {row['mean_auroc']:.4f}  {row['mean_seconds']:6.1f} s/class")
    machine = f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}"
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": machine, "classes": args.classes, "rows": summary}))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
