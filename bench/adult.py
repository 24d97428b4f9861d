"""Mixed tables on UCI Adult: reconstruction and imputation of categorical cells.

Usage::

    .venv/bin/python bench/adult.py [--data ../shared/data/tables/adult.csv]
        [--seed 0] [--epochs 20] [--train-rows 0] [--models ae,dae,vae] [--out F.json]

Protocol: ``adult.csv`` read with pandas as it is (``?`` is a missing cell); the label
``class`` is dropped; a seeded 80/20 train/test split of the rows (``--train-rows``
keeps a seeded subset of the training split, 0 = all of it). Each aekit model is
fitted on the training split with the column kinds it infers (6 numeric columns, 7
categorical, ``sex`` binary).

1. Reconstruction: per categorical and binary column, the share of the test split's
   observed cells whose reconstruction (``reconstruct``: the likeliest level given
   the row's code) is the cell's level, beside the majority baseline (the training
   split's most frequent level).
2. Imputation: 10% of the observed categorical and binary cells of the test split
   (seeded) are hidden, then filled: by each model (``impute``), by the training
   split's mode of the column, and by scikit-learn's ``IterativeImputer`` (default
   BayesianRidge, ``max_iter=5``, the numbers standardised) on two encodings of the
   levels: ``ordinal`` (the level's index; the imputed value rounded and clipped to
   a level) and ``dummy`` (one 0/1 column per level but the first; a hidden cell is
   its whole block; the level of the largest of ``1 − Σ block`` and the block's
   values). A full one-hot block is no use to it: each level's column is the exact
   complement of its siblings, so the regression leans on those, which are missing
   too, and fills every hidden cell with the mode. It is fitted on the training
   split with its own missing cells and 10% of its categorical cells hidden
   (scikit-learn imputes at transform time only the columns that had missing cells
   at fit).
   Printed: the share of hidden cells filled with their level, per column and over
   all of them.

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
from sklearn.experimental import enable_iterative_imputer  # noqa: E402, F401
from sklearn.impute import IterativeImputer  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

import aekit  # noqa: E402
from aekit.data.tables import Table  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
LABEL = "class"
HIDDEN_SHARE = 0.1


def default_data() -> Path:
    root = os.environ.get("AEKIT_DATA")
    return (
        Path(root) / "tables" / "adult.csv"
        if root
        else REPO.parent / "shared" / "data" / "tables" / "adult.csv"
    )


def models(seed: int, epochs: int) -> dict[str, object]:
    common = {"hidden": (128, 64), "epochs": epochs, "lr": 2e-3, "random_state": seed,
              "n_threads": 1}  # fmt: skip
    return {
        "ae": aekit.Autoencoder(8, **common),
        "dae": aekit.DenoisingAutoencoder(8, noise_std=0.2, **common),
        "vae": aekit.VAE(8, **common),
    }


def hide(test: pd.DataFrame, columns: list[str], seed: int) -> tuple[pd.DataFrame, dict]:
    """``test`` with a seeded 10% of its observed cells in ``columns`` set missing, and
    the hidden cells' row positions per column."""
    rng = np.random.default_rng(seed + 1)
    hidden, where = test.copy(), {}
    for name in columns:
        observed = np.flatnonzero(test[name].to_numpy() != "?")
        rows = observed[rng.random(len(observed)) < HIDDEN_SHARE]
        hidden.iloc[rows, hidden.columns.get_loc(name)] = "?"
        where[name] = rows
    return hidden, where


def iterative_fill(
    train: pd.DataFrame, hidden: pd.DataFrame, table: Table, seed: int, encoding: str
) -> pd.DataFrame:
    """``hidden`` with its categorical cells filled by IterativeImputer on the
    ``"ordinal"`` or ``"dummy"`` encoding of the table (see the module docstring)."""
    numeric = [c.name for c in table.columns if c.kind == "numeric"]
    levelled = [c for c in table.columns if c.kind in ("categorical", "binary")]

    def encode(df: pd.DataFrame) -> np.ndarray:
        blocks = [((df[numeric] - train[numeric].mean()) / train[numeric].std()).to_numpy()]
        for col in levelled:
            cells = df[col.name].to_numpy()
            if encoding == "ordinal":
                lookup = {level: i for i, level in enumerate(col.levels)}
                block = np.array([[lookup.get(v, np.nan)] for v in cells], dtype=float)
            else:  # dummies: the first level is the block of zeros
                block = (cells[:, None] == np.asarray(col.levels[1:])[None, :]).astype(float)
            block[cells == "?"] = np.nan
            blocks.append(block)
        return np.concatenate(blocks, 1)

    # scikit-learn imputes at transform only the columns that had missing cells at fit
    # (the others get their mean), so it is fitted with 10% of the training split's
    # categorical cells hidden as well
    train_hidden, _ = hide(train, [c.name for c in levelled], seed + 1)
    imputer = IterativeImputer(max_iter=5, random_state=seed).fit(encode(train_hidden))
    matrix = imputer.transform(encode(hidden))
    filled, start = hidden.copy(), len(numeric)
    for col in levelled:
        levels = np.asarray(col.levels, dtype=object)
        if encoding == "ordinal":
            codes = np.clip(np.round(matrix[:, start]), 0, len(levels) - 1).astype(int)
            start += 1
        else:
            block = matrix[:, start : start + len(levels) - 1]
            scores = np.concatenate([1 - block.sum(1, keepdims=True), block], 1)
            codes = scores.argmax(1)
            start += len(levels) - 1
        filled[col.name] = levels[codes]
    return filled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_data())
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--train-rows", type=int, default=0)
    parser.add_argument("--models", default="ae,dae,vae")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    raw = pd.read_csv(args.data, dtype=str, keep_default_na=False, skipinitialspace=True)
    typed = pd.read_csv(args.data, na_values=["?"], skipinitialspace=True).drop(columns=LABEL)
    raw = raw.drop(columns=LABEL)
    train_rows, test_rows = train_test_split(np.arange(len(raw)), test_size=0.2,
                                             random_state=args.seed)  # fmt: skip
    if args.train_rows:
        rng = np.random.default_rng(args.seed)
        train_rows = np.sort(rng.choice(train_rows, args.train_rows, replace=False))
    train, test = typed.iloc[train_rows], typed.iloc[test_rows]
    table = Table.fit(train)
    levelled = [c.name for c in table.columns if c.kind in ("categorical", "binary")]
    # the string view of the test split: '?' marks a missing cell
    test_text = raw.iloc[test_rows][levelled].reset_index(drop=True)
    hidden_text, where = hide(test_text, levelled, args.seed)
    hidden = test.reset_index(drop=True).copy()
    for name in levelled:
        hidden.loc[where[name], name] = np.nan
    truth = {name: test_text[name].to_numpy()[where[name]] for name in levelled}

    results: dict[str, dict] = {"reconstruction": {}, "imputation": {}, "seconds": {}}
    majority = {name: train[name].mode()[0] for name in levelled}
    observed = {name: test_text[name].to_numpy() != "?" for name in levelled}
    results["reconstruction"]["majority"] = {
        n: float(np.mean(test_text[n].to_numpy()[observed[n]] == majority[n])) for n in levelled
    }
    results["imputation"]["mode"] = {n: float(np.mean(truth[n] == majority[n])) for n in levelled}
    with threadpool_limits(1):
        start = time.perf_counter()
        train_text = raw.iloc[train_rows][levelled].reset_index(drop=True)
        numbers = train.reset_index(drop=True)
        train_mixed = pd.concat([numbers.drop(columns=levelled), train_text], axis=1)
        hidden_mixed = pd.concat([hidden.drop(columns=levelled), hidden_text], axis=1)
        for encoding in ("ordinal", "dummy"):
            filled = iterative_fill(train_mixed, hidden_mixed, table, args.seed, encoding)
            results["imputation"][f"iterative_{encoding}"] = {
                n: float(np.mean(filled[n].to_numpy()[where[n]] == truth[n])) for n in levelled
            }
        results["seconds"]["iterative_imputer"] = time.perf_counter() - start
        wanted = args.models.split(",")
        for name, model in models(args.seed, args.epochs).items():
            if name not in wanted:
                continue
            start = time.perf_counter()
            model.fit(train)
            recon = model.reconstruct(test.reset_index(drop=True))
            imputed = model.impute(hidden)
            results["seconds"][name] = time.perf_counter() - start
            results["reconstruction"][name] = {
                n: float(
                    np.mean(
                        recon[n].to_numpy()[observed[n]] == test_text[n].to_numpy()[observed[n]]
                    )
                )
                for n in levelled
            }
            results["imputation"][name] = {
                n: float(np.mean(imputed[n].to_numpy()[where[n]] == truth[n])) for n in levelled
            }
    hidden_counts = {n: len(where[n]) for n in levelled}
    report(results, levelled, hidden_counts, len(train), len(test))
    if args.out:
        args.out.write_text(json.dumps({**results, "hidden_cells": hidden_counts}, indent=1))


def report(results: dict, columns: list[str], hidden: dict[str, int], n_train: int,
           n_test: int) -> None:  # fmt: skip
    print(f"adult.csv: {n_train} training rows, {n_test} test rows; label 'class' excluded")
    parts = (("reconstruction", "accuracy on observed test cells"),
             ("imputation", f"accuracy on {sum(hidden.values())} hidden test cells"))  # fmt: skip
    for part, note in parts:
        rows = results[part]
        names = list(rows)
        print(f"\n{part} ({note})")
        print(f"{'column':16s}" + "".join(f"{n[:12]:>13s}" for n in names))
        for c in columns:
            print(f"{c:16s}" + "".join(f"{rows[n][c]:13.3f}" for n in names))
        if part == "imputation":
            total = {n: sum(rows[n][c] * hidden[c] for c in columns) / sum(hidden.values())
                     for n in names}  # fmt: skip
            print(f"{'all hidden':16s}" + "".join(f"{total[n]:13.3f}" for n in names))
    print("\nseconds (fit + reconstruct + impute): "
          + ", ".join(f"{k} {v:.0f}" for k, v in results["seconds"].items()))  # fmt: skip


if __name__ == "__main__":
    main()
