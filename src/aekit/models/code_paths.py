"""Paths through code space: interpolation between codes and latent traversals."""

from __future__ import annotations

import numpy as np

INTERPOLATIONS = ("linear", "spherical")


def interpolate_codes(
    z0: np.ndarray, z1: np.ndarray, n_steps: int, method: str = "linear"
) -> np.ndarray:
    """Codes from ``z0`` to ``z1`` (both ends included): shape (..., n_steps, d).

    ``"linear"``: ``(1 − t) z0 + t z1``. ``"spherical"`` (slerp): along the great
    circle, ``sin((1 − t)ω)/sin ω · z0 + sin(tω)/sin ω · z1`` with ω the angle
    between the codes; for draws of ``N(0, I)`` in many dimensions it keeps the
    path at the typical norm ``≈ √d``, where linear paths pass through the
    improbable region near 0. Nearly parallel codes fall back to linear.
    """
    if method not in INTERPOLATIONS:
        raise ValueError(f"method must be one of {', '.join(INTERPOLATIONS)}; got {method!r}.")
    if n_steps < 2:
        raise ValueError(f"n_steps must be at least 2; got {n_steps}.")
    z0 = np.asarray(z0, dtype=np.float64)[..., None, :]
    z1 = np.asarray(z1, dtype=np.float64)[..., None, :]
    t = np.linspace(0.0, 1.0, n_steps)[:, None]
    linear = (1 - t) * z0 + t * z1
    if method == "linear":
        return linear
    n0 = np.linalg.norm(z0, axis=-1, keepdims=True)
    n1 = np.linalg.norm(z1, axis=-1, keepdims=True)
    cos = (z0 * z1).sum(-1, keepdims=True) / np.maximum(n0 * n1, 1e-300)
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    sin = np.sin(omega)
    safe = np.where(sin > 1e-6, sin, 1.0)
    spherical = (np.sin((1 - t) * omega) * z0 + np.sin(t * omega) * z1) / safe
    return np.where(sin > 1e-6, spherical, linear)


def traversal_codes(
    center: np.ndarray, scale: np.ndarray, dims: list[int], n_steps: int = 7, span: float = 3.0
) -> np.ndarray:
    """Move one code dimension at a time: shape (len(dims), n_steps, d).

    Row ``i`` holds ``center`` with dimension ``dims[i]`` replaced by
    ``center[j] + t · scale[j]`` for ``t`` evenly spaced in ``[−span, span]``.
    """
    center = np.asarray(center, dtype=np.float64)
    t = np.linspace(-span, span, n_steps)
    out = np.repeat(np.repeat(center[None, None], len(dims), 0), n_steps, 1)
    for i, j in enumerate(dims):
        out[i, :, j] = center[j] + t * scale[j]
    return out
