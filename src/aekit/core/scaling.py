"""Scaling of the features before a model sees them, undone on the way out.

Neural autoencoders train well on values of order one; tabular data in the
user's units (grams, dollars, counts in the thousands) do not. ``"auto"`` leaves
data that already lie in [0, 1] (images) alone and standardises everything
else; the offset and factor per feature are fitted on the training data, saved
with the model, and undone for reconstructions and samples, so errors are
reported in the user's units.

Examples
--------
>>> import numpy as np
>>> X = np.array([[1.0, 100.0], [3.0, 300.0]], dtype=np.float32)
>>> offset, factor, kind = fit_scaling(X, "auto")
>>> kind, apply_scaling(X, offset, factor).tolist()
('standard', [[-1.0, -1.0], [1.0, 1.0]])
"""

from __future__ import annotations

import numpy as np

SCALINGS = ("auto", "none", "minmax", "standard")


def fit_scaling(X: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray, str]:
    """Offset and factor per feature (the shape of one example) for the scaling
    ``kind``, and the kind used (``"auto"`` resolved)."""
    shape = X.shape[1:]
    low, high = _extremes(X)
    if kind == "auto":
        kind = "none" if low.min() >= 0.0 and high.max() <= 1.0 else "standard"
    if kind == "none":
        return np.zeros(shape, np.float32), np.ones(shape, np.float32), kind
    if kind == "minmax":
        offset, spread = low, high - low
    else:
        offset = X.mean(axis=0, dtype=np.float64)
        spread = np.sqrt(np.mean((X - offset.astype(X.dtype)) ** 2, axis=0, dtype=np.float64))
    factor = np.where(spread > 0, spread, 1.0)  # a constant feature stays put
    return offset.astype(np.float32), factor.astype(np.float32), kind


def apply_scaling(X: np.ndarray, offset: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """``(X − offset) / factor``, float32."""
    return ((X - offset) / factor).astype(np.float32, copy=False)


def undo_scaling(X: np.ndarray, offset: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """``X · factor + offset``, float32: back in the user's units."""
    return (X * factor + offset).astype(np.float32, copy=False)


def _extremes(X: np.ndarray, rows: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature minimum and maximum, a slab at a time (bounded memory)."""
    lows = [X[i : i + rows].min(axis=0) for i in range(0, len(X), rows)]
    highs = [X[i : i + rows].max(axis=0) for i in range(0, len(X), rows)]
    return np.min(lows, axis=0).astype(np.float64), np.max(highs, axis=0).astype(np.float64)
