"""Scaling of the features before a model sees them, undone on the way out.

Neural autoencoders train well on values of order one; tabular data in the
user's units (grams, dollars, counts in the thousands) do not. ``"auto"`` leaves
data that already lie in [0, 1] (images) alone and standardises everything
else. :class:`FeatureScaling` is the one owner of that map: fitted on the
training data, applied by ``fit`` and ``transform``, undone for reconstructions
and samples (errors are in the user's units), its log-determinant turns the
VAE's densities into densities of the data as given, and it travels inside the
exported modules.

Examples
--------
>>> import numpy as np
>>> X = np.array([[1.0, 100.0], [3.0, 300.0]], dtype=np.float32)
>>> scaling = FeatureScaling.fit(X, "auto")
>>> scaling.kind, scaling.apply(X).tolist()
('standard', [[-1.0, -1.0], [1.0, 1.0]])
>>> scaling.undo(scaling.apply(X)).tolist() == X.tolist()
True
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch
from torch import nn

SCALINGS = ("auto", "none", "minmax", "standard")
# how far outside [0, 1] a value may round and still count as in it (float32 minmax)
UNIT_SLACK = 1e-6


class FeatureScaling(nn.Module):
    """``x_model = (x − offset) / factor`` per feature, and back.

    Parameters
    ----------
    offset, factor : array-like of one example's shape
        Per-feature offset and (positive) factor.
    kind : {"none", "minmax", "standard"}
        The scaling they came from (``"none"``: offset 0, factor 1).
    """

    def __init__(self, offset: Any, factor: Any, kind: str) -> None:
        super().__init__()
        self.register_buffer("offset", torch.as_tensor(np.asarray(offset, dtype=np.float32)))
        self.register_buffer("factor", torch.as_tensor(np.asarray(factor, dtype=np.float32)))
        self.kind = kind
        #: the least and greatest scaled value of the data ``fit`` saw (not saved)
        self.fitted_range: tuple[float, float] | None = None

    @classmethod
    def identity(cls, shape: tuple[int, ...]) -> FeatureScaling:
        """No scaling, for examples of ``shape``."""
        return cls(np.zeros(shape, np.float32), np.ones(shape, np.float32), "none")

    @classmethod
    def fit(cls, X: np.ndarray, kind: str) -> FeatureScaling:
        """The scaling ``kind`` fitted to the examples ``X`` (``"auto"`` resolved:
        none for values in [0, 1], standard otherwise), a slab at a time."""
        shape = X.shape[1:]
        low, high = _extremes(X)
        if kind == "auto":
            kind = "none" if low.min() >= 0.0 and high.max() <= 1.0 else "standard"
        if kind == "none":
            scaling = cls.identity(shape)
        else:
            if kind == "minmax":
                offset, spread = low, high - low
            else:
                offset = X.mean(axis=0, dtype=np.float64)
                spread = np.mean((X - offset.astype(X.dtype)) ** 2, axis=0, dtype=np.float64)
                spread = np.sqrt(spread)
            factor = np.where(spread > 0, spread, 1.0)  # a constant feature stays put
            scaling = cls(offset.astype(np.float32), factor.astype(np.float32), kind)
        # the scaled data's range, from the extremes already read (no second pass)
        offset, factor = scaling.offset.double().numpy(), scaling.factor.double().numpy()
        scaling.fitted_range = (
            float(((low - offset) / factor).min()),
            float(((high - offset) / factor).max()),
        )
        return scaling

    @property
    def is_identity(self) -> bool:
        return self.kind == "none"

    def _per_example(self, buffer: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``buffer`` shaped like one example of ``x`` (flat or not), on its device."""
        return buffer.to(x.device).reshape(x.shape[1:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Examples in the user's units → the model's units."""
        return (x - self._per_example(self.offset, x)) / self._per_example(self.factor, x)

    def inverse(self, x: torch.Tensor) -> torch.Tensor:
        """The model's units → the user's."""
        return x * self._per_example(self.factor, x) + self._per_example(self.offset, x)

    def inverse_difference(self, d: torch.Tensor) -> torch.Tensor:
        """A difference of two examples in the model's units, in the user's (the
        offset cancels)."""
        return d * self._per_example(self.factor, d)

    def log_det(self) -> float:
        """``log |det ∂x / ∂x_model| = Σ_j log factor_j``: a density of the scaled data,
        less this, is the density of the data in the user's units."""
        return float(torch.log(self.factor.double()).sum())

    def apply(self, X: np.ndarray) -> np.ndarray:
        """:meth:`forward` of an array, float32 (``X`` itself, no copy, when this
        scaling is the identity)."""
        if self.is_identity:
            return X
        return self._numpy(self.forward, X)

    def undo(self, X: np.ndarray) -> np.ndarray:
        """:meth:`inverse` of an array of examples (any shape with one example's
        number of values per row), float32."""
        if self.is_identity:
            return X
        return self._numpy(self.inverse, X)

    @torch.no_grad()
    def _numpy(self, fn: Any, X: np.ndarray) -> np.ndarray:
        with warnings.catch_warnings():  # read-only memmaps: nothing is written to X
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            x = torch.from_numpy(np.asarray(X))
        out = fn(x.reshape(len(x), *self.offset.shape)).reshape(x.shape)
        return out.to(torch.float32).cpu().numpy()


def _extremes(X: np.ndarray, rows: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature minimum and maximum, a slab at a time (bounded memory)."""
    lows = [X[i : i + rows].min(axis=0) for i in range(0, len(X), rows)]
    highs = [X[i : i + rows].max(axis=0) for i in range(0, len(X), rows)]
    return np.min(lows, axis=0).astype(np.float64), np.max(highs, axis=0).astype(np.float64)
