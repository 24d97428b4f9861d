"""The Gaussian log-density, written once: every density in aekit with a Gaussian
in it (codes, priors, decoder likelihoods, probabilistic PCA, the densities fitted
to codes) is in nats with all its constants through these two functions.

Examples
--------
>>> import torch
>>> x = torch.tensor([0.5, -1.0])
>>> expected = torch.distributions.Normal(0.0, 2.0).log_prob(x)
>>> got = diagonal_log_density(x, torch.zeros(2), torch.full((2,), math.log(4.0)))
>>> bool(torch.allclose(got, expected))
True
"""

from __future__ import annotations

import math
from typing import TypeVar

import torch

LOG_2PI = math.log(2 * math.pi)

T = TypeVar("T")


def log_density(squared_distance: T, log_det: T | float, dims: int) -> T:
    """``log N(x | μ, Σ) = −½ (d log 2π + log|Σ| + (x−μ)ᵀ Σ⁻¹ (x−μ))`` from the squared
    Mahalanobis distance and ``log|Σ|`` of a ``dims``-dimensional Gaussian; tensors,
    arrays and floats alike."""
    return -0.5 * (dims * LOG_2PI + log_det + squared_distance)


def diagonal_log_density(
    x: torch.Tensor, mean: torch.Tensor, log_var: torch.Tensor
) -> torch.Tensor:
    """``log N(x_i | mean_i, exp(log_var_i))`` of each value (broadcast), not summed."""
    return log_density((x - mean) ** 2 * torch.exp(-log_var), log_var, 1)
