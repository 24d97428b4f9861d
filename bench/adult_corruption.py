"""Mixed tables on UCI Adult: finding corrupted rows, and naming the corrupted column.

Usage::

    .venv/bin/python bench/adult_corruption.py [--data ../shared/data/tables/adult.csv]
        [--seed 0] [--epochs 20] [--draws 5] [--models ae,dae,vae] [--out F.json]

Protocol (issue 28, "Row-corruption detection"): ``adult.csv`` read with pandas as it
is (``?`` missing), label ``class`` dropped, the seeded 80/20 split of
``bench/adult.py``; each model fitted on the training split with the column kinds it
infers. Then, ``--draws`` times (seeded): 1% of the test rows are corrupted, each in
one cell: a column drawn uniformly among the row's observed cells, its value replaced
by that column's value in another test row drawn among those whose value differs.

Printed, per model, as mean and standard deviation over the draws:

- ``auroc``: ROC-AUC of the outlier score (minus ``score_samples``: the row's NLL at
  its mean code; the VAE's: minus its one-sample ELBO) for telling the corrupted rows
  from the other test rows; beside Isolation Forest (scikit-learn's defaults, seeded)
  on the one-hot table (numbers as they are, a missing number at the training
  median; one 0/1 column per training level, a missing level all 0);
- ``top1``: the share of corrupted rows whose largest ``feature_scores`` share (each
  column's gain of repair) is the corrupted column; ``top1_raw_nll``: the same for
  shares of the raw per-column NLL (``−column_log_likelihoods``), the alternative
  that ``feature_scores`` does not take; ``top1_categorical`` / ``top1_numeric``:
  ``top1`` over the rows whose corrupted column is categorical or binary / numeric;
  ``top1_flagged``: ``top1`` over the corrupted rows the score finds (among the 5%
  highest outlier scores of the test split; ``n_flagged`` of them), the explanations
  a user would read;
- the chance level of ``top1``: one over the number of observed cells of the row.

Torch and the BLAS run on one thread; the same seed gives the same numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy/torch load their BLAS

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from sklearn.ensemble import IsolationForest  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from adult import LABEL, default_data, models  # noqa: E402
from aekit.data.tables import Table  # noqa: E402
from aekit.models.outliers import shares_of  # noqa: E402

SHARE = 0.01  # of the test rows corrupted
FLAGGED = 0.05  # top1_flagged: over the corrupted rows among the test split's top 5% scores


def corrupt(test: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """``test`` with one observed cell of a seeded 1% of its rows replaced by another
    row's different value in the same column; the rows and the columns' positions."""
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(test), max(1, round(SHARE * len(test))), replace=False))
    bad, hit = test.copy(), np.empty(len(rows), dtype=int)
    seen = test.notna().to_numpy()
    for i, row in enumerate(rows):
        j = rng.choice(np.flatnonzero(seen[row]))
        column = test.iloc[:, j]
        donors = np.flatnonzero(column.notna().to_numpy() & (column != column.iloc[row]))
        bad.iloc[row, j] = column.iloc[rng.choice(donors)]
        hit[i] = j
    return bad, rows, hit


def one_hot(df: pd.DataFrame, train: pd.DataFrame, table: Table) -> np.ndarray:
    """The one-hot table of Isolation Forest (see the module docstring)."""
    blocks = []
    for col in table.columns:
        if col.kind in ("categorical", "binary"):
            cells = df[col.name].map(lambda v: v if pd.isna(v) else str(v)).to_numpy()
            blocks.append((cells[:, None] == np.asarray(col.levels)[None, :]).astype(float))
        else:
            values = df[col.name].astype(float)
            blocks.append(values.fillna(train[col.name].median()).to_numpy()[:, None])
    return np.concatenate(blocks, 1)


def evaluate(name: str, outlier: np.ndarray, shares: np.ndarray | None, raw: np.ndarray | None,
             rows: np.ndarray, hit: np.ndarray, kinds: np.ndarray) -> dict:  # fmt: skip
    flags = np.zeros(len(outlier), dtype=bool)
    flags[rows] = True
    out = {"auroc": float(roc_auc_score(flags, outlier))}
    if shares is not None:
        right = shares[rows].argmax(1) == hit
        levelled = np.isin(kinds[hit], ["categorical", "binary"])
        out["top1"] = float(right.mean())
        out["top1_raw_nll"] = float((raw[rows].argmax(1) == hit).mean())
        out["top1_categorical"] = float(right[levelled].mean())
        out["top1_numeric"] = float(right[~levelled].mean())
        flagged = outlier[rows] >= np.quantile(outlier, 1 - FLAGGED)
        out["top1_flagged"] = float(right[flagged].mean()) if flagged.any() else float("nan")
        out["n_flagged"] = int(flagged.sum())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_data())
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--draws", type=int, default=5)
    parser.add_argument("--models", default="ae,dae,vae")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    typed = pd.read_csv(args.data, na_values=["?"], skipinitialspace=True).drop(columns=LABEL)
    train_rows, test_rows = train_test_split(np.arange(len(typed)), test_size=0.2,
                                             random_state=args.seed)  # fmt: skip
    train = typed.iloc[train_rows].reset_index(drop=True)
    test = typed.iloc[test_rows].reset_index(drop=True)
    table = Table.fit(train)
    kinds = np.array([c.kind for c in table.columns])
    draws = [corrupt(test, args.seed + 100 + d) for d in range(args.draws)]
    chance = [float(np.mean(1.0 / bad.notna().to_numpy()[rows].sum(1))) for bad, rows, _ in draws]
    results: dict[str, list[dict]] = {}
    seconds: dict[str, float] = {}
    with threadpool_limits(1):
        start = time.perf_counter()
        forest = IsolationForest(random_state=args.seed).fit(one_hot(train, train, table))
        results["isolation_forest"] = [
            evaluate(
                "if",
                -forest.score_samples(one_hot(bad, train, table)),
                None,
                None,
                rows,
                hit,
                kinds,
            )  # fmt: skip
            for bad, rows, hit in draws
        ]
        seconds["isolation_forest"] = time.perf_counter() - start
        wanted = args.models.split(",")
        for name, model in models(args.seed, args.epochs).items():
            if name not in wanted:
                continue
            start = time.perf_counter()
            model.fit(train)
            results[name] = []
            for bad, rows, hit in draws:
                shares = model.feature_scores(bad).to_numpy()
                raw = shares_of(-model.column_log_likelihoods(bad).to_numpy())
                outlier = -model.score_samples(bad)
                results[name].append(evaluate(name, outlier, shares, raw, rows, hit, kinds))
            seconds[name] = time.perf_counter() - start
    report(results, chance, len(train), len(test), len(draws[0][1]), seconds)
    if args.out:
        args.out.write_text(json.dumps({"draws": results, "chance_top1": chance}, indent=1))


def report(results: dict, chance: list[float], n_train: int, n_test: int, n_bad: int,
           seconds: dict) -> None:  # fmt: skip
    print(f"adult.csv: {n_train} training rows, {n_test} test rows, {n_bad} corrupted per draw "
          f"({len(chance)} draws); label 'class' excluded")  # fmt: skip
    keys = ("auroc", "top1", "top1_raw_nll", "top1_categorical", "top1_numeric",
            "top1_flagged", "n_flagged")  # fmt: skip
    print(f"{'model':18s}" + "".join(f"{k:>19s}" for k in keys))
    for name, runs in results.items():
        cells = []
        for k in keys:
            values = [r[k] for r in runs if k in r]
            shown = f"{np.mean(values):.3f} ± {np.std(values):.3f}" if values else ""
            cells.append(f"{np.mean(values):.1f}" if k == "n_flagged" and values else shown)
        print(f"{name:18s}" + "".join(f"{c:>19s}" for c in cells))
    print(f"chance top1: {np.mean(chance):.3f}")
    print("seconds (fit + scoring): " + ", ".join(f"{k} {v:.0f}" for k, v in seconds.items()))


if __name__ == "__main__":
    main()
