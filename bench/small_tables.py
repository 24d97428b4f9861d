"""Every model kind with its defaults on small tables and on digits, against PCA.

Usage::

    .venv/bin/python bench/small_tables.py [--seeds 5] [--out F.json]

Issue 32's protocol: scikit-learn's breast-cancer (569 x 30), wine (178 x 13) and
diabetes (442 x 10) tables, split 70/30 and standardised with the training split's
statistics, and digits (1797 x 64, values in [0, 1]) split the same way. Each kind
is fitted with no tuning flag but the code size (d = 4; digits also at the default
d = 16) on the training split, and its test MSE per value is compared with PCA's
at the same code size fitted on the same training split. Every seed draws its own
split and seeds the model; torch runs on one thread, so a second run gives the
same numbers. Printed: a markdown table of the mean (and spread) over seeds, how
many seeds each kind was at or below PCA, and seconds per fit.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import warnings

import numpy as np
import torch
from sklearn import datasets
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from aekit.models.registry import estimator_class

KINDS = ("pca", "linear", "ae", "dae", "vae")
TABLES = {
    "breast cancer": datasets.load_breast_cancer,
    "wine": datasets.load_wine,
    "diabetes": datasets.load_diabetes,
}


def splits(seed: int):
    """(name, d, train, test) for every data set of the protocol."""
    for name, loader in TABLES.items():
        X = loader().data.astype(np.float32)
        train, test = train_test_split(X, test_size=0.3, random_state=seed)
        scaler = StandardScaler().fit(train)
        yield name, 4, scaler.transform(train), scaler.transform(test)
    X = (datasets.load_digits().data / 16).astype(np.float32)
    train, test = train_test_split(X, test_size=0.3, random_state=seed)
    for d in (4, 16):
        yield "digits", d, train, test


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--kinds", nargs="+", default=list(KINDS))
    parser.add_argument("--out", help="write the per-seed results as JSON here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")  # the linear AE's ConvergenceWarning is reported below
    rows = []
    for seed in range(args.seeds):
        for name, d, train, test in splits(seed):
            for kind in args.kinds:
                start = time.perf_counter()
                model = estimator_class(kind)(latent_dim=d, random_state=seed).fit(train)
                seconds = time.perf_counter() - start
                rows.append(
                    {
                        "data": name,
                        "d": d,
                        "seed": seed,
                        "kind": kind,
                        "test_mse": model.reconstruction_error(test),
                        "seconds": seconds,
                    }
                )
                print(json.dumps(rows[-1]), flush=True)
    print_table(rows, args.kinds)
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"machine": platform.platform(), "rows": rows}, f, indent=1)


def print_table(rows: list[dict], kinds: list[str]) -> None:
    print("\n| data | d | " + " | ".join(kinds) + " |")
    print("|---|---|" + "---|" * len(kinds))
    for name, d in dict.fromkeys((r["data"], r["d"]) for r in rows):
        mine = [r for r in rows if (r["data"], r["d"]) == (name, d)]
        pca = {r["seed"]: r["test_mse"] for r in mine if r["kind"] == "pca"}
        cells = []
        for kind in kinds:
            errors = {r["seed"]: r["test_mse"] for r in mine if r["kind"] == kind}
            values = np.array(list(errors.values()))
            at_most = sum(errors[s] <= pca.get(s, np.inf) for s in errors)
            seconds = np.mean([r["seconds"] for r in mine if r["kind"] == kind])
            cell = f"{values.mean():.4f} ± {values.std():.4f}"
            if kind != "pca" and pca:
                cell += f" ({at_most}/{len(errors)} ≤ PCA)"
            cells.append(f"{cell}, {seconds:.1f} s")
        print(f"| {name} | {d} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
