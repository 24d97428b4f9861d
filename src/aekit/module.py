"""One ``nn.Module`` for every model: corrupt → encode → head → decode → likelihood.

The models of aekit are configurations of these parts (see STYLE.md):

==================  ==============  ===============  ===================  ============
model               corruption      head q(z|x)      likelihood p(x|z)    regulariser
==================  ==============  ===============  ===================  ============
Autoencoder         —               deterministic    Gaussian (σ = 1)     L1 on codes
DenoisingAE         Gaussian noise  deterministic    Gaussian (σ = 1)     —
VAE                 —               Gaussian         any                  KL (× β)
==================  ==============  ===============  ===================  ============

``forward`` returns the loss and its named parts, each a mean over the batch of
per-example sums over features, in nats.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from aekit.heads import CodeDistribution
from aekit.likelihoods import Likelihood
from aekit.priors import StandardNormalPrior


class AutoencoderModule(nn.Module):
    """The composed model.

    Parameters
    ----------
    encoder, decoder : nn.Module
        Networks from :func:`aekit.networks.build_networks`.
    head : nn.Module
        Returns a :class:`~aekit.heads.CodeDistribution` from encoder features.
    likelihood : Likelihood
        The decoder likelihood.
    noise_std : float, default=0
        Standard deviation of the Gaussian corruption applied to inputs in training
        (fresh noise every batch); the target stays the clean input.
    walkback : int, default=0
        Walkback training steps (needs ``noise_std > 0``): also train on the states
        that ``walkback`` steps of the sampling chain reach from each corrupted
        input, with the clean input as their target (see :meth:`walk_back`).
    binarize : bool, default=False
        Dynamic binarisation: in training, replace each grey level by a Bernoulli
        draw with that probability (a fresh draw every time the batch is seen).
    code_l1 : float, default=0
        Weight of the L1 penalty on the code (sparsity), per example.
    kl_weight : float, default=1
        β: the weight of the KL term in the training objective.
    free_bits : float, default=0
        Minimum KL per code dimension (nats, batch-averaged) in the objective.
    objective : {"elbo", "iwae"}
        Training objective; ``"iwae"`` uses ``iwae_k`` samples.
    prior : nn.Module, optional
        p(z), from :mod:`aekit.priors` (default: the standard normal, whose KL is
        closed-form; other priors get a one-sample Monte-Carlo KL).
    """

    def __init__(
        self,
        encoder: nn.Module,
        head: nn.Module,
        decoder: nn.Module,
        likelihood: Likelihood,
        *,
        noise_std: float = 0.0,
        walkback: int = 0,
        binarize: bool = False,
        code_l1: float = 0.0,
        kl_weight: float = 1.0,
        free_bits: float = 0.0,
        objective: str = "elbo",
        iwae_k: int = 1,
        prior: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.encoder, self.head, self.decoder, self.likelihood = encoder, head, decoder, likelihood
        self.noise_std = noise_std
        self.walkback = walkback
        self.binarize = binarize
        self.code_l1 = code_l1
        self.kl_weight = kl_weight
        self.free_bits = free_bits
        self.objective = objective
        self.iwae_k = iwae_k
        self.prior = StandardNormalPrior(head.latent_dim) if prior is None else prior

    # -- the parts -------------------------------------------------------------------
    def corrupt(self, x: torch.Tensor, noise_std: float | None = None) -> torch.Tensor:
        """``x + ε``, ``ε ~ N(0, σ² I)``."""
        std = self.noise_std if noise_std is None else noise_std
        return x + std * torch.randn_like(x) if std > 0 else x

    def walk_back(
        self, x_tilde: torch.Tensor, x: torch.Tensor
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
                states.append(self.corrupt(self.reconstruct(states[-1])))
        return torch.cat(states), torch.cat([x] * len(states))

    def encode(self, x: torch.Tensor) -> CodeDistribution:
        return self.head(self.encoder(x))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Decoder output (likelihood parameters) for codes ``z`` of shape (n, d).

        Always float32, also under bf16 autocast: the log-likelihood is summed over
        hundreds of values and bf16 would lose it to rounding."""
        return self.decoder(z).float()

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """E[x | z = mean code of x]."""
        return self.likelihood.mean(self.decode(self.encode(x).mean))

    # -- the objective ---------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Loss and its parts for a clean batch ``x`` (corruption applies in training)."""
        if self.training and self.binarize:
            x = torch.bernoulli(x)
        x_in = self.corrupt(x) if self.training else x
        if self.training and self.walkback > 0:
            x_in, x = self.walk_back(x_in, x)
        q = self.encode(x_in)
        if self.objective == "iwae" and q.stochastic:
            return self._iwae_forward(x, q)
        z = q.rsample()
        params = self.decode(z)
        log_px = self.likelihood.log_prob(params, x)
        x_hat = self.likelihood.mean(params)
        parts = {
            "nll": -log_px.mean(),
            "mse": ((x_hat - x) ** 2).flatten(1).mean(1).mean(),
        }
        loss = parts["nll"]
        if q.stochastic:
            if self.prior.standard_normal:
                kl_dims = q.kl_to_standard_normal()
                parts["kl"] = kl_dims.sum(-1).mean()
                kl_term = kl_dims.mean(0)
                if self.free_bits > 0:
                    kl_term = kl_term.clamp(min=self.free_bits)
                kl_term = kl_term.sum()
            else:  # one-sample Monte-Carlo KL, at the z the reconstruction used
                parts["kl"] = (q.log_prob(z) - self.prior.log_prob(z)).mean()
                kl_term = parts["kl"]
            parts["elbo"] = -(parts["nll"] + parts["kl"])
            loss = loss + self.kl_weight * kl_term
        if self.code_l1 > 0:
            parts["code_l1"] = z.abs().sum(-1).mean()
            loss = loss + self.code_l1 * parts["code_l1"]
        parts["loss"] = loss
        return parts

    def _iwae_forward(self, x: torch.Tensor, q: CodeDistribution) -> dict[str, torch.Tensor]:
        log_w = self.log_weights(x, q, self.iwae_k)
        bound = torch.logsumexp(log_w, 0) - math.log(self.iwae_k)
        elbo = log_w.mean(0)
        return {"loss": -bound.mean(), "iwae": bound.mean(), "elbo": elbo.mean()}

    def log_weights(self, x: torch.Tensor, q: CodeDistribution, k: int) -> torch.Tensor:
        """``log p(x, z_k) − log q(z_k | x)`` for ``k`` samples: shape (k, n)."""
        z = q.rsample(k)  # (k, n, d)
        params = self.decode(z.flatten(0, 1))
        x_rep = x.expand(k, *x.shape).flatten(0, 1)
        log_px = self.likelihood.log_prob(params, x_rep).view(k, -1)
        return log_px + self.prior.log_prob(z) - q.log_prob(z)
