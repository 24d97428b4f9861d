"""The variational autoencoder (its ELBO and log-likelihood: :mod:`aekit.models.vae_densities`)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar

import numpy as np
from torch import nn

from aekit.core.corruption import BINARIZE, DynamicBinarization, UniformDequantization
from aekit.core.heads import GaussianHead
from aekit.core.hierarchy import two_level_prior
from aekit.core.likelihoods import Likelihood, make_likelihood
from aekit.core.module import OBJECTIVES
from aekit.core.priors import PRIORS, make_prior
from aekit.data.values import BINARIZATION_SEEDS, binarize, dequantize, is_8bit
from aekit.errors import DataError
from aekit.models.mixed_tables import TableMixin
from aekit.models.neural import NeuralAutoencoder
from aekit.models.neural_params import DEEP_CONSTRAINTS
from aekit.models.vae_densities import DensityMixin
from aekit.training.loop import TrainConfig
from aekit.validation import Check, flag, one_of, positive

ACTIVE_THRESHOLD = 0.01  # Burda et al.'s activity threshold for a code dimension


class VAE(DensityMixin, TableMixin, NeuralAutoencoder, kind="vae"):
    """Variational autoencoder: ``p(z) = N(0, I)``, ``q(z|x) = N(μ(x), diag v²(x))``.

    Trained by maximising the ELBO ``E_q log p(x|z) − KL(q(z|x) ‖ p(z))`` with the
    reparametrisation ``z = μ + v ⊙ ε`` and the closed-form KL, or the IWAE bound;
    ``prior="mixture"`` learns a Gaussian-mixture p(z) instead, ``prior="vamp"`` a
    VampPrior; ``levels=2`` adds a second stochastic level.
    Every number it reports is in nats per example with all constants included.

    Parameters
    ----------
    latent_dim : int, default=16
    likelihood : {"gaussian", "gaussian-learned", "bernoulli"}, default="gaussian"
        ``"gaussian"``: ``N(x | μ(z), σ² I)`` with ``sigma`` fixed.
        ``"gaussian-learned"``: the variance is learned — per value from the
        decoder, or one shared σ when ``shared_variance=True`` — and bounded below
        by σ = 1e-3 so the density cannot collapse to infinity. ``"bernoulli"``:
        for data in [0, 1], computed on logits.
    sigma : float, default=0.1
        The fixed decoder standard deviation of ``"gaussian"``; 0.1 suits data in
        [0, 1], where σ = 1 lets the KL collapse to zero (BENCHMARKS.md, "Defaults").
    shared_variance : bool, default=False
        With ``"gaussian-learned"``, learn one σ for all values.
    prior : {"standard", "mixture", "vamp"}, default="standard"
        ``"standard"``: ``p(z) = N(0, I)`` with the closed-form KL. ``"mixture"``:
        a Gaussian mixture of ``prior_components`` diagonal components whose
        weights, means and variances are learned with the rest
        (:class:`aekit.core.priors.MixturePrior`); the KL is then a one-sample
        Monte-Carlo estimate, and the log-likelihood and prior sampling use it
        (what it does to samples: BENCHMARKS.md, "Sample quality"). ``"vamp"``:
        the VampPrior, the mean of the encoder's posteriors at ``pseudo_inputs``
        learned inputs that start as training examples
        (:class:`aekit.core.priors.VampPrior`); its KL is Monte-Carlo too.
    prior_components : int, default=10
        Components of the mixture prior.
    pseudo_inputs : int, default=500
        Pseudo-inputs K of the VampPrior.
    levels : {1, 2}, default=1
        ``2``: ``z2 ~ p(z2)``, ``z1 ~ p(z1 | z2)``, ``x ~ p(x | z1)`` with inference
        ``q(z1 | x) q(z2 | z1)`` (Burda et al.'s two layers; the reason for this variant:
        :mod:`aekit.core.hierarchy`). ``z1`` has ``latent_dim`` dimensions, ``z2`` half as
        many, the networks between them two tanh layers of ``max(latent_dim, 32)``; the
        ELBO's KL, the IWAE bound and ``log p(x)`` are then sampled over both levels.
        ``prior`` is then the prior over ``z2`` (a VampPrior's components are
        ``q(z2 | u_k)``, through the mean of ``q(z1 | u_k)``).
    beta : float, default=1.0
        Weight of the KL term in the training objective (β-VAE); the reported ELBO
        always uses β = 1.
    kl_warmup_epochs : int, default=0
        Raise the KL weight linearly to ``beta`` over this many epochs: epoch
        ``e = 1, 2, …`` weighs it by ``beta · min(1, e / kl_warmup_epochs)``.
    free_bits : float, default=0
        Minimum KL per code dimension (nats) in the training objective.
    objective : {"elbo", "iwae"}, default="elbo"
        Train on the ELBO or on the IWAE bound with ``k`` samples (Burda et al. 2016).
    k : int, default=5
        Importance samples of the IWAE objective.
    binarize : {"none", "dynamic"}, default="none"
        ``"dynamic"``: each training batch is a fresh Bernoulli draw of the grey
        levels (for the Bernoulli likelihood on grey-level images). Evaluate on a
        fixed, seeded binarisation (:func:`aekit.data.sources.binarize`, with the seeds of
        :mod:`aekit.runs.evaluation`).
    dequantize : bool, default=False
        For 8-bit data (levels k/255 in [0, 1]) and a Gaussian likelihood: each
        training batch gets fresh uniform noise in [0, 1/256) (Theis et al. 2016), so
        that the density bounds the probabilities of the 8-bit values; evaluate on a
        fixed dequantisation (:func:`aekit.data.sources.dequantize`), where
        :func:`aekit.runs.evaluation.evaluate` also gives bits per dimension.
    scale : {"auto", "none", "minmax", "standard"}, default="auto"
        As in :class:`Autoencoder`; likelihoods and ELBOs include the scaling's
        Jacobian, so they are densities of the data in the user's units.
    architecture, hidden, activation, norm, encoder, decoder, epochs, batch_size, lr, weight_decay,
    lr_schedule, grad_clip, early_stopping, validation_fraction, start, device, n_threads,
    random_state, verbose, contamination, column_types, conditional
        As in :class:`Autoencoder` (a mixed table's ELBO sums its columns' likelihoods).

    Examples
    --------
    >>> import numpy as np
    >>> from aekit import VAE
    >>> X = np.random.default_rng(0).random((64, 10), dtype=np.float32)
    >>> vae = VAE(latent_dim=2, hidden=(16,), epochs=2, random_state=0).fit(X)
    >>> vae.log_likelihood(X, n_samples=10, random_state=0).shape
    (64,)
    """

    _head = GaussianHead
    score_measure = "ELBO per example (nats)"
    _constraints: ClassVar[dict[str, Check]] = {
        **DEEP_CONSTRAINTS,
        "conditional": flag,
        "sigma": positive(),
        "shared_variance": flag,
        "prior": one_of(PRIORS),
        "prior_components": positive(integer=True),
        "pseudo_inputs": positive(integer=True),
        "levels": one_of((1, 2)),
        "beta": positive(zero=True),
        "kl_warmup_epochs": positive(integer=True, zero=True),
        "free_bits": positive(zero=True),
        "objective": one_of(OBJECTIVES),
        "k": positive(integer=True),
        "binarize": one_of(BINARIZE),
        "dequantize": flag,
    }

    def __init__(
        self,
        latent_dim: int = 16,
        *,
        likelihood: str = "gaussian",
        sigma: float = 0.1,
        shared_variance: bool = False,
        prior: str = "standard",
        prior_components: int = 10,
        pseudo_inputs: int = 500,
        levels: int = 1,
        beta: float = 1.0,
        kl_warmup_epochs: int = 0,
        free_bits: float = 0.0,
        objective: str = "elbo",
        k: int = 5,
        binarize: str = "none",
        dequantize: bool = False,
        scale: str = "auto",
        architecture: str = "mlp",
        hidden: tuple[int, ...] | None = None,
        activation: str = "relu",
        norm: str = "none",
        encoder: nn.Module | None = None,
        decoder: nn.Module | None = None,
        epochs: int | None = None,
        batch_size: int = 128,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        lr_schedule: str = "none",
        grad_clip: float | None = None,
        early_stopping: int | None = None,
        validation_fraction: float = 0.1,
        start: str = "auto",
        device: str = "auto",
        n_threads: int | str | None = None,
        random_state: int | None = None,
        verbose: bool | None = None,
        contamination: str | float = "auto",
        column_types: dict[str, str] | None = None,
        conditional: bool = False,
    ) -> None:
        self.latent_dim = latent_dim
        self.likelihood = likelihood
        self.sigma = sigma
        self.shared_variance = shared_variance
        self.prior = prior
        self.prior_components = prior_components
        self.pseudo_inputs = pseudo_inputs
        self.levels = levels
        self.beta = beta
        self.kl_warmup_epochs = kl_warmup_epochs
        self.free_bits = free_bits
        self.objective = objective
        self.k = k
        self.binarize = binarize
        self.dequantize = dequantize
        self.scale = scale
        self.architecture = architecture
        self.hidden = hidden
        self.activation = activation
        self.norm = norm
        self.encoder = encoder
        self.decoder = decoder
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.lr_schedule = lr_schedule
        self.grad_clip = grad_clip
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.start = start
        self.device = device
        self.n_threads = n_threads
        self.random_state = random_state
        self.verbose = verbose
        self.contamination = contamination
        self.column_types = column_types
        self.conditional = conditional

    def _validate_params(self) -> None:
        super()._validate_params()
        weighted = {"beta": self.beta != 1, "kl_warmup_epochs": self.kl_warmup_epochs > 0}
        weighted["free_bits"] = self.free_bits > 0
        if self.objective == "iwae" and any(weighted.values()):
            name = next(k for k, v in weighted.items() if v)
            raise ValueError(
                f"{name} weights the ELBO's KL term, which the IWAE bound does not have; "
                "use objective='elbo' or leave beta=1, kl_warmup_epochs=0, free_bits=0."
            )
        if self.dequantize and self.binarize == "dynamic":
            raise ValueError("dequantize and binarize='dynamic' exclude each other; pick one.")
        if self.binarize == "dynamic" and self.likelihood != "bernoulli":
            raise ValueError(
                "binarize='dynamic' draws binary data for the Bernoulli likelihood; use "
                "likelihood='bernoulli', or binarize='none' for a Gaussian likelihood."
            )
        if self.dequantize and not self.likelihood.startswith("gaussian"):
            raise ValueError(
                "dequantize applies to the Gaussian likelihoods, densities of continuous "
                "values; the Bernoulli likelihood models the values themselves."
            )
        if (self.prior != "standard" or self.levels == 2) and self.free_bits > 0:
            raise ValueError(
                "free_bits needs the per-dimension KL of the standard prior; "
                "use prior='standard', levels=1 or free_bits=0."
            )

    @property
    def dequantized_data(self) -> bool:
        return bool(self.dequantize)

    def _check_training_values(self, X: np.ndarray) -> None:
        super()._check_training_values(X)  # binarize='dynamic' has Bernoulli's range
        if not self.dequantize:
            return
        if self.scale_ != "none":
            raise ValueError(
                f"dequantize adds noise of width 1/256 to values in [0, 1], which scale="
                f"{self.scale!r} would change; use scale='none' for 8-bit data in [0, 1]."
            )
        if not is_8bit(X):
            raise DataError(
                "dequantize=True expects 8-bit levels k/255 in [0, 1] (images, or uint8 "
                "arrays), but X holds other values."
            )

    def _likelihood(self) -> Likelihood:
        if self._table is not None:  # a mixed table: a likelihood per column
            return super()._likelihood()
        return make_likelihood(self.likelihood, self.sigma, self.shared_variance)

    def _as_evaluated(self, X: np.ndarray) -> np.ndarray:
        seed = BINARIZATION_SEEDS["val"]  # as the validation split of a run is drawn
        if self.binarize == "dynamic":
            return binarize(X, seed=seed)
        return dequantize(X, seed=seed) if self.dequantize else X

    def _stops_early(self) -> bool:
        # early stopping watches the ELBO; a weighted KL trains for something else
        return self.beta == 1 and self.kl_warmup_epochs == 0 and self.free_bits == 0

    def _train_config(self, n_samples: int) -> TrainConfig:
        config = super()._train_config(n_samples)
        return replace(config, beta=float(self.beta), kl_warmup_epochs=int(self.kl_warmup_epochs))

    def _module_options(self, model_shape: tuple[int, ...]) -> dict[str, Any]:
        K = self.pseudo_inputs if self.prior == "vamp" else self.prior_components
        return {
            "free_bits": float(self.free_bits),
            "objective": self.objective,
            "iwae_k": int(self.k),
            "resample": (
                DynamicBinarization()
                if self.binarize == "dynamic"
                else UniformDequantization()
                if self.dequantize
                else None
            ),
            "prior": two_level_prior(self.latent_dim, self.prior, int(K), model_shape)
            if self.levels == 2
            else make_prior(self.prior, self.latent_dim, int(K), model_shape),
        }

    # -- after training --------------------------------------------------------------
    def _summarise_training(self, sample: np.ndarray, held_out: np.ndarray | None) -> None:
        # one pass over the training sample: the ELBO's encoder output is the kept code
        # (issue 17: a 2-epoch fit on 20000 images spent 2% of its time encoding twice)
        codes, scores = self._codes_and_scores(self._to_tensor(sample))
        self._keep_training_codes(sample, codes)
        if held_out is None:
            self._fit_offset(sample, scores)
        else:
            self._fit_offset(held_out)

    def active_units(
        self, X: Any, threshold: float = ACTIVE_THRESHOLD, *, y: Any = None
    ) -> np.ndarray:
        """Which code dimensions the model uses: ``Var_x(E_q[z_j | x]) > threshold``
        over the examples ``X`` (of classes ``y``, for a conditional model; Burda et
        al. 2016, §5.2). A dimension whose
        posterior mean does not move with ``x`` carries no information: its
        posterior is the prior there.

        Returns
        -------
        ndarray of bool, shape (latent_dim,)
        """
        return np.var(self.transform(X, y).astype(np.float64), axis=0) > threshold
