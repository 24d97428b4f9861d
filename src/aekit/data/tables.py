"""Tables as people have them: column kinds inferred from a DataFrame, and the
encoding of a table into the tensor of :mod:`aekit.core.tables` and back.

Missing cells: ``NaN``, ``None``, ``pd.NA``, an empty string and ``?`` (the UCI
convention), surrounding spaces ignored. Inference, per column, over its observed
cells (``column_types={"col": kind}`` overrides it):

- boolean, or exactly two distinct values: ``binary``;
- text (or pandas ``category``) that does not all parse as numbers: ``categorical``;
- non-negative integers that a Poisson describes at least as well as a Gaussian
  (mean log-probability of the observed values under each, fitted): ``count``;
- other numbers: ``numeric``.

Refused, each in one sentence: a column with no observed cell, a categorical or
binary column with one level, a categorical column with a different level in every
row (an identifier), a ``count`` override on values that are not non-negative
integers, a ``numeric`` override on text. A level that was not seen in training met
at transform time is taken as a missing cell (left out of the likelihood; filled by
``reconstruct`` and ``impute``) with a warning naming the column.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from aekit.core.tables import COLUMN_KINDS, COUNT_KINDS, ColumnSpec
from aekit.errors import DataError

MISSING_TEXT = ("", "?")
# the training quantiles a numeric or count cell is tried at by feature_scores
TRIED_AT = np.linspace(0.025, 0.975, 20)


def is_table(X: Any, column_types: Mapping[str, str] | None = None) -> bool:
    """Whether ``X`` is a DataFrame to model as a mixed table: ``column_types`` is
    given, or a column is not numeric, or a cell is missing. An all-numeric
    DataFrame without missing cells stays an array of numbers."""
    if not (hasattr(X, "columns") and hasattr(X, "dtypes") and hasattr(X, "isna")):
        return False
    if column_types is not None:
        return True
    numeric = all(dt.kind in "iuf" for dt in X.dtypes)
    return not numeric or bool(X.isna().to_numpy().any())


def _cells(series: Any) -> Any:
    """The column with every missing spelling as NaN (text stripped of spaces)."""
    if series.dtype.kind in "iufb":
        return series
    text = series.astype(object).map(lambda v: v.strip() if isinstance(v, str) else v)
    return text.mask(text.isna() | text.isin(MISSING_TEXT), np.nan)


def _key(value: Any) -> str:
    """A cell as its level string (an integral float as the integer: 3.0 -> "3")."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _as_numbers(cells: Any) -> Any:
    """The observed cells as float64, or None if one does not parse as a number."""
    import pandas as pd

    if cells.dtype == bool:
        return cells.astype(np.float64)
    try:
        return pd.to_numeric(cells, errors="raise").astype(np.float64)
    except (ValueError, TypeError):
        return None


def refuse_stray_text(name: str, observed: Any) -> None:
    """Refuse a column of numbers with a few cells of text (a typo, ``1_000``, ``n/a``)
    rather than read all of it as levels: at least half of its cells are numbers."""
    import pandas as pd

    parsed = pd.to_numeric(observed, errors="coerce")
    if parsed.notna().sum() * 2 >= len(observed):
        cell = observed[parsed.isna()].iloc[0]
        raise DataError(
            f"column {name!r}: {cell!r} is not a number, but {int(parsed.notna().sum())} of "
            f"its {len(observed)} values are; fix the cell, or read the column as levels "
            f"(--column-type {name}=categorical, column_types={{{name!r}: 'categorical'}})."
        )


def _poisson_fits(values: np.ndarray) -> bool:
    """Whether a Poisson (rate = mean) gives the non-negative integers ``values`` a
    mean log-probability at least that of a Gaussian (fitted mean and variance;
    its density at an integer is the probability of the unit bin around it)."""
    rate, var = float(values.mean()), float(values.var())
    if rate <= 0 or var <= 0:
        return False
    from scipy.special import gammaln

    poisson = np.mean(values * math.log(rate) - rate - gammaln(values + 1))
    gaussian = -0.5 * (math.log(2 * math.pi * var) + 1.0)
    return bool(poisson >= gaussian)


def _spec(name: str, series: Any, kind: str | None) -> ColumnSpec:
    """The column ``name`` of the table: inferred, or of the ``kind`` asked for."""
    cells = _cells(series)
    observed = cells[cells.notna()]
    dtype = str(series.dtype)
    n_missing = int(len(cells) - len(observed))
    if len(observed) == 0:
        raise DataError(f"column {name!r} has no observed value; drop it.")
    numbers = _as_numbers(observed)
    if kind is None:
        n_distinct = observed.nunique()
        if series.dtype == bool or n_distinct == 2:
            kind = "binary"
        elif numbers is None and dtype != "category":
            refuse_stray_text(name, observed)
            kind = "categorical"
        elif dtype == "category":
            kind = "categorical"
        elif (
            (numbers >= 0).all()
            and (numbers == np.round(numbers)).all()
            and _poisson_fits(numbers.to_numpy())
        ):
            kind = "count"
        else:
            kind = "numeric"
    if kind not in COLUMN_KINDS:
        raise DataError(
            f"column_types[{name!r}] must be one of {', '.join(COLUMN_KINDS)}; got {kind!r}."
        )
    base = {"name": str(name), "kind": kind, "dtype": dtype, "n_missing": n_missing}
    if kind in ("categorical", "binary"):
        levels = _levels(observed, numbers)
        if dtype == "category":  # the categories' own order, as the user declared it
            order = {_key(v): rank for rank, v in enumerate(series.cat.categories)}
            levels = sorted(levels, key=order.__getitem__)
        if len(levels) == 1:
            raise DataError(
                f"column {name!r} has a single level ({levels[0]!r}): it carries no "
                "information; drop it."
            )
        if kind == "binary" and len(levels) != 2:
            raise DataError(
                f"column {name!r} is declared binary but has {len(levels)} levels; "
                "declare it categorical."
            )
        if kind == "categorical" and len(levels) >= len(observed) and len(observed) > 2:
            raise DataError(
                f"column {name!r} has as many levels as observed rows ({len(levels)}), "
                "like an identifier: drop it or declare it numeric."
            )
        return ColumnSpec(**base, levels=tuple(levels))
    if numbers is None:
        raise DataError(
            f"column {name!r} holds text, so it cannot be {kind}; declare it categorical."
        )
    values = numbers.to_numpy()
    if kind in COUNT_KINDS:
        if (values < 0).any() or (values != np.round(values)).any():
            raise DataError(
                f"column {name!r} is declared a count but holds values that are not "
                "non-negative integers; declare it numeric."
            )
        base["quantiles"] = tuple(np.unique(np.round(np.quantile(values, TRIED_AT))).tolist())
        values = np.log1p(values)  # the encoder's input: log(1 + k), standardised
    scale = float(values.std())
    scale, center = (scale if scale > 0 else 1.0), float(values.mean())
    if kind == "numeric":
        tried = (np.quantile(values, TRIED_AT) - center) / scale
        base["quantiles"] = tuple(np.unique(tried).tolist())
    return ColumnSpec(**base, center=center, scale=scale)


def _levels(observed: Any, numbers: Any) -> list[str]:
    """The level strings: numbers in numeric order, text in sorted order."""
    if numbers is not None and observed.dtype != object:
        order = np.argsort(numbers.to_numpy(), kind="stable")
        return list(dict.fromkeys(_key(v) for v in observed.to_numpy()[order]))
    return sorted({_key(v) for v in observed})


class Table:
    """The columns of a table (:class:`~aekit.core.tables.ColumnSpec`), encoding
    DataFrames into table tensors (as float32 arrays) and decoding them back."""

    def __init__(self, columns: Sequence[ColumnSpec]) -> None:
        self.columns = tuple(columns)

    @classmethod
    def fit(cls, df: Any, column_types: Mapping[str, str] | None = None) -> Table:
        """Infer the columns of the DataFrame ``df`` (``column_types`` overrides)."""
        asked = dict(column_types or {})
        unknown = [name for name in asked if name not in df.columns]
        if unknown:
            raise DataError(f"column_types names column(s) not in the table: {', '.join(unknown)}.")
        if len(df) < 2:
            raise DataError(f"X has {len(df)} example(s), but at least 2 are needed.")
        return cls([_spec(name, df[name], asked.get(name)) for name in df.columns])

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def summary(self) -> list[str]:
        """One line per column: its kind and what encodes it."""
        lines = []
        for c in self.columns:
            if c.kind in ("categorical", "binary"):
                shown = ", ".join(c.levels[:3]) + (", ..." if len(c.levels) > 3 else "")
                what = f"{len(c.levels)} levels ({shown})"
            elif c.kind in COUNT_KINDS:
                what = "Poisson" if c.kind == "count" else "negative binomial"
            else:
                what = f"mean {c.center:.4g}, sd {c.scale:.4g}"
            lines.append(f"{c.name}: {c.kind}, {what}; {c.n_missing} missing")
        return lines

    def encode(self, df: Any, what: str = "X") -> np.ndarray:
        """The table tensor of ``df`` as a float32 array of shape (n, 2C)."""
        missing = [name for name in self.names if name not in df.columns]
        if missing:
            raise DataError(
                f"{what} lacks the column(s) the model was fitted on: {', '.join(missing)}."
            )
        n, C = len(df), len(self.columns)
        out = np.zeros((n, 2 * C), dtype=np.float32)
        for j, col in enumerate(self.columns):
            cells = _cells(df[col.name])
            seen = cells.notna().to_numpy().copy()
            if col.kind in ("categorical", "binary"):
                index = {level: i for i, level in enumerate(col.levels)}
                keys = [_key(v) for v in cells[seen].to_numpy()]
                codes = np.array([index.get(k, -1) for k in keys], dtype=np.float32)
                unknown = codes < 0
                if unknown.any():
                    warnings.warn(
                        f"column {col.name!r} has {int(unknown.sum())} cell(s) with a level "
                        "not seen in training; they are taken as missing.",
                        stacklevel=3,
                    )
                rows = np.flatnonzero(seen)
                seen[rows[unknown]] = False
                out[rows[~unknown], j] = codes[~unknown]
            else:
                numbers = _as_numbers(cells[seen])
                if numbers is None:
                    raise DataError(
                        f"column {col.name!r} of {what} holds text where numbers were fitted."
                    )
                values = numbers.to_numpy()
                if col.kind == "numeric":
                    values = (values - col.center) / col.scale
                elif (values < 0).any():
                    raise DataError(f"column {col.name!r} of {what} holds negative counts.")
                out[seen, j] = values
            out[:, C + j] = seen
        if not np.isfinite(out).all():
            raise DataError(f"{what} holds infinite values.")
        return out

    def decode(self, packed: np.ndarray, index: Any = None) -> Any:
        """A DataFrame of a complete table tensor: the original columns, dtypes and levels."""
        import pandas as pd

        data = {}
        for j, col in enumerate(self.columns):
            v = np.asarray(packed[:, j], dtype=np.float64)
            if col.kind in ("categorical", "binary"):
                idx = np.clip(np.round(v), 0, len(col.levels) - 1).astype(int)
                data[col.name] = _restore_levels(np.asarray(col.levels, dtype=object)[idx], col)
            else:
                if col.kind == "numeric":
                    v = v * col.scale + col.center
                data[col.name] = _restore_numbers(v, col.dtype)
        frame = pd.DataFrame(data)
        if index is not None:
            frame.index = index
        return frame

    def to_dict(self) -> list[dict]:
        return [c.to_dict() for c in self.columns]

    @classmethod
    def from_dict(cls, saved: list[dict]) -> Table:
        return cls([ColumnSpec.from_dict(d) for d in saved])


def _restore_levels(levels: np.ndarray, col: ColumnSpec) -> Any:
    """Level strings as the column's dtype: text, category, bool or numbers."""
    import pandas as pd

    if col.dtype == "bool":
        return pd.Series(levels == "True", dtype=bool)
    if col.dtype == "category":
        return pd.Series(pd.Categorical(levels, categories=list(col.levels)))
    series = pd.Series(levels, dtype=object)
    if pd.api.types.is_numeric_dtype(pd.api.types.pandas_dtype(col.dtype)):
        series = series.astype(np.float64)
    return series.astype(col.dtype)


def _restore_numbers(values: np.ndarray, dtype: str) -> Any:
    """Numbers in the column's dtype (integers rounded)."""
    import pandas as pd

    if pd.api.types.is_integer_dtype(pd.api.types.pandas_dtype(dtype)):
        return pd.Series(np.round(values)).astype(dtype)
    return pd.Series(values, dtype=np.float64)
