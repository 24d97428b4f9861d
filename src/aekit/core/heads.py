"""Encoder heads: the code distribution q(z|x), deterministic or Gaussian.

A deterministic head is a point mass: ``rsample()`` returns the mean and there is
no KL term. A Gaussian head outputs a mean and a log-variance (a linear layer,
``v² = exp(log v²)``, as in Kingma & Welling 2014) and samples by reparametrisation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from aekit.core.gaussian import diagonal_log_density, log_density


@dataclass
class CodeDistribution:
    """q(z|x) for a batch: ``mean`` of shape (n, d) and ``log_var`` (None for a point mass).

    A head may add a ``penalty`` to the training loss (a quantiser's commitment loss)
    and named ``parts`` to report beside it."""

    mean: torch.Tensor
    log_var: torch.Tensor | None = None
    penalty: torch.Tensor | None = None
    parts: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def stochastic(self) -> bool:
        return self.log_var is not None

    def rsample(self, n_samples: int | None = None) -> torch.Tensor:
        """Reparametrised sample ``z = μ + v ⊙ ε``: shape (n, d), or (n_samples, n, d)."""
        if self.log_var is None:
            return self.mean if n_samples is None else self.mean.expand(n_samples, *self.mean.shape)
        shape = self.mean.shape if n_samples is None else (n_samples, *self.mean.shape)
        eps = torch.randn(shape, dtype=self.mean.dtype, device=self.mean.device)
        return self.reparametrise(eps)

    def reparametrise(self, eps: torch.Tensor) -> torch.Tensor:
        """``z = μ + v ⊙ ε`` for given standard-normal draws ``ε`` (broadcast)."""
        return self.mean + torch.exp(0.5 * self.log_var) * eps

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log q(z|x) summed over code dimensions; ``z`` is (..., n, d), result (..., n)."""
        if self.log_var is None:
            raise ValueError("a deterministic code has no density.")
        return diagonal_log_density(z, self.mean, self.log_var).sum(-1)

    def kl_to_standard_normal(self) -> torch.Tensor:
        """Closed-form KL(q(z|x) || N(0, I)) per dimension, shape (n, d):
        ``½ (v² + μ² − log v² − 1)``."""
        if self.log_var is None:
            raise ValueError("a deterministic code has no KL term.")
        return 0.5 * (torch.exp(self.log_var) + self.mean**2 - self.log_var - 1.0)


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """log N(z | 0, I) summed over the last axis."""
    return log_density(z**2, 0.0, 1).sum(-1)


class DeterministicHead(nn.Module):
    """A linear map from encoder features to the code."""

    stochastic = False
    log_var_layer = None  # a point mass has no variance

    def __init__(self, in_features: int, latent_dim: int) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.linear = nn.Linear(in_features, latent_dim)

    @property
    def mean_layer(self) -> nn.Linear:
        return self.linear

    def forward(self, h: torch.Tensor) -> CodeDistribution:
        return CodeDistribution(self.linear(h).float())  # float32 under bf16 autocast


class GaussianHead(nn.Module):
    """Linear layers for the mean and the log-variance of a diagonal Gaussian."""

    stochastic = True

    # exp(-30) .. exp(20): keeps v² positive and finite in float32 without
    # restricting any posterior a trained model would reach.
    LOG_VAR_RANGE = (-30.0, 20.0)

    def __init__(self, in_features: int, latent_dim: int) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.mean = nn.Linear(in_features, latent_dim)
        self.log_var = nn.Linear(in_features, latent_dim)

    @property
    def mean_layer(self) -> nn.Linear:
        return self.mean

    @property
    def log_var_layer(self) -> nn.Linear:
        return self.log_var

    def forward(self, h: torch.Tensor) -> CodeDistribution:
        # float32 under bf16 autocast: the KL and log-densities need its precision
        log_var = self.log_var(h).float().clamp(*self.LOG_VAR_RANGE)
        return CodeDistribution(self.mean(h).float(), log_var)
