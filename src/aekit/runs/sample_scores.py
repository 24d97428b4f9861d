"""Scores of a set of samples against data: the Fréchet distance and class coverage."""

from __future__ import annotations

import numpy as np


def frechet_distance(A: np.ndarray, B: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to the rows of ``A`` and ``B``.

    ``‖μ_A − μ_B‖² + tr(Σ_A + Σ_B − 2 (Σ_A Σ_B)^{1/2})`` — the FID when the rows are
    features of a classifier. ``tr (Σ_A Σ_B)^{1/2}`` is computed as the sum of the
    square roots of the eigenvalues of the symmetric ``Σ_A^{1/2} Σ_B Σ_A^{1/2}``,
    which has the same spectrum and is stable.
    """
    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    mu_a, mu_b = A.mean(0), B.mean(0)
    cov_a = np.atleast_2d(np.cov(A, rowvar=False))
    cov_b = np.atleast_2d(np.cov(B, rowvar=False))
    w, V = np.linalg.eigh(cov_a)
    root_a = (V * np.sqrt(np.clip(w, 0, None))) @ V.T
    M = root_a @ cov_b @ root_a
    ev = np.clip(np.linalg.eigvalsh((M + M.T) / 2), 0, None)
    value = ((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * np.sqrt(ev).sum()
    return float(max(value, 0.0))


def class_entropy(labels: np.ndarray, n_classes: int) -> float:
    """Entropy (nats) of the histogram of predicted classes; ``log n_classes`` is full coverage."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=n_classes)
    p = counts[counts > 0] / counts.sum()
    return float(max(0.0, -(p * np.log(p)).sum()))  # 0.0, not -0.0, for one class
