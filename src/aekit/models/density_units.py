"""Bits per dimension beside nats, for a VAE's densities of dequantised 8-bit data."""

from __future__ import annotations

from typing import Any

import numpy as np

from aekit.data.values import bits_per_dim, is_8bit


def density_units(
    likelihood: str, dequantized: bool, D: int, X: np.ndarray, metrics: dict[str, Any]
) -> dict[str, Any]:
    """Bits per dimension beside the nats of ``metrics`` for a Gaussian ``likelihood``
    trained on dequantised data of ``D`` values, or a note why there are none."""
    if not likelihood.startswith("gaussian"):
        return {}
    if dequantized:
        out = {"elbo_bits_per_dim": bits_per_dim(metrics["elbo_nats"], D)}
        if "log_likelihood_nats" in metrics:
            out["bits_per_dim"] = bits_per_dim(metrics["log_likelihood_nats"], D)
        out["bits_per_dim_note"] = (
            "densities of the dequantised 8-bit values (fixed uniform noise in "
            "[0, 1/256)); bits/dim = (-log p + D log 256) / (D log 2), an upper bound "
            "on the 8-bit code length."
        )
        return out
    if is_8bit(X):
        return {
            "bits_per_dim_note": "8-bit data under a continuous density: nats are "
            "not log-probabilities of these values and no bits/dim is given; train "
            "with dequantize."
        }
    return {}
