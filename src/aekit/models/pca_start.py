"""The PCA start of a deep model: its linear path set to PCA's solution on the data.

:func:`aekit.core.linear_path.start_at_pca` does the setting; this file computes the
solution it is given with PCA's own solver and sign convention, so the start is that
of :class:`aekit.PCA` on the same examples.
"""

from __future__ import annotations

import numpy as np
import torch

from aekit.core.linear_path import start_at_pca
from aekit.core.module import AutoencoderModule
from aekit.models.pca_solvers import covariance_eigh, flip_signs


def start_module_at_pca(module: AutoencoderModule, scaled: np.ndarray, latent_dim: int) -> None:
    """Set ``module``'s linear path to PCA's solution on ``scaled``, training
    examples in the model's units."""
    scaled = scaled.reshape(len(scaled), -1)
    n, D = scaled.shape
    k = min(latent_dim, n, D)  # past k, code dimensions start at 0
    sums = scaled.sum(axis=0, dtype=np.float64)  # PCA's solver alone: no threshold
    mean, values, axes = covariance_eigh(scaled, sums, k, torch.device("cpu"), torch.float32)
    values = values.numpy()
    noise = float(values[k : min(n, D)].mean()) if min(n, D) > k else 0.0
    axes = flip_signs(axes).numpy()  # PCA's sign convention: the same start as aekit.PCA
    start_at_pca(module.encoder, module.head, module.decoder, mean.numpy(), axes,
                 values[:k], noise)  # fmt: skip
