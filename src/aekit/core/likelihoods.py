"""Decoder likelihoods p(x|z): log-densities with every constant included.

Each likelihood reads the decoder's raw output (``params``: ``k`` values per
observed value, stacked on the channel/feature axis) and gives
``log p(x|z)`` summed over the observed values, one number per example.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from aekit.core.gaussian import diagonal_log_density

LIKELIHOODS = ("gaussian", "gaussian-learned", "bernoulli")
SOFTPLUS_FLOOR = -25.0  # logits clamped here before softplus in importance sampling


def gaussian_log_prob(x: torch.Tensor, mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """``log N(x | mean, diag(exp(log_var)))`` summed over all but the batch axis.

    ``−(D/2) log 2π − ½ log|Σ| − ½ (x−μ)ᵀ Σ⁻¹ (x−μ)``; ``log_var`` broadcasts.
    """
    log_var = log_var.expand_as(mean)
    return diagonal_log_density(x, mean, log_var).flatten(1).sum(-1)


class Likelihood(nn.Module):
    """Base class. ``params_per_value`` values per observed value come from the decoder."""

    params_per_value = 1
    #: the values it is a density of: "real" numbers, or "unit" for values in [0, 1]
    support = "real"

    def log_prob(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        """E[x|z]: the reconstruction shown to users."""
        raise NotImplementedError

    def sample(self, params: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def squared_error(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor | None:
        """Mean over the batch of the mean squared error per value of ``E[x|z]`` (None
        where the values are not numbers alike: a mixed table)."""
        return ((self.mean(params) - x) ** 2).flatten(1).mean(1).mean()

    def log_prob_samples(self, params: torch.Tensor, x: torch.Tensor, k: int) -> torch.Tensor:
        """``log p(x|z_k)`` for ``k`` codes per example: shape (k, n).

        ``params`` holds the decoder outputs of the ``k × n`` codes, sample-major
        (``k`` blocks of the ``n`` examples); ``x`` holds the ``n`` examples once.
        """
        return self.log_prob(params, x.expand(k, *x.shape).flatten(0, 1)).view(k, -1)


class GaussianFixed(Likelihood):
    """``N(x | μ(z), σ² I)`` with σ fixed; σ = 1 gives ``½‖x − μ‖² + (D/2) log 2π``."""

    def __init__(self, sigma: float = 1.0) -> None:
        super().__init__()
        self.register_buffer("log_var", torch.tensor(2.0 * math.log(sigma)))

    def log_prob(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return gaussian_log_prob(x, params, self.log_var)

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        return params

    def sample(self, params: torch.Tensor) -> torch.Tensor:
        return params + torch.exp(0.5 * self.log_var) * torch.randn_like(params)


class GaussianLearned(Likelihood):
    """``N(x | μ(z), diag(v²))`` with a learned variance, bounded below.

    ``shared=True`` learns one σ for every value (a parameter of this module, so
    DDP keeps it in sync); otherwise the decoder outputs a log-variance per value.
    The bound ``min_sigma`` keeps the density finite: without it a decoder can
    shrink σ on a value it reproduces exactly and drive the likelihood to infinity.
    """

    def __init__(self, shared: bool = False, min_sigma: float = 1e-3) -> None:
        super().__init__()
        self.shared = shared
        self.params_per_value = 1 if shared else 2
        self.min_log_var = 2.0 * math.log(min_sigma)
        if shared:
            self.raw_log_var = nn.Parameter(torch.zeros(()))

    def split(self, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.shared:
            raw = self.raw_log_var
            mean = params
        else:
            mean, raw = params.chunk(2, dim=1)
        # softplus keeps the log-variance above the bound with a smooth gradient
        log_var = self.min_log_var + F.softplus(raw - self.min_log_var)
        return mean, log_var

    def log_prob(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        mean, log_var = self.split(params)
        return gaussian_log_prob(x, mean, log_var)

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        return self.split(params)[0]

    def sample(self, params: torch.Tensor) -> torch.Tensor:
        mean, log_var = self.split(params)
        return mean + torch.exp(0.5 * log_var) * torch.randn_like(mean)


class Bernoulli(Likelihood):
    """``Bernoulli(x | sigmoid(logits))`` for data in [0, 1], computed on logits."""

    support = "unit"

    def log_prob(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        per_value = -F.binary_cross_entropy_with_logits(params, x, reduction="none")
        return per_value.flatten(1).sum(-1)

    def log_prob_samples(self, params: torch.Tensor, x: torch.Tensor, k: int) -> torch.Tensor:
        # log p(x|l) = Σ_j x_j l_j − softplus(l_j) for every x in [0, 1]: the first
        # sum is one matrix-vector product per example and x is never repeated k
        # times, which halves the memory traffic of importance sampling
        logits = params.reshape(k, len(x), -1)
        # torch's CPU softplus takes a slow path below about −30 (5x slower on a trained
        # MNIST decoder's logits, BENCHMARKS.md "IWAE evaluation"); softplus(−25) is
        # 1.4e-11, so the clamp moves a 784-pixel image's log p by under 1.1e-8 nats
        softplus = F.softplus(logits.clamp(min=SOFTPLUS_FLOOR)).sum(-1)
        return torch.einsum("knd,nd->kn", logits, x.flatten(1)) - softplus

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(params)

    def sample(self, params: torch.Tensor) -> torch.Tensor:
        return torch.bernoulli(torch.sigmoid(params))


def make_likelihood(name: str, sigma: float = 1.0, shared_variance: bool = False) -> Likelihood:
    """The likelihood called ``name`` (one of :data:`LIKELIHOODS`)."""
    if name == "gaussian":
        return GaussianFixed(sigma)
    if name == "gaussian-learned":
        return GaussianLearned(shared=shared_variance)
    if name == "bernoulli":
        return Bernoulli()
    raise ValueError(f"likelihood must be one of {', '.join(LIKELIHOODS)}; got {name!r}.")
