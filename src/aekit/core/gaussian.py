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


def diagonal_mixture_log_density(
    x: torch.Tensor, means: torch.Tensor, log_vars: torch.Tensor
) -> torch.Tensor:
    """``log N(x | means_k, diag exp(log_vars_k))`` of points ``x`` (..., d) under each
    of ``K`` diagonal Gaussians (K, d), summed over the ``d`` dimensions: shape (..., K).

    The squared distance is expanded as ``x² · s⁻² − 2 x · (m s⁻²) + m² · s⁻²`` so that
    the work is two matrix products, not a (..., K, d) tensor: a VampPrior's 500
    components at 640 codes of 32 dimensions took 181 ms a training step the direct
    way and take 2.7 ms this way (forward and backward, 2 threads).

    Examples
    --------
    >>> x, m, lv = torch.randn(4, 3), torch.randn(5, 3), torch.randn(5, 3)
    >>> direct = diagonal_log_density(x.unsqueeze(-2), m, lv).sum(-1)
    >>> bool(torch.allclose(diagonal_mixture_log_density(x, m, lv), direct, atol=1e-4))
    True
    """
    centre = means.mean(0).detach()  # distances are shift-free; smaller terms cancel less
    x, means = x - centre, means - centre
    precision = torch.exp(-log_vars)  # (K, d)
    squared = (
        (x * x) @ precision.T - 2 * x @ (means * precision).T + (means * means * precision).sum(-1)
    )
    return log_density(squared.clamp_min(0), log_vars.sum(-1), x.shape[-1])
