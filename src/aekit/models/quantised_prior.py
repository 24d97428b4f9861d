"""Generation and densities of a VQ-VAE: the autoregressive prior over its codes.

:class:`CodePriorMixin` gives :class:`~aekit.VQVAE` its code prior
(:class:`~aekit.core.code_prior.CodePrior`), fitted after the autoencoder as the code
densities of the other models are, by the same training loop, to the index codes of
the training examples; ``sample`` draws codes from it and decodes them, and
``score_samples`` is the discrete-latent bound on ``log p(x)``.

The bound (van den Oord et al. 2017, section 3). The encoder is deterministic: its
posterior ``q(z|x)`` is a point mass on the code ``z_q(x)`` (the indices of ``x``), so
``KL(q ‖ p) = −log p(z_q(x))`` and the ELBO is

    log p(x) ≥ log p(x | z_q(x)) + log p(z_q(x)),

which is also the single term ``z = z_q(x)`` of ``p(x) = Σ_z p(x|z) p(z)``, a sum of
non-negative terms. With the uniform prior of training, ``log p(z) = −L log K`` for
``L`` indices (the paper's "constant KL equal to log K" per position); with the fitted
prior it is the prior's log-probability of the code, always at least as tight where the
prior beats uniform on the codes. ``log p(x|z)`` is the decoder likelihood's density
(for the default Gaussian of σ = 1, ``−½‖x − x̂‖² − (D/2) log 2π``), in the user's units.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from aekit.core.code_prior import CodePrior
from aekit.models.estimator import AutoencoderEstimator
from aekit.models.neural_params import default_patience
from aekit.models.outliers import hold_out
from aekit.training.device import to_device
from aekit.training.loop import TrainConfig, Trainer
from aekit.training.threads import thread_limit
from aekit.validation import check_data, check_positive

PRIOR_KEY = "code_prior."  # the prior's weights in the saved safetensors


class CodePriorMixin:
    """The code prior of a fitted VQ-VAE (see the module doc); uses the host's
    ``module_``, ``device_``, ``seed_``, ``levels``, ``codebook_size`` and its
    ``prior_*`` parameters."""

    prior_: CodePrior | None = None
    prior_history_: list[dict[str, float]] | None = None

    # -- fitting ---------------------------------------------------------------------
    def _new_prior(self) -> CodePrior:
        length = int(np.prod(self.module_.head.grid)) * int(self.levels)
        return CodePrior(
            length,
            int(self.codebook_size),
            levels=int(self.levels),
            width=int(self.prior_width),
            layers=int(self.prior_layers),
            heads=int(self.prior_heads),
        )

    def _index_codes(self, X: np.ndarray) -> torch.Tensor:
        """The codes of ``X`` as the prior reads them: (n, L) int64, on the CPU."""
        indices = self._batched(lambda xb: self.module_.encode(xb).indices, self._to_tensor(X))
        return torch.from_numpy(indices.reshape(len(X), -1))

    def fit_prior(self, X: Any, X_val: Any = None) -> CodePriorMixin:
        """Fit the code prior to the index codes of ``X`` (``prior_epochs`` epochs of the
        training loop, Adam at ``prior_lr`` on a cosine schedule, batches of
        ``batch_size``). ``fit`` calls it after training on the rows the autoencoder
        trained on, with the rows it held out (or ``X_val``) as validation data, which
        stop it early and pick its best epoch; call it yourself to fit other data.

        Returns
        -------
        self
        """
        check_is_fitted(self, "module_")
        X = check_data(X, min_samples=2, expected_shape=self.input_shape_)
        codes = self._index_codes(X)
        val = None if X_val is None else self._index_codes(check_data(X_val))
        config = TrainConfig(
            epochs=int(self.prior_epochs),
            batch_size=int(self.batch_size),
            lr=float(self.prior_lr),
            lr_schedule="cosine",
            random_state=self.seed_,
            verbose=bool(self.verbose),
        )
        if val is not None:
            config = replace(config, early_stopping=default_patience(config.epochs))
        n_threads = None if self.n_threads == "adaptive" else self.n_threads
        with torch.random.fork_rng(devices=self._rng_devices()), thread_limit(n_threads):
            torch.manual_seed(self.seed_)
            prior = self._new_prior().to(self.device_)
            trainer = Trainer(prior, config, self.device_)
            on_device = (None if c is None else to_device(c, self.device_) for c in (codes, val))
            self.prior_history_ = trainer.fit(*on_device)
        self.prior_ = prior.eval()
        return self

    def _fit_with_prior(self, X: np.ndarray, X_val: Any) -> None:
        """After the autoencoder's training: the prior on the rows it trained on (the
        same seeded split as ``fit``), then ``offset_`` from the bound."""
        if int(self.prior_epochs) > 0:
            if X_val is None:
                X, X_val = hold_out(X, self.validation_fraction, self.seed_)
            self.fit_prior(X, X_val)
        else:
            self.prior_ = self.prior_history_ = None
        self._fit_offset(self.__dict__.pop("_offset_rows"))

    def _summarise_training(self, sample: np.ndarray, held_out: np.ndarray | None) -> None:
        # offset_ waits for the prior: the scores are its bound (see _fit_with_prior)
        self._keep_training_codes(sample)
        self._offset_rows = sample if held_out is None else held_out

    # -- generating ------------------------------------------------------------------
    @property
    def default_sample_method(self) -> str:
        """``"prior"``: the code prior (``"gmm"`` for a model saved without one)."""
        return "gmm" if self.prior_ is None else "prior"

    def sample(
        self,
        n: int,
        *,
        method: str | None = None,
        random_state: int | None = None,
        mean: bool = True,
        temperature: float = 1.0,
        y: Any = None,
    ) -> np.ndarray:
        """Draw ``n`` examples: codes drawn index by index from the code prior, decoded.

        Parameters
        ----------
        n : int
        method : {"prior", "gaussian", "gmm"}, optional
            ``"prior"`` (the default): the autoregressive code prior. ``"gaussian"`` /
            ``"gmm"``: densities fitted to the quantised vectors, as for a plain
            autoencoder (:meth:`aekit.Autoencoder.sample`).
        random_state : int, optional
            Seed of the draws: the same seed gives the same samples, after
            ``save`` and ``load`` too.
        mean : bool, default=True
            Return the decoder mean E[x|z]; ``False`` returns draws of p(x|z).
        temperature : float > 0, default=1.0
            Each conditional's probabilities are raised to ``1/temperature`` and
            renormalised: below 1 the draws keep to likely codes, and as it nears 0
            every index is the most likely one given those before it.
        y : ignored
            A VQ-VAE is never conditional.

        Returns
        -------
        ndarray of shape (n, *input_shape), float32

        Examples
        --------
        >>> import numpy as np
        >>> from aekit import VQVAE
        >>> X = np.random.default_rng(0).random((64, 10), dtype=np.float32)
        >>> vq = VQVAE(8, latent_dim=3, hidden=(16,), epochs=2, prior_epochs=2, random_state=0)
        >>> vq.fit(X).sample(5, random_state=0, temperature=0.8).shape
        (5, 10)
        """
        if method not in (None, "prior"):
            return super().sample(
                n, method=method, random_state=random_state, mean=mean, temperature=temperature
            )
        check_is_fitted(self, "module_")
        check_positive(n, "n", integer=True)
        check_positive(temperature, "temperature")
        if self.prior_ is None:
            raise ValueError(
                "this VQVAE has no code prior; fit it with prior_epochs > 0 or call fit_prior(X)."
            )
        seed = self.seed_ if random_state is None else int(random_state)
        codes = self.prior_.sample(n, torch.Generator().manual_seed(seed), float(temperature))
        indices = codes.cpu().numpy().reshape(n, *self.code_shape_)
        if mean:
            return self.inverse_transform(indices)
        with torch.random.fork_rng(devices=self._rng_devices()):
            torch.manual_seed(seed)
            decoded = self._decode(self._vectors_of(indices).to(self.device_), mean=False)
        return decoded.reshape(n, *self.input_shape_)

    # -- the bound -------------------------------------------------------------------
    score_measure = "lower bound log p(x|z_q) + log p(z_q) on log p(x) per example (nats)"

    @property
    def score_measure_(self) -> str:
        """The bound's name; a model without a code prior scores by the MSE."""
        return self.score_measure if self.prior_ is not None else AutoencoderEstimator.score_measure

    def bound_terms(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """``log p(x | z_q(x))`` and ``log p(z_q(x))`` of each example in nats (the
        first in the user's units); their sum is the bound on ``log p(x)``."""
        Xt = self._check_X(X)
        if self.prior_ is None:
            raise ValueError(
                "this VQVAE has no code prior; fit it with prior_epochs > 0 or call fit_prior(X)."
            )
        module, prior = self.module_, self.prior_

        def terms(xb: torch.Tensor) -> torch.Tensor:
            code = module.encode(xb)
            log_px = module.likelihood.log_prob(module.decode(code.mean), xb)
            log_pz = prior.log_prob(code.indices.reshape(len(xb), -1))
            return torch.stack([log_px.double(), log_pz.double()], dim=1)

        out = self._batched(terms, Xt, batch_size=256, padded=True)
        return out[:, 0] - self.scaling_.log_det(), out[:, 1]

    def score_samples(self, X: Any) -> np.ndarray:
        """The bound ``log p(x | z_q(x)) + log p(z_q(x))`` on ``log p(x)`` of each example
        in nats (module doc); minus the reconstruction MSE per value for a model
        without a code prior.

        Returns
        -------
        ndarray of shape (n,), float64
        """
        if self.prior_ is None:
            return super().score_samples(X)
        log_px, log_pz = self.bound_terms(X)
        return log_px + log_pz

    def prior_metrics(self, X: np.ndarray) -> dict[str, float]:
        """Means over ``X``: the bound, its two terms, and the code prior's NLL in nats
        and bits per example, beside the uniform prior's ``L log K``."""
        if self.prior_ is None:
            return {}
        log_px, log_pz = self.bound_terms(X)
        uniform = self.prior_.length * np.log(self.codebook_size)
        return {
            "bound_nats": float(np.mean(log_px + log_pz)),
            "reconstruction_nats": float(np.mean(log_px)),
            "code_prior_nll_nats": float(-np.mean(log_pz)),
            "code_prior_bits": float(-np.mean(log_pz) / np.log(2)),
            "uniform_code_nll_nats": float(uniform),
        }

    # -- persistence -----------------------------------------------------------------
    def _prior_weights(self) -> dict[str, torch.Tensor]:
        if self.prior_ is None:
            return {}
        return {PRIOR_KEY + k: v.cpu() for k, v in self.prior_.state_dict().items()}

    def _restore_prior(self, fitted: dict[str, Any], weights: dict[str, torch.Tensor]) -> None:
        """The prior from its saved weights (none in models saved before it existed)."""
        mine = {k[len(PRIOR_KEY) :]: v for k, v in weights.items() if k.startswith(PRIOR_KEY)}
        self.prior_history_ = fitted.get("prior_history_")
        if not mine:
            self.prior_ = None
            return
        with torch.random.fork_rng(devices=[]):
            prior = self._new_prior()
        prior.load_state_dict(mine)
        self.prior_ = prior.to(self.device_).eval()
