"""The scikit-learn-style base of the neural models: fit, transform, save.

Subclasses say which parts they compose (``_module_options``); everything else —
validation, the training loop, batching, saving and loading — lives here once.
"""

from __future__ import annotations

import math
import secrets
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from aekit.device import resolve_device
from aekit.engine import SCHEDULES, TrainConfig, Trainer
from aekit.errors import DataError
from aekit.heads import DeterministicHead, GaussianHead
from aekit.likelihoods import LIKELIHOODS, make_likelihood
from aekit.module import AutoencoderModule
from aekit.networks import ACTIVATIONS, NORMS, build_networks
from aekit.validation import check_choice, check_data, check_positive

DEFAULT_HIDDEN = {"mlp": (512, 256), "conv": (32, 64), "linear": ()}


class NeuralAutoencoder(TransformerMixin, BaseEstimator):
    """Shared machinery of :class:`Autoencoder`, :class:`DenoisingAutoencoder`,
    :class:`VAE` and :class:`LinearAutoencoder`. Not used directly."""

    _stochastic_code = False  # a Gaussian head (VAE) or a deterministic one

    # -- what subclasses configure ---------------------------------------------------
    def _module_options(self) -> dict[str, Any]:
        """Keyword arguments for :class:`AutoencoderModule` beyond the networks."""
        return {}

    def _validate_params(self) -> None:
        self._validate_common()
        check_choice(self.architecture, "architecture", ("mlp", "conv", "linear"))
        check_positive(self.batch_size, "batch_size", integer=True)
        check_positive(self.lr, "lr")
        check_choice(self.activation, "activation", tuple(ACTIVATIONS))
        check_choice(self.norm, "norm", NORMS)
        check_choice(self.likelihood, "likelihood", LIKELIHOODS)
        check_choice(self.lr_schedule, "lr_schedule", SCHEDULES)
        if self.grad_clip is not None:
            check_positive(self.grad_clip, "grad_clip")
        if self.early_stopping is not None:
            check_positive(self.early_stopping, "early_stopping", integer=True)
        if self.hidden is not None:
            if not all(isinstance(h, int | np.integer) and h > 0 for h in self.hidden):
                raise ValueError(
                    f"hidden must be a tuple of positive integers; got {self.hidden!r}."
                )

    def _validate_common(self) -> None:
        """Checks every neural model needs, the linear one included."""
        check_positive(self.latent_dim, "latent_dim", integer=True)
        check_positive(self.epochs, "epochs", integer=True, allow_zero=True)
        check_positive(self.weight_decay, "weight_decay", allow_zero=True)
        if self.random_state is not None:
            check_positive(self.random_state, "random_state", integer=True, allow_zero=True)

    # -- building --------------------------------------------------------------------
    def _hidden(self) -> tuple[int, ...]:
        if self.hidden is None:
            return DEFAULT_HIDDEN[self.architecture]
        return tuple(int(h) for h in self.hidden)

    def _build_module(self, model_shape: tuple[int, ...]) -> AutoencoderModule:
        likelihood = make_likelihood(
            self.likelihood,
            sigma=getattr(self, "sigma", 1.0),
            shared_variance=getattr(self, "shared_variance", False),
        )
        encoder, decoder = build_networks(
            self.architecture,
            model_shape,
            self.latent_dim,
            self._hidden(),
            self.activation,
            self.norm,
            likelihood.params_per_value,
        )
        head_cls = GaussianHead if self._stochastic_code else DeterministicHead
        head = head_cls(encoder.out_features, self.latent_dim)
        return AutoencoderModule(encoder, head, decoder, likelihood, **self._module_options())

    def _train_config(self) -> TrainConfig:
        return TrainConfig(
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            weight_decay=self.weight_decay,
            lr_schedule=self.lr_schedule,
            grad_clip=self.grad_clip,
            early_stopping=self.early_stopping,
            random_state=self.seed_,
            verbose=bool(self.verbose),
        )

    def _epoch_hook(self, epoch: int) -> None:
        """Called before each epoch (the VAE's KL warm-up overrides it)."""

    # -- fitting ---------------------------------------------------------------------
    def fit(
        self,
        X: Any,
        y: Any = None,
        *,
        X_val: Any = None,
        run_dir: str | Path | None = None,
        resume: bool = False,
    ) -> NeuralAutoencoder:
        """Train on ``X``.

        Parameters
        ----------
        X : array-like of shape (n, D), (n, H, W) or (n, C, H, W)
            Training data.
        y : ignored
        X_val : array-like, optional
            Validation data, evaluated every epoch (and used for early stopping).
            When ``early_stopping`` is set and ``X_val`` is not given, 10% of ``X``
            is held out.
        run_dir : path, optional
            Folder for per-epoch metrics and an atomic checkpoint every epoch.
        resume : bool, default=False
            Continue from the checkpoint in ``run_dir``.

        Returns
        -------
        self
        """
        self._validate_params()
        X = check_data(X, min_samples=2)
        self.seed_ = (
            int(self.random_state) if self.random_state is not None else secrets.randbelow(2**31)
        )
        self.input_shape_ = tuple(X.shape[1:])
        self.n_features_in_ = math.prod(self.input_shape_)
        model_shape = self._model_shape(self.input_shape_)
        if X_val is not None:
            X_val = check_data(X_val, expected_shape=self.input_shape_, what="X_val")
        elif self.early_stopping:
            n_val = max(1, len(X) // 10)
            order = np.random.default_rng(self.seed_).permutation(len(X))
            X, X_val = X[order[n_val:]], X[order[:n_val]]
        self.device_ = resolve_device(self.device)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed_)
            self.module_ = self._build_module(model_shape).to(self.device_)
            trainer = Trainer(
                self.module_, self._train_config(), self.device_, run_dir, self._epoch_hook
            )
            to_tensor = self._to_tensor
            self.history_ = trainer.fit(
                to_tensor(X, model_shape),
                None if X_val is None else to_tensor(X_val, model_shape),
                resume=resume,
            )
        self.module_.eval()
        return self

    @staticmethod
    def _model_shape(input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """(H, W) images get a channel axis; vectors and (C, H, W) stay."""
        return (1, *input_shape) if len(input_shape) == 2 else input_shape

    def _to_tensor(self, X: np.ndarray, shape: tuple[int, ...]) -> torch.Tensor:
        return torch.from_numpy(X.reshape(len(X), *shape)).to(self.device_)

    def _check_X(self, X: Any) -> torch.Tensor:
        """Validate ``X`` against the fitted shape; return it as a model-shaped tensor."""
        check_is_fitted(self, "module_")
        X = check_data(X)
        if len(self.input_shape_) == 1 and X.ndim == 2 and X.shape[1] != self.n_features_in_:
            raise DataError(
                f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input."
            )
        X = check_data(X, expected_shape=self.input_shape_)
        return self._to_tensor(X, self._model_shape(self.input_shape_))

    # -- using -----------------------------------------------------------------------
    @torch.no_grad()
    def _batched(self, fn, X: torch.Tensor, batch_size: int = 4096) -> np.ndarray:
        self.module_.eval()
        outs = [fn(X[i : i + batch_size]).cpu() for i in range(0, len(X), batch_size)]
        return torch.cat(outs).numpy()

    def transform(self, X: Any) -> np.ndarray:
        """Codes of ``X``: the encoder output (for a VAE, the posterior mean).

        Returns
        -------
        ndarray of shape (n, latent_dim), float32
        """
        X = self._check_X(X)
        return self._batched(lambda xb: self.module_.encode(xb).mean, X)

    def inverse_transform(self, Z: Any) -> np.ndarray:
        """Decode codes ``Z`` to the mean reconstruction, in the input's shape."""
        check_is_fitted(self, "module_")
        Z = check_data(Z, what="Z")
        if Z.ndim != 2 or Z.shape[1] != self.latent_dim:
            raise DataError(
                f"Z must have shape (n, {self.latent_dim}), but it has shape {Z.shape}."
            )
        Zt = torch.from_numpy(Z).to(self.device_)
        out = self._batched(lambda zb: self.module_.likelihood.mean(self.module_.decode(zb)), Zt)
        return out.reshape(len(Z), *self.input_shape_)

    def reconstruct(self, X: Any, noise_std: float = 0.0) -> np.ndarray:
        """``inverse_transform(transform(X))``, optionally of ``X`` plus Gaussian noise.

        Returns the reconstruction in the input's shape.
        """
        X = self._check_X(X)

        def run(xb: torch.Tensor) -> torch.Tensor:
            return self.module_.reconstruct(self.module_.corrupt(xb, noise_std))

        return self._batched(run, X).reshape(len(X), *self.input_shape_)

    def reconstruction_error(self, X: Any) -> float:
        """Mean squared error per value between ``X`` and its reconstruction."""
        X_hat = self.reconstruct(X)
        X = check_data(X).reshape(X_hat.shape)
        return float(np.mean((X.astype(np.float64) - X_hat) ** 2))

    def score(self, X: Any, y: Any = None) -> float:
        """Higher is better: minus the reconstruction MSE per value."""
        return -self.reconstruction_error(X)

    # -- persistence -----------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the fitted model to the folder ``path`` (config JSON + safetensors)."""
        from aekit.persistence import save_model

        return save_model(self, path)

    def _export(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Weights and JSON-able fitted attributes, for :func:`aekit.persistence.save_model`."""
        check_is_fitted(self, "module_")
        return dict(self.module_.state_dict()), self._fitted_state()

    def _fitted_state(self) -> dict[str, Any]:
        """JSON-able fitted attributes beyond the weights (subclasses extend)."""
        return {
            "input_shape_": list(self.input_shape_),
            "n_features_in_": self.n_features_in_,
            "seed_": self.seed_,
            "history_": self.history_,
        }

    def _restore(self, fitted: dict[str, Any], weights: dict[str, torch.Tensor]) -> None:
        self.input_shape_ = tuple(fitted["input_shape_"])
        self.n_features_in_ = int(fitted["n_features_in_"])
        self.seed_ = int(fitted["seed_"])
        self.history_ = fitted["history_"]
        self.device_ = resolve_device(self.device)
        with torch.random.fork_rng(devices=[]):
            self.module_ = self._build_module(self._model_shape(self.input_shape_))
        self.module_.load_state_dict(weights)
        self.module_.to(self.device_).eval()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None
        tags.transformer_tags.preserves_dtype = ["float32"]  # torch computes in float32
        return tags
