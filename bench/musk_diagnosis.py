"""Why aekit's autoencoders fall below chance on musk, measured.

Usage::

    .venv/bin/python bench/musk_diagnosis.py [--seeds 3] [--table musk]

PyOD's protocol (bench/odds.py's split). Each flexible model (the default
Autoencoder, a 5-component Gaussian mixture) is fitted twice on the same training
split: as the protocol says (its outliers included), and, for this diagnosis only,
without the training split's outliers (the labels are used to remove them). If the
second fit finds the test outliers and the first does not, the model learned the
outliers: a tight group of them in the training data becomes part of what it
reconstructs (or a component of its own). The rows also give the parts of
``aekit.OutlierDetector`` alone, the trimmed Gaussian among them, which is fitted on
the contaminated split and cannot bend towards the group, and the reconstruction
error of the test outliers against the test inliers' (the median ratio).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

import aekit  # noqa: E402
from aekit.models.outlier_detector import MixtureScore, ShrunkGaussian  # noqa: E402
from odds import load_table, split  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--table", default="musk")
    parser.add_argument("--data-dir", type=Path)
    args = parser.parse_args()
    data_dir = args.data_dir or Path(os.environ.get("AEKIT_DATA", "../shared/data")) / "odds"
    X, y = load_table(data_dir, args.table)
    torch.set_num_threads(1)
    rows: dict[str, list[float]] = {}

    def add(name: str, value: float) -> None:
        rows.setdefault(name, []).append(value)

    with threadpool_limits(1):
        for seed in range(args.seeds):
            train, test, y_test = split(X, y, seed)
            # the same split's training labels (train_test_split shuffles alike), for
            # the diagnosis only
            y_train = train_test_split(y, test_size=0.4, random_state=seed)[0]
            clean = train[y_train == 0]
            for label, data in (("with its outliers", train), ("without them", clean)):
                ae = aekit.Autoencoder(random_state=seed).fit(data)
                errors = ae.reconstruction_errors(test)
                add(f"Autoencoder, trained {label}", roc_auc_score(y_test, errors))
                ratio = np.median(errors[y_test == 1]) / np.median(errors[y_test == 0])
                add(f"Autoencoder, trained {label}: outlier/inlier error", ratio)
                mixture = MixtureScore(5, 0.1, seed).fit(data)
                add(
                    f"5-component mixture, fitted {label}",
                    roc_auc_score(y_test, mixture.score(test)),
                )
            gaussian = ShrunkGaussian(0.5, 0.1).fit(train)
            add(
                "trimmed shrunk Gaussian (contaminated fit)",
                roc_auc_score(y_test, gaussian.score(test)),
            )
            untrimmed = ShrunkGaussian(0.5, 0.0).fit(train)
            add(
                "untrimmed shrunk Gaussian (contaminated fit)",
                roc_auc_score(y_test, untrimmed.score(test)),
            )
            detector = aekit.OutlierDetector(random_state=seed).fit(train)
            add("OutlierDetector", roc_auc_score(y_test, -detector.score_samples(test)))
    print(f"| {args.table}, {args.seeds} splits | mean | per split |\n|---|---|---|")
    for name, values in rows.items():
        print(f"| {name} | {np.mean(values):.3f} | {', '.join(f'{v:.3f}' for v in values)} |")


if __name__ == "__main__":
    main()
