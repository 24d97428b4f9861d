"""What every aekit estimator shares, PCA and the neural models alike: scikit-learn's
estimator and transformer conventions, reconstruction, its error, and saving.

A subclass provides ``transform``, ``inverse_transform``, ``_validate_params``,
and the two halves of persistence: ``_export`` (tensors and JSON-able fitted
attributes) and ``_restore`` (their inverse, see :mod:`aekit.persistence`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin

from aekit.persistence import save_model
from aekit.validation import check_data


class AutoencoderEstimator(TransformerMixin, BaseEstimator):
    """Base class of every aekit estimator. Not used directly."""

    def reconstruct(self, X: Any) -> np.ndarray:
        """``inverse_transform(transform(X))``: the reconstruction, in the input's shape."""
        return self.inverse_transform(self.transform(X))

    def reconstruction_error(self, X: Any) -> float:
        """Mean squared error per value between ``X`` and its reconstruction."""
        X_hat = self.reconstruct(X)
        X = check_data(X, dtype=float_type_of(X)).reshape(X_hat.shape)
        return float(np.mean((X.astype(np.float64) - X_hat) ** 2))

    def score(self, X: Any, y: Any = None) -> float:
        """Higher is better: minus the reconstruction MSE per value."""
        return -self.reconstruction_error(X)

    # -- persistence -----------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the fitted model to the folder ``path`` (config JSON + safetensors);
        :func:`aekit.load` reads it back."""
        return save_model(self, path)

    def _export(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Tensors and JSON-able fitted attributes of the fitted model."""
        raise NotImplementedError

    def _restore(self, fitted: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
        """Set the fitted state from what :meth:`_export` returned."""
        raise NotImplementedError


def float_type_of(X: Any) -> type:
    """float64 for float64 input (kept in its precision), float32 for everything else."""
    return np.float64 if getattr(X, "dtype", None) == np.float64 else np.float32
