"""Priors p(z) over codes, each owning its KL term: the standard normal, a
learned Gaussian mixture, or the VampPrior.

The standard normal's KL to a diagonal Gaussian q(z|x) is closed-form
(Kingma & Welling 2014, appendix B). A learned mixture
``p(z) = Σ_k π_k N(z | m_k, diag s_k²)`` lets the prior take the clustered shape
of the codes a VAE uses (Tomczak & Welling 2018; BENCHMARKS.md, "Sample
quality"), at the price of a Monte-Carlo KL. The VampPrior (Tomczak & Welling
2018) is the mixture of the encoder's own posteriors at learned pseudo-inputs,
``p(z) = (1/K) Σ_k q(z | u_k)``: the prior the ELBO would choose, the aggregate
posterior, approximated with K points.

A prior that starts from data has ``start_from(X)``, called once on the training
examples (in the model's units) before training; the others ignore it.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from aekit.core.gaussian import diagonal_mixture_log_density
from aekit.core.heads import CodeDistribution, standard_normal_log_prob

PRIORS = ("standard", "mixture", "vamp")


class StandardNormalPrior(nn.Module):
    """``p(z) = N(0, I)``; no parameters.

    Examples
    --------
    >>> prior = StandardNormalPrior(latent_dim=2)
    >>> prior.sample(3, torch.Generator().manual_seed(0)).shape
    torch.Size([3, 2])
    """

    # N(0, I): a closed-form KL to diagonal Gaussians, spherical paths between draws,
    # traversals centred on 0 with unit steps
    standard_normal = True
    description = "N(0, I)"

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.latent_dim = latent_dim

    def start_from(self, X: torch.Tensor) -> None:
        """Nothing: N(0, I) has no parameters."""

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """``log p(z)`` summed over the last axis."""
        return standard_normal_log_prob(z)

    def kl(self, q: CodeDistribution, z: torch.Tensor) -> torch.Tensor:  # noqa: ARG002
        """KL(q(z|x) ‖ N(0, I)) in closed form, per example and dimension: shape (n, d).

        ``z`` (the sample the reconstruction used) is not needed: the KL is exact.
        """
        return q.kl_to_standard_normal()

    def sample(self, n: int, generator: torch.Generator, temperature: float = 1.0) -> torch.Tensor:
        """``n`` draws on the CPU, shape (n, d), the spread scaled by ``temperature``."""
        return temperature * torch.randn(n, self.latent_dim, generator=generator)


class MixturePrior(nn.Module):
    """``p(z) = Σ_k π_k N(z | m_k, diag s_k²)`` with ``π``, ``m`` and ``s`` learned.

    The means start as draws of N(0, I) and the variances at 1, so the initial
    prior is spread like the standard normal; the weights start equal.

    Parameters
    ----------
    latent_dim : int
    n_components : int

    Examples
    --------
    >>> prior = MixturePrior(latent_dim=2, n_components=3)
    >>> prior.log_prob(torch.zeros(5, 2)).shape
    torch.Size([5])
    """

    standard_normal = False
    description = "a learned Gaussian mixture"

    def __init__(self, latent_dim: int, n_components: int) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.means = nn.Parameter(torch.randn(n_components, latent_dim))
        self.log_vars = nn.Parameter(torch.zeros(n_components, latent_dim))
        self.logits = nn.Parameter(torch.zeros(n_components))

    def start_from(self, X: torch.Tensor) -> None:
        """Nothing: the components start at draws of N(0, I)."""

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """``log p(z)`` for ``z`` of shape (..., d): log-sum-exp over components."""
        per_component = diagonal_mixture_log_density(z, self.means, self.log_vars)
        per_component = per_component + torch.log_softmax(self.logits, -1)
        return torch.logsumexp(per_component, -1)

    def kl(self, q: CodeDistribution, z: torch.Tensor) -> torch.Tensor:
        """One-sample Monte-Carlo KL at ``z ~ q(z|x)``: ``log q(z|x) − log p(z)``.

        It does not split over dimensions, so the shape is (n, 1).
        """
        return (q.log_prob(z) - self.log_prob(z)).unsqueeze(-1)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator, temperature: float = 1.0) -> torch.Tensor:
        """``n`` draws on the CPU: a component by its weight, then its Gaussian with
        the spread scaled by ``temperature``."""
        weights = torch.softmax(self.logits.float(), -1).cpu()
        component = torch.multinomial(weights, n, replacement=True, generator=generator)
        eps = torch.randn(n, self.latent_dim, generator=generator)
        std = torch.exp(0.5 * self.log_vars).cpu()[component]
        return self.means.cpu()[component] + temperature * std * eps


class VampPrior(nn.Module):
    """``p(z) = (1/K) Σ_k q(z | u_k)``: the encoder's posteriors at ``K`` learned
    pseudo-inputs ``u_k`` (Tomczak & Welling 2018).

    The pseudo-inputs live in the model's input space (its units and shape) and start
    as training examples (:meth:`start_from`); the encoder is the model's own, bound
    by :meth:`attach` without being registered here, so its weights are saved once,
    under ``encoder.*``, and the prior's state is ``pseudo_inputs`` alone. Every
    evaluation of ``log p(z)`` encodes the ``K`` pseudo-inputs, so gradients reach
    them and the encoder; the KL is a one-sample Monte-Carlo estimate.

    Parameters
    ----------
    latent_dim : int
    n_pseudo_inputs : int
    input_shape : tuple of int
        The shape of one example as the encoder takes it.
    """

    standard_normal = False
    description = "a VampPrior (the encoder's posteriors at learned pseudo-inputs)"

    def __init__(self, latent_dim: int, n_pseudo_inputs: int, input_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.pseudo_inputs = nn.Parameter(torch.zeros(n_pseudo_inputs, *input_shape))
        self._encode = None

    def attach(self, encode: Callable[[torch.Tensor], CodeDistribution]) -> None:
        """Bind the model's ``encode`` (examples → q(z|x)); a plain attribute, not a
        submodule, so that the encoder is not saved or moved twice."""
        self._encode = encode

    @torch.no_grad()
    def start_from(self, X: torch.Tensor) -> None:
        """Set the pseudo-inputs to ``K`` training examples drawn at random (with
        replacement only when ``X`` has fewer than ``K``), from torch's generator."""
        K = len(self.pseudo_inputs)
        rows = torch.randperm(len(X))[:K] if len(X) >= K else torch.randint(len(X), (K,))
        self.pseudo_inputs.copy_(X[rows.to(X.device)].reshape(self.pseudo_inputs.shape))

    def components(self) -> CodeDistribution:
        """The ``K`` posteriors ``q(z | u_k)``: means and log-variances of shape (K, d)."""
        if self._encode is None:
            raise RuntimeError("a VampPrior needs the model's encoder: call attach(encode).")
        return self._encode(self.pseudo_inputs)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """``log p(z)`` for ``z`` of shape (..., d): log-sum-exp over the ``K``
        posteriors, minus ``log K``."""
        q = self.components()
        per_component = diagonal_mixture_log_density(z, q.mean, q.log_var)  # (..., K)
        return torch.logsumexp(per_component, -1) - math.log(len(self.pseudo_inputs))

    def kl(self, q: CodeDistribution, z: torch.Tensor) -> torch.Tensor:
        """One-sample Monte-Carlo KL at ``z ~ q(z|x)``: ``log q(z|x) − log p(z)``,
        shape (n, 1)."""
        return (q.log_prob(z) - self.log_prob(z)).unsqueeze(-1)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator, temperature: float = 1.0) -> torch.Tensor:
        """``n`` draws on the CPU: a pseudo-input uniformly, then its posterior with the
        spread scaled by ``temperature``."""
        q = self.components()
        k = torch.randint(len(self.pseudo_inputs), (n,), generator=generator)
        eps = torch.randn(n, self.latent_dim, generator=generator)
        std = torch.exp(0.5 * q.log_var).float().cpu()[k]
        return q.mean.float().cpu()[k] + temperature * std * eps


def make_prior(
    kind: str, latent_dim: int, n_components: int, input_shape: tuple[int, ...] = ()
) -> nn.Module:
    """The prior named ``kind`` (one of :data:`PRIORS`); ``n_components`` counts a
    mixture's components or a VampPrior's pseudo-inputs, of shape ``input_shape``."""
    if kind == "mixture":
        return MixturePrior(latent_dim, n_components)
    if kind == "vamp":
        return VampPrior(latent_dim, n_components, input_shape)
    return StandardNormalPrior(latent_dim)
