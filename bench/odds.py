"""Tabular outlier detection on nine ODDS tables, PyOD's protocol, every detector in one run.

Usage::

    .venv/bin/pip install pyod       # the PyOD peers only; never an aekit dependency
    .venv/bin/python bench/odds.py [--seeds 10] [--first-seed 0]
        [--data-dir ../shared/data/odds] [--out F.json]

PyOD's benchmark protocol (``notebooks/benchmark.py`` in its repository): for each
table and each seed, a 60/40 train/test split (stratified by nothing; seeded), the
features standardised with the training split's mean and standard deviation, the
detector fitted on the training split (it contains outliers; labels unused), and
ROC-AUC and average precision of the outlier score on the test split. Every detector
runs with its library's defaults (PyOD's neural peers, whose defaults train for 10
or 100 epochs, too). Torch and the BLAS run on one thread, so a second run gives the
same numbers (PyOD's neural peers seed themselves with their ``random_state``).

Printed: one table per data set (mean ROC-AUC and AP over seeds), then the mean of
each over the tables, the mean rank (by ROC-AUC, per table, 1 = best) and the mean
seconds per fit plus scoring of the test split.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import warnings
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy/torch load their BLAS

import numpy as np  # noqa: E402
import scipy.io  # noqa: E402
import torch  # noqa: E402
from sklearn.metrics import average_precision_score, roc_auc_score  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

RECOMMENDED = "aekit OutlierDetector"
TABLES = ("arrhythmia", "cardio", "glass", "ionosphere", "letter", "lympho", "musk",
          "pendigits", "pima")  # fmt: skip

# (seed, n_features) -> an unfitted detector
Factory = Callable[[int, int], object]


def outlier_scores(detector: object, train: np.ndarray, test: np.ndarray) -> np.ndarray:
    """Fit ``detector`` on ``train``; the outlier scores of ``test``, higher = more
    outlying (PyOD's ``decision_function``; minus scikit-learn's ``score_samples``)."""
    detector.fit(train)
    if type(detector).__module__.startswith("pyod"):
        return detector.decision_function(test)
    return -detector.score_samples(test)


def detectors(names: list[str] | None) -> dict[str, Factory]:
    """Every detector of the comparison, by the name its row gets."""
    from sklearn.ensemble import IsolationForest
    from sklearn.neighbors import LocalOutlierFactor
    from sklearn.svm import OneClassSVM

    import aekit

    out: dict[str, Factory] = {
        "aekit OutlierDetector": lambda s, d: aekit.OutlierDetector(random_state=s),
        "aekit OutlierDetector (calibration=0.2)": lambda s, d: aekit.OutlierDetector(
            calibration=0.2, random_state=s
        ),
        "aekit PCA": lambda s, d: aekit.PCA(random_state=s),
        "aekit Autoencoder": lambda s, d: aekit.Autoencoder(random_state=s),
        "aekit DenoisingAutoencoder": lambda s, d: aekit.DenoisingAutoencoder(random_state=s),
        "aekit VAE": lambda s, d: aekit.VAE(random_state=s),
        "sklearn IsolationForest": lambda s, d: IsolationForest(random_state=s),
        "sklearn LOF": lambda s, d: LocalOutlierFactor(novelty=True),
        "sklearn OneClassSVM": lambda s, d: OneClassSVM(),
    }
    try:
        from pyod.models.auto_encoder import AutoEncoder
        from pyod.models.copod import COPOD
        from pyod.models.deep_svdd import DeepSVDD
        from pyod.models.ecod import ECOD
        from pyod.models.hbos import HBOS
        from pyod.models.knn import KNN
        from pyod.models.pca import PCA as PyodPCA
        from pyod.models.vae import VAE as PyodVAE
    except ImportError:
        print("PyOD is not installed: its peers are skipped (pip install pyod)", flush=True)
    else:
        out |= {
            "PyOD ECOD": lambda s, d: ECOD(),
            "PyOD COPOD": lambda s, d: COPOD(),
            "PyOD HBOS": lambda s, d: HBOS(),
            "PyOD KNN": lambda s, d: KNN(),
            "PyOD PCA": lambda s, d: PyodPCA(random_state=s),
            "PyOD AutoEncoder": lambda s, d: AutoEncoder(random_state=s, verbose=0),
            "PyOD VAE": lambda s, d: PyodVAE(random_state=s, verbose=0),
            "PyOD DeepSVDD": lambda s, d: DeepSVDD(n_features=d, random_state=s, verbose=0),
        }
    if names:
        unknown = sorted(set(names) - set(out))
        if unknown:
            raise SystemExit(f"unknown detectors {unknown}; choose from {sorted(out)}")
        out = {name: out[name] for name in names}
    return out


def load_table(data_dir: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    mat = scipy.io.loadmat(data_dir / f"{name}.mat")
    return mat["X"].astype(np.float64), mat["y"].ravel().astype(int)


def split(X: np.ndarray, y: np.ndarray, seed: int):
    """PyOD's split: 60/40, standardised with the training split's statistics (a
    constant column is left centred), in float64 as PyOD's benchmark gives it (PyOD's
    PCA divides by a component's variance, which is 0 in float32 on cardio)."""
    train, test, y_train, y_test = train_test_split(X, y, test_size=0.4, random_state=seed)
    mean, std = train.mean(axis=0), train.std(axis=0)
    std[std == 0] = 1.0
    return (train - mean) / std, (test - mean) / std, y_test


def run(data_dir: Path, seeds: range, names: list[str] | None, tables: list[str]) -> list[dict]:
    rows = []
    by_name = detectors(names)
    for table in tables:
        X, y = load_table(data_dir, table)
        for seed in seeds:
            train, test, y_test = split(X, y, seed)
            for name, make in by_name.items():
                torch.manual_seed(seed)
                np.random.seed(seed)  # noqa: NPY002 (PyOD draws from the global state)
                start = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    scores = outlier_scores(make(seed, train.shape[1]), train, test)
                seconds = time.perf_counter() - start
                scores = np.nan_to_num(np.asarray(scores, dtype=np.float64), nan=0.0)
                rows.append(
                    {
                        "table": table,
                        "seed": seed,
                        "detector": name,
                        "roc_auc": float(roc_auc_score(y_test, scores)),
                        "ap": float(average_precision_score(y_test, scores)),
                        "seconds": seconds,
                    }
                )
                print(json.dumps(rows[-1]), flush=True)
    return rows


def summarise(rows: list[dict]) -> str:
    """Markdown: a row per detector and a column per table (mean ROC-AUC, AP under
    it), then the mean, the mean rank by ROC-AUC and the seconds per fit."""
    tables = list(dict.fromkeys(r["table"] for r in rows))
    names = list(dict.fromkeys(r["detector"] for r in rows))

    def mean(name: str, table: str, key: str) -> float:
        chosen = [r[key] for r in rows if r["detector"] == name and r["table"] == table]
        return float(np.mean(chosen))

    auc = np.array([[mean(n, t, "roc_auc") for t in tables] for n in names])
    ap = np.array([[mean(n, t, "ap") for t in tables] for n in names])
    secs = np.array([[mean(n, t, "seconds") for t in tables] for n in names])
    # the field: the peers and aekit's recommended detector; any other aekit row is
    # ranked in the detector's place, so that no variant pushes the peers down
    field = [n for n in names if not n.startswith("aekit") or n == RECOMMENDED]

    def rank(i: int, j: int) -> int:
        others = [c for c in field if c != names[i]]
        if names[i] not in field and RECOMMENDED in others:
            others.remove(RECOMMENDED)
        return 1 + sum(auc[names.index(c), j] > auc[i, j] for c in others)

    ranks = np.array([[rank(i, j) for j in range(len(tables))] for i in range(len(names))])
    best = auc.max(axis=0)
    lines = [
        "ROC-AUC (mean over seeds; AP in the second table). Best per table in bold. Mean "
        f"rank: by ROC-AUC per table among the peers and {RECOMMENDED} (another aekit row "
        "is ranked in its place).",
        "",
        "| detector | " + " | ".join(tables) + " | mean | mean rank | worst gap to best |",
        "|---" * (len(tables) + 4) + "|",
    ]
    order = np.argsort(-auc.mean(axis=1))
    for i in order:
        cells = [f"**{a:.3f}**" if a == best[j] else f"{a:.3f}" for j, a in enumerate(auc[i])]
        lines.append(
            f"| {names[i]} | "
            + " | ".join(cells)
            + f" | {auc[i].mean():.3f} | {ranks[i].mean():.2f} | {(best - auc[i]).max():.3f} |"
        )
    lines += ["", "| detector (AP) | " + " | ".join(tables) + " | mean |",
              "|---" * (len(tables) + 2) + "|"]  # fmt: skip
    for i in order:
        lines.append(f"| {names[i]} | " + " | ".join(f"{a:.3f}" for a in ap[i])
                     + f" | {ap[i].mean():.3f} |")  # fmt: skip
    lines += ["", "| detector (seconds per fit + scoring) | " + " | ".join(tables) + " |",
              "|---" * (len(tables) + 1) + "|"]  # fmt: skip
    for i in order:
        lines.append(f"| {names[i]} | " + " | ".join(f"{s:.2f}" for s in secs[i]) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument(
        "--first-seed",
        type=int,
        default=0,
        help="the splits' seeds are first-seed ... first-seed + seeds - 1 (a fresh set of "
        "splits checks what was chosen on seeds 0-9)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="the .mat files (default $AEKIT_DATA/odds, ../shared/data/odds)",
    )
    parser.add_argument("--detectors", nargs="+", help="only these rows (names as printed)")
    parser.add_argument("--tables", nargs="+", default=list(TABLES))
    parser.add_argument("--out", help="write the per-seed results as JSON here")
    parser.add_argument("--summarise", help="only print the tables of a JSON written by --out")
    args = parser.parse_args()
    if args.summarise:
        print(summarise(json.loads(Path(args.summarise).read_text())["rows"]))
        return
    data_dir = args.data_dir or Path(os.environ.get("AEKIT_DATA", "../shared/data")) / "odds"
    torch.set_num_threads(1)
    start = time.perf_counter()
    with threadpool_limits(1):
        rows = run(
            data_dir,
            range(args.first_seed, args.first_seed + args.seeds),
            args.detectors,
            args.tables,
        )
    print(summarise(rows))
    print(f"\n{platform.processor() or platform.machine()}, torch {torch.__version__}, one thread, "
          f"{time.perf_counter() - start:.0f} s in all")  # fmt: skip
    if args.out:
        Path(args.out).write_text(json.dumps({"rows": rows}, indent=1))


if __name__ == "__main__":
    main()
