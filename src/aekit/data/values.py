"""What the values of a dataset are, and the seeded draws evaluation makes of them:
8-bit levels, binary values, a fixed binarisation and a fixed dequantisation."""

from __future__ import annotations

import numpy as np

# the seeds of the fixed draws of each split (the validation draw also serves a
# model's own held-out share)
BINARIZATION_SEEDS = {"train": 0, "val": 1, "test": 2}


def binarize(X: np.ndarray, seed: int = 0) -> np.ndarray:
    """A fixed Bernoulli draw of the grey levels in [0, 1], seeded: each value
    becomes 1 with its grey level as the probability.

    The evaluation set of a model trained with dynamic binarisation; the seeds of
    the evaluation protocol are in :mod:`aekit.runs.evaluation`.

    Examples
    --------
    >>> binarize(np.array([[0.0, 1.0, 0.5]], dtype=np.float32), seed=0).shape
    (1, 3)
    """
    rng = np.random.default_rng(seed)
    return (rng.random(X.shape, dtype=np.float32) < X).astype(np.float32)


def dequantize(X: np.ndarray, seed: int = 0) -> np.ndarray:
    """8-bit values in [0, 1] plus fixed, seeded uniform noise in [0, 1/256).

    The evaluation set of a model trained with ``dequantize=True``; the seeds of
    the evaluation protocol are in :mod:`aekit.runs.evaluation`.

    Examples
    --------
    >>> x = dequantize(np.array([[0.0, 1.0]], dtype=np.float32), seed=0)
    >>> bool(((x >= [0.0, 1.0]) & (x < [1 / 256, 1 + 1 / 256])).all())
    True
    """
    rng = np.random.default_rng(seed)
    return (X + rng.random(X.shape, dtype=np.float32) / 256).astype(np.float32)


def is_8bit(X: np.ndarray, rows: int = 4096) -> bool:
    """Whether (the first ``rows`` examples of) ``X`` hold levels k/255 in [0, 1]."""
    head = np.asarray(X[:rows], dtype=np.float64)
    return bool(
        np.all(np.abs(head * 255 - np.round(head * 255)) < 1e-3)
        and np.all(head >= 0)
        and np.all(head <= 1)
    )


def is_binary(X: np.ndarray, rows: int = 4096) -> bool:
    """Whether every value of ``X`` is 0 or 1 (read a slab of ``rows`` at a time)."""
    return all(np.isin(X[i : i + rows], (0.0, 1.0)).all() for i in range(0, len(X), rows))


def bits_per_dim(log_likelihood_nats: float, n_values: int) -> float:
    """Bits per dimension of 8-bit values from the log-density (nats per example)
    of their dequantisation in [0, 1]: each value's bin has width 1/256, so its
    probability is at least the density times 1/256 per value (Jensen over the
    noise) and ``−log₂ P(x) ≤ (−log p(x + u) + D log 256) / (D log 2)``.

    Examples
    --------
    >>> bits_per_dim(0.0, 784)  # a uniform density on [0, 1]^D: 8 bits per value
    8.0
    """
    return (-log_likelihood_nats + n_values * np.log(256)) / (n_values * np.log(2))


def in_unit_interval(X: np.ndarray, rows: int = 4096) -> bool:
    """Whether every value of ``X`` lies in [0, 1] (read a slab of ``rows`` at a time)."""
    return all(
        float(X[i : i + rows].min()) >= 0.0 and float(X[i : i + rows].max()) <= 1.0
        for i in range(0, len(X), rows)
    )
