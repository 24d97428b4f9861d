"""One ``nn.Module`` for every model: corrupt → encode → head → decode → likelihood.

The models of aekit are configurations of these parts:

==================  ==============  ===============  ===================  ============
model               corruption      head q(z|x)      likelihood p(x|z)    regulariser
==================  ==============  ===============  ===================  ============
Autoencoder         —               deterministic    Gaussian (σ = 1)     L1 on codes
DenoisingAE         Gaussian noise  deterministic    Gaussian (σ = 1)     —
VAE                 —               Gaussian         any                  KL to p(z)
VAE, two levels     —               Gaussian         any                  KL, both levels
VQVAE               —               quantised        any                  commitment
==================  ==============  ===============  ===================  ============

``forward`` returns the loss and its named parts, each a mean over the batch of
per-example sums over features, in nats. Every objective returns the same parts:
``loss``, ``nll`` and ``mse`` (no ``mse`` for a mixed table, whose likelihood has
none), for a Gaussian head also ``kl`` and ``elbo``, and for a quantising head
(:mod:`aekit.core.quantisation`) ``commitment``, ``perplexity`` and ``codebook_usage``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from aekit.core.corruption import GaussianNoise
from aekit.core.heads import CodeDistribution
from aekit.core.likelihoods import Bernoulli, Likelihood
from aekit.core.priors import StandardNormalPrior
from aekit.core.user_networks import FlatFeatures, warn_if_probabilities

OBJECTIVES = ("elbo", "iwae")


class AutoencoderModule(nn.Module):
    """The composed model.

    Parameters
    ----------
    encoder, decoder : nn.Module
        Networks from :func:`aekit.core.networks.build_networks`.
    head : nn.Module
        Returns a :class:`~aekit.core.heads.CodeDistribution` from encoder features.
    likelihood : Likelihood
        The decoder likelihood.
    corruption : GaussianNoise, optional
        Applied to the encoder's input in training (fresh noise every batch); the
        target stays the clean input. Default: none (σ = 0).
    walkback : int, default=0
        Walkback training steps (needs a corruption): also train on the states
        that ``walkback`` steps of the sampling chain reach from each corrupted
        input, with the clean input as their target (see :meth:`walk_back`).
    resample : nn.Module, optional
        Applied to the batch itself in training, input and target alike
        (:class:`~aekit.core.corruption.DynamicBinarization`).
    code_l1 : float, default=0
        Weight of the L1 penalty on the code (sparsity), per example.
    free_bits : float, default=0
        Minimum KL per code dimension (nats, batch-averaged) in the objective.
    objective : {"elbo", "iwae"}
        Training objective of a Gaussian head; ``"iwae"`` uses ``iwae_k`` samples.
    prior : nn.Module, optional
        p(z), from :mod:`aekit.core.priors`, which owns its KL term (default: the
        standard normal).
    n_classes : int, default=0
        A conditional model's number of classes: the one-hot class ``c`` joins the
        encoder's features (the head sees ``[h(x), c]``) and the code (the decoder
        sees ``[z, c]``), so q(z|x, c) and p(x|z, c); the prior stays p(z).
        Every method then takes ``condition``, the class indices (n,). 0: none.
    """

    def __init__(
        self,
        encoder: nn.Module,
        head: nn.Module,
        decoder: nn.Module,
        likelihood: Likelihood,
        *,
        corruption: GaussianNoise | None = None,
        walkback: int = 0,
        resample: nn.Module | None = None,
        code_l1: float = 0.0,
        free_bits: float = 0.0,
        objective: str = "elbo",
        iwae_k: int = 1,
        prior: nn.Module | None = None,
        n_classes: int = 0,
    ) -> None:
        super().__init__()
        self.encoder, self.head, self.decoder, self.likelihood = encoder, head, decoder, likelihood
        self.corruption = GaussianNoise(0.0) if corruption is None else corruption
        self.walkback = walkback
        self.resample = resample
        self.code_l1 = code_l1
        self.free_bits = free_bits
        self.objective = objective
        self.iwae_k = iwae_k
        self.n_classes = n_classes
        self.prior = StandardNormalPrior(head.latent_dim) if prior is None else prior
        if hasattr(self.prior, "attach"):  # a prior made of the encoder's posteriors
            self.prior.attach(self.encode)
        if isinstance(encoder, FlatFeatures) and isinstance(likelihood, Bernoulli):
            warn_if_probabilities(decoder, head.latent_dim)  # the user's own networks

    # -- the parts -------------------------------------------------------------------
    def corrupt(self, x: torch.Tensor, noise_std: float | None = None) -> torch.Tensor:
        """The corruption of ``x`` (at σ = ``noise_std`` when given)."""
        return self.corruption(x, noise_std)

    def walk_back(
        self, x_tilde: torch.Tensor, x: torch.Tensor, condition: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Walkback (Bengio et al. 2013, §3.4): inputs the chain visits, and their targets.

        From ``x̃₀ = corrupt(x)`` the chain ``x̃ₖ₊₁ = corrupt(reconstruct(x̃ₖ))`` (the
        sampler's step, with the mean reconstruction) runs ``walkback`` steps without
        gradients; every ``x̃ₖ`` is returned with the clean ``x`` as its target. A
        denoiser trained only on ``x̃₀`` never sees where its own chain wanders, so
        spurious attractors there go unpunished; these states teach it to lead back.
        """
        states = [x_tilde]
        with torch.no_grad():
            for _ in range(self.walkback):
                states.append(self.corrupt(self.reconstruct(states[-1], condition)))
        return torch.cat(states), torch.cat([x] * len(states))

    def conditioned(self, h: torch.Tensor, condition: torch.Tensor | None) -> torch.Tensor:
        """``[h, one_hot(condition)]`` for a conditional model; ``h`` otherwise."""
        if not self.n_classes:
            return h
        if condition is None:
            raise ValueError(
                "this model is conditional and this method takes no class: encode with "
                "transform(X, y) and decode with inverse_transform(codes, y)."
            )
        return join_one_hot(h, condition, self.n_classes)

    def encode(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> CodeDistribution:
        return self.head(self.conditioned(self.encoder(x), condition))

    def decode(self, z: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """Decoder output (likelihood parameters) for codes ``z`` of shape (n, d).

        Always float32, also under bf16 autocast: the log-likelihood is summed over
        hundreds of values and bf16 would lose it to rounding."""
        return self.decoder(self.conditioned(z, condition)).float()

    def reconstruct(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """E[x | z = mean code of x]."""
        return self.likelihood.mean(self.decode(self.encode(x, condition).mean, condition))

    # -- the objective ---------------------------------------------------------------
    def forward(
        self, x: torch.Tensor, kl_weight: float = 1.0, condition: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """Loss and its parts for a clean batch ``x`` (of classes ``condition``, for a
        conditional model); corruption, resampling and walkback apply in training.
        ``kl_weight`` (β, or a warm-up's value) weights the KL in ``loss`` only,
        never in the reported parts."""
        if self.training:
            if self.resample is not None:
                x = self.resample(x)
            x_in = self.corrupt(x)
            if self.walkback > 0:
                n_states = self.walkback + 1
                x_in, x = self.walk_back(x_in, x, condition)
                condition = None if condition is None else condition.repeat(n_states)
        else:
            x_in = x
        q = self.encode(x_in, condition)
        if self.objective == "iwae" and q.stochastic:
            return self._iwae_forward(x, q, condition)
        z = q.rsample()
        params = self.decode(z, condition)
        log_px, kl = self._elbo_terms(x, q, z, params)
        parts = {"nll": -log_px.mean()}
        mse = self.likelihood.squared_error(params, x)
        if mse is not None:  # a mixed table has none: training watches the NLL
            parts["mse"] = mse
        loss = parts["nll"]
        if q.stochastic:
            parts["kl"] = kl.sum(-1).mean()
            parts["elbo"] = -(parts["nll"] + parts["kl"])
            kl_term = kl.mean(0).clamp(min=self.free_bits).sum() if self.free_bits else parts["kl"]
            loss = loss + kl_weight * kl_term
        if self.code_l1 > 0:
            parts["code_l1"] = z.abs().sum(-1).mean()
            loss = loss + self.code_l1 * parts["code_l1"]
        parts.update(q.parts)  # a quantiser's commitment loss, perplexity and usage
        parts["loss"] = loss if q.penalty is None else loss + q.penalty
        return parts

    def _elbo_terms(
        self, x: torch.Tensor, q: CodeDistribution, z: torch.Tensor, params: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The ELBO's two terms for codes ``z ~ q``: ``log p(x|z)`` per example, and the
        KL term (n, d), or (n, 1) where it does not split; None for a point mass."""
        kl = self.prior.kl(q, z) if q.stochastic else None
        return self.likelihood.log_prob(params, x), kl

    def elbo(
        self,
        x: torch.Tensor,
        eps: torch.Tensor | None = None,
        condition: torch.Tensor | None = None,
    ) -> tuple[CodeDistribution, torch.Tensor]:
        """``q(z|x)`` and the one-sample ELBO of each example, in nats.

        ``eps``: the standard-normal draws of the code (shape (:attr:`code_draws`,),
        the same for every example: common random numbers, so each example's ELBO
        depends on it alone), the first ``d`` for ``z`` and the rest for a prior with
        a latent variable of its own (:mod:`aekit.core.hierarchy`); fresh draws when
        omitted."""
        q = self.encode(x, condition)
        if eps is None:
            z = q.rsample()
            log_px, kl = self._elbo_terms(x, q, z, self.decode(z, condition))
        else:
            d = self.head.latent_dim
            z = q.reparametrise(eps[:d])
            kl = self.prior.kl(q, z, eps[d:]) if len(eps) > d else self.prior.kl(q, z)
            log_px = self.likelihood.log_prob(self.decode(z, condition), x)
        return q, log_px - kl.sum(-1)

    @property
    def code_draws(self) -> int:
        """Standard-normal draws per example of one ELBO sample: the code's ``d``, and
        a hierarchical prior's own (``extra_draws``)."""
        return self.head.latent_dim + getattr(self.prior, "extra_draws", 0)

    def _iwae_forward(
        self, x: torch.Tensor, q: CodeDistribution, condition: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """The IWAE bound of Burda et al. (2016) as the loss; the other parts are
        those of the ELBO, averaged over the same ``iwae_k`` samples."""
        z = q.rsample(self.iwae_k)  # (k, n, d)
        params = self.decode(z.flatten(0, 1), _repeated(condition, self.iwae_k))
        log_px = self.likelihood.log_prob_samples(params, x, self.iwae_k)
        kl = q.log_prob(z) - self.prior.log_prob(z)  # (k, n)
        log_w = log_px - kl
        bound = torch.logsumexp(log_w, 0) - math.log(self.iwae_k)
        nll, kl = -log_px.mean(), kl.mean()
        parts = {"nll": nll, "kl": kl, "elbo": -(nll + kl)}
        mse = self.likelihood.squared_error(params[: len(x)], x)  # the first sample's
        if mse is not None:
            parts["mse"] = mse
        return {**parts, "loss": -bound.mean()}

    def log_weights(
        self, x: torch.Tensor, q: CodeDistribution, k: int, condition: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``log p(x, z_k) − log q(z_k | x)`` for ``k`` samples: shape (k, n)."""
        z = q.rsample(k)  # (k, n, d)
        params = self.decode(z.flatten(0, 1), _repeated(condition, k))
        log_px = self.likelihood.log_prob_samples(params, x, k)
        return log_px + self.prior.log_prob(z) - q.log_prob(z)


def join_one_hot(h: torch.Tensor, condition: torch.Tensor, n_classes: int) -> torch.Tensor:
    """``[h, one_hot(condition)]``: features and the one-hot classes side by side."""
    one_hot = nn.functional.one_hot(condition.long(), n_classes)
    return torch.cat([h, one_hot.to(h.dtype)], -1)


def _repeated(condition: torch.Tensor | None, k: int) -> torch.Tensor | None:
    """The classes of ``k`` stacked copies of a batch, as ``z.flatten(0, 1)`` orders them."""
    return None if condition is None else condition.repeat(k)
