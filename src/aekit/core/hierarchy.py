"""A second stochastic level as a prior part: the two-level VAE of Burda et al. (2016).

The generative model is ``z2 ~ N(0, I)``, ``z1 ~ p(z1 | z2)``, ``x ~ p(x | z1)``,
and inference ``q(z1 | x) q(z2 | z1)``, both levels diagonal Gaussians from small
networks. Seen from the first level, the second is a prior over ``z1`` with a
latent variable of its own, ``p(z1) = ∫ p(z1 | z2) p(z2) dz2``, so the composed
module (encoder → head → decoder → likelihood) stays as it is and the hierarchy is
one more prior part, :class:`TwoLevelPrior`.

Why ``x`` depends on ``z1`` alone and ``q(z2 | ·)`` on ``z1`` alone: it is Burda et
al.'s two-layer architecture (82.90 nats on MNIST with k = 50, as recalled), and in
this model ``x`` and ``z2`` are independent given ``z1``, so the true posterior
``p(z2 | z1, x)`` is ``p(z2 | z1)``: conditioning ``q(z2 | ·)`` on ``x`` as well would
add nothing it could use.

Its ``log_prob(z1)`` is a one-sample importance estimate of ``log p(z1)``:
``log p(z1 | z2) + log p(z2) − log q(z2 | z1)`` with ``z2 ~ q(z2 | z1)``. Its
exponential is an unbiased estimate of ``p(z1)``, so where the module forms the
weight ``p(x | z1) p(z1) / q(z1 | x)`` it forms the two-level weight
``p(x, z1, z2) / (q(z1 | x) q(z2 | z1))``: the ELBO, the IWAE bound and the
importance-sampled ``log p(x)`` are those of the two-level model, over both levels.

The top level's prior is itself a prior part: N(0, I), a learned mixture, or a
VampPrior over ``z2`` (Tomczak & Welling 2018's two-level VAE puts it there), whose
components ``q(z2 | u_k)`` are the inference network at the mean of ``q(z1 | u_k)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from aekit.core.heads import CodeDistribution, GaussianHead
from aekit.core.networks import mlp
from aekit.core.priors import StandardNormalPrior, make_prior


class GaussianLayer(nn.Module):
    """A diagonal Gaussian over ``out_dim`` values given ``in_dim`` values: hidden
    layers ``hidden`` (none: linear) then a :class:`~aekit.core.heads.GaussianHead`."""

    def __init__(self, in_dim: int, out_dim: int, hidden: Sequence[int], activation: str) -> None:
        super().__init__()
        self.body = mlp([in_dim, *hidden], activation)
        self.head = GaussianHead(hidden[-1] if hidden else in_dim, out_dim)

    def forward(self, v: torch.Tensor) -> CodeDistribution:
        shape = v.shape[:-1]  # (..., n): the networks take (m, in_dim)
        q = self.head(self.body(v.reshape(-1, v.shape[-1])))
        return CodeDistribution(q.mean.reshape(*shape, -1), q.log_var.reshape(*shape, -1))


class TwoLevelPrior(nn.Module):
    """``p(z1) = ∫ p(z1 | z2) p(z2) dz2`` with the inference ``q(z2 | z1)``.

    Parameters
    ----------
    latent_dim : int
        Dimensions of ``z1``, the code the decoder reads.
    top_dim : int
        Dimensions of ``z2``.
    hidden : sequence of int
        Hidden widths of both networks between the levels (``()``: linear maps).
    activation : str, default="tanh"
    top : nn.Module, optional
        The prior part over ``z2`` (:mod:`aekit.core.priors`); N(0, I) by default.

    Examples
    --------
    >>> prior = TwoLevelPrior(latent_dim=4, top_dim=2, hidden=(8,))
    >>> prior.log_prob(torch.zeros(3, 5, 4)).shape
    torch.Size([3, 5])
    >>> prior.sample(6, torch.Generator().manual_seed(0)).shape
    torch.Size([6, 4])
    """

    standard_normal = False

    def __init__(
        self,
        latent_dim: int,
        top_dim: int,
        hidden: Sequence[int],
        activation: str = "tanh",
        top: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.latent_dim, self.top_dim = latent_dim, top_dim
        self.top = StandardNormalPrior(top_dim) if top is None else top  # p(z2)
        self.conditional = GaussianLayer(top_dim, latent_dim, hidden, activation)  # p(z1 | z2)
        self.inference = GaussianLayer(latent_dim, top_dim, hidden, activation)  # q(z2 | z1)
        self._encode: Callable[[torch.Tensor], CodeDistribution] | None = None

    @property
    def description(self) -> str:
        return f"a two-level hierarchy (z2 ~ {self.top.description}, z1 ~ p(z1 | z2))"

    def attach(self, encode: Callable[[torch.Tensor], CodeDistribution]) -> None:
        """Bind the model's ``encode`` (examples → q(z1|x)) for a top prior made of
        posteriors at pseudo-inputs (a VampPrior over ``z2``); a plain attribute."""
        if hasattr(self.top, "attach"):
            self._encode = encode
            self.top.attach(self._encode_top)

    def _encode_top(self, u: torch.Tensor) -> CodeDistribution:
        """``q(z2 | u)`` of pseudo-inputs ``u``: the inference network at the mean of
        ``q(z1 | u)``."""
        return self.inference(self._encode(u).mean)

    def start_from(self, X: torch.Tensor) -> None:
        """The top prior's start (a VampPrior's pseudo-inputs); the networks start at
        random."""
        self.top.start_from(X)

    @property
    def extra_draws(self) -> int:
        """Standard-normal draws per code that :meth:`log_prob` takes: ``z2``'s."""
        return self.top_dim

    def log_prob(self, z: torch.Tensor, eps: torch.Tensor | None = None) -> torch.Tensor:
        """One-sample importance estimate of ``log p(z1)`` for ``z = z1`` of shape
        (..., d): ``log p(z1 | z2) + log p(z2) − log q(z2 | z1)`` at a reparametrised
        ``z2 ~ q(z2 | z1)``: ``z2 = μ + v ⊙ eps`` for given draws (broadcast), else one
        fresh draw per ``z1`` from torch's generator."""
        q2 = self.inference(z)
        z2 = q2.rsample() if eps is None else q2.reparametrise(eps)
        return self.conditional(z2).log_prob(z) + self.top.log_prob(z2) - q2.log_prob(z2)

    def kl(
        self, q: CodeDistribution, z: torch.Tensor, eps: torch.Tensor | None = None
    ) -> torch.Tensor:
        """One-sample Monte-Carlo estimate of the ELBO's KL term over both levels,
        ``E[log q(z1 | x) + log q(z2 | z1) − log p(z1 | z2) − log p(z2)]``, at the
        ``z = z1 ~ q(z1 | x)`` the reconstruction used (``eps``: ``z2``'s draws, as in
        :meth:`log_prob`): shape (n, 1)."""
        return (q.log_prob(z) - self.log_prob(z, eps)).unsqueeze(-1)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator, temperature: float = 1.0) -> torch.Tensor:
        """``n`` draws of ``z1`` on the CPU: ``z2`` from N(0, I), then ``z1`` from
        ``p(z1 | z2)``, both spreads scaled by ``temperature``."""
        z2 = self.top.sample(n, generator, temperature)
        device = self.conditional.head.mean.weight.device
        p1 = self.conditional(z2.to(device))
        eps = torch.randn(n, self.latent_dim, generator=generator)
        std = torch.exp(0.5 * p1.log_var).float().cpu()
        return p1.mean.float().cpu() + temperature * std * eps


def two_level_prior(
    latent_dim: int,
    top_kind: str = "standard",
    n_components: int = 1,
    input_shape: tuple[int, ...] = (),
) -> TwoLevelPrior:
    """The VAE's second level over ``latent_dim`` code dimensions, in Burda et al.'s
    shapes (100 → 50 dimensions with two tanh layers of 100 between them): ``z2``
    has half the dimensions of ``z1``, the networks two tanh layers of
    ``max(latent_dim, 32)``; over ``z2`` the prior ``top_kind`` (one of
    :data:`~aekit.core.priors.PRIORS`, with ``n_components`` components or
    pseudo-inputs of shape ``input_shape``)."""
    width, top_dim = max(latent_dim, 32), max(1, latent_dim // 2)
    top = make_prior(top_kind, top_dim, n_components, input_shape)
    return TwoLevelPrior(latent_dim, top_dim, (width, width), "tanh", top)
