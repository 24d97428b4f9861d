"""The estimator machinery of the neural models: validate, build, fit, transform, save.

:class:`NeuralAutoencoder` turns parameters into an :class:`~aekit.core.module.AutoencoderModule`
and a :class:`~aekit.training.loop.TrainConfig` for the one training loop. A subclass lists
its parameters, their checks (``_constraints``) and the parts it composes (``_likelihood``,
``_networks``, ``_module_options``); sampling, interpolation and traversals come from
:class:`~aekit.models.generation.GenerativeMixin`.
"""

from __future__ import annotations

import math
import secrets
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted
from torch import nn
from tqdm.auto import tqdm

from aekit.core.heads import DeterministicHead
from aekit.core.likelihoods import Likelihood, make_likelihood
from aekit.core.linear_path import with_linear_path
from aekit.core.module import AutoencoderModule
from aekit.core.networks import DEFAULT_HIDDEN, build_networks
from aekit.core.scaling import FeatureScaling
from aekit.core.user_networks import user_networks
from aekit.errors import DataError
from aekit.models.code_densities import densities_from_dict, densities_to_dict
from aekit.models.conditions import ConditionalMixin
from aekit.models.estimator import AutoencoderEstimator, check_scaling, shape_of, training_sample
from aekit.models.generation import GenerativeMixin
from aekit.models.neural_params import (
    DEEP_CONSTRAINTS,
    START_SAMPLE,
    check_support,
    check_trainable,
    default_patience,
    given,
    sized_epochs,
)
from aekit.models.outliers import hold_out
from aekit.models.pca_start import start_module_at_pca
from aekit.models.plain_modules import neural_decoder, neural_encoder, on_cpu
from aekit.training.callbacks import Callback
from aekit.training.device import flush_denormals, pad_rows, resolve_device, to_device
from aekit.training.governor import LoadGovernor
from aekit.training.loop import PRECISIONS, TrainConfig, Trainer, live_progress
from aekit.training.threads import thread_limit
from aekit.validation import Check, check_choice, check_data, check_positive, validate_params


class NeuralAutoencoder(ConditionalMixin, GenerativeMixin, AutoencoderEstimator):
    """Shared machinery of :class:`Autoencoder`, :class:`DenoisingAutoencoder`,
    :class:`VAE` and :class:`LinearAutoencoder`. Not used directly."""

    _constraints: ClassVar[dict[str, Check]] = DEEP_CONSTRAINTS
    _head = DeterministicHead  # the VAE's is Gaussian
    trains_with_loop = True

    # -- what subclasses configure ---------------------------------------------------
    def _validate_params(self) -> None:
        """Check every parameter; a bad one raises ``ValueError`` naming it."""
        validate_params(self, self._constraints)

    def _likelihood(self) -> Likelihood:
        return make_likelihood(self.likelihood)

    def _networks(self, model_shape: tuple[int, ...], params_per_value: int):
        if self.encoder is not None or self.decoder is not None:
            return user_networks(
                self.encoder, self.decoder, model_shape, self.latent_dim, params_per_value
            )
        hidden = DEFAULT_HIDDEN[self.architecture] if self.hidden is None else self.hidden
        return build_networks(  # a conditional decoder's input: the code and the one-hot class
            self.architecture, model_shape, self.latent_dim + self.n_classes_,
            tuple(int(h) for h in hidden), self.activation, self.norm, params_per_value,
        )  # fmt: skip

    def _scaling(self) -> str:
        """The scaling of the features to fit (one of :data:`aekit.core.scaling.SCALINGS`)."""
        return self.scale

    def _start(self) -> str:
        """Where training starts: ``"pca"`` (a linear path at PCA's solution,
        :mod:`aekit.core.linear_path`) or ``"random"``. ``start="auto"`` takes PCA's
        for aekit's own deep networks under a Gaussian likelihood, whose mean is
        PCA's reconstruction; a Bernoulli decoder outputs logits, which PCA's
        reconstruction is not."""
        if self.start != "auto":
            return self.start
        own_networks = self.encoder is None and self.decoder is None
        gaussian = self._likelihood().support == "real"
        deep = self.architecture != "linear"
        conditional = self.n_classes_ > 0  # PCA's start knows no classes
        return "pca" if own_networks and gaussian and deep and not conditional else "random"

    def _module_options(self, model_shape: tuple[int, ...]) -> dict[str, Any]:  # noqa: ARG002
        """Keyword arguments for :class:`AutoencoderModule` beyond the networks."""
        return {}

    def _as_evaluated(self, X: np.ndarray) -> np.ndarray:
        """Held-out examples as evaluation sees them (as given; the VAE draws its fixed
        binarisation or dequantisation)."""
        return X

    def _stops_early(self) -> bool:
        """Whether validation data stop training by default: where the loss is what
        early stopping watches (MSE, or the ELBO), so its best epoch is the best."""
        return True

    def _train_config(self, n_samples: int) -> TrainConfig:
        """Training settings for ``n_samples`` training examples (``epochs=None``
        sizes the epochs by it), every field named."""
        batch_size = given(self.batch_size, TrainConfig.batch_size)
        return TrainConfig(
            epochs=sized_epochs(self.epochs, n_samples, batch_size),
            batch_size=batch_size,
            lr=given(self.lr, TrainConfig.lr),
            weight_decay=self.weight_decay,
            lr_schedule=self.lr_schedule,
            grad_clip=self.grad_clip,
            early_stopping=self.early_stopping,
            random_state=getattr(self, "seed_", 0),
            verbose=bool(self.verbose),
        )

    # -- building --------------------------------------------------------------------
    def build_module(
        self, input_shape: tuple[int, ...], start: str | None = None
    ) -> AutoencoderModule:
        """The untrained :class:`~aekit.core.module.AutoencoderModule` these parameters make
        for examples of shape ``input_shape``, on the CPU (``fit`` builds and trains one).
        ``start="pca"`` adds the linear path (default: as :meth:`_start` resolves)."""
        self._validate_params()
        likelihood = self._likelihood()
        model_shape = model_shape_of(tuple(input_shape))
        encoder, decoder = self._networks(model_shape, likelihood.params_per_value)
        if (self._start() if start is None else start) == "pca":
            encoder, decoder = with_linear_path(
                encoder, decoder, model_shape, self.latent_dim, likelihood.params_per_value
            )
        head = self._head(encoder.out_features + self.n_classes_, self.latent_dim)
        options = self._module_options(model_shape)
        return AutoencoderModule(
            encoder, head, decoder, likelihood, n_classes=self.n_classes_, **options
        )

    def check_fit(self, n_samples: int, input_shape: tuple[int, ...]) -> None:
        """Refuse before any work what ``fit`` would refuse: bad parameters, a device
        that is not there, networks that do not suit examples of ``input_shape`` or
        whose weights and Adam state would not fit in memory, batch norm on batches
        of one."""
        self._validate_params()
        resolve_device(self.device)
        if n_samples < 2:
            raise DataError(f"X has {n_samples} example(s), but at least 2 are needed.")
        with torch.device("meta"):  # shapes and sizes only: no memory is allocated
            module = self.build_module(tuple(input_shape))
        check_trainable(module, min(self._train_config(n_samples).batch_size, n_samples))

    # -- fitting ---------------------------------------------------------------------
    def fit(
        self,
        X: Any,
        y: Any = None,
        *,
        X_val: Any = None,
        callbacks: Sequence[Callback] = (),
        compile: bool = False,
        precision: str = "float32",
    ) -> NeuralAutoencoder:
        """Train on ``X``.

        Parameters
        ----------
        X : array-like of shape (n, D), (n, H, W) or (n, C, H, W)
            Training data.
        y : array-like of shape (n,), optional
            Each example's class, for a model with ``conditional=True``
            (:mod:`aekit.models.conditions`); ignored otherwise.
        X_val : array-like, optional
            Validation data, evaluated every epoch. They set ``offset_`` (the outlier
            threshold, from examples the model did not train on) and stop training
            early. When not given, a share ``validation_fraction`` of ``X`` (10% by
            default, at least 50 examples or a fifth of ``X``) is held out for both; with
            none, ``offset_`` comes from the training examples' own scores, which a
            model that memorised them rates too well.
        callbacks : sequence of :class:`aekit.training.callbacks.Callback`, optional
            Hooks of the training loop: checkpoints, ``metrics.json`` and TensorBoard
            scalars (:func:`aekit.runs.run_callbacks` makes those of a run folder).
        compile : bool, default=False
            ``torch.compile`` the training step. It pays on GPUs and for long runs; the
            first epoch carries the compilation (tens of seconds).
        precision : {"float32", "bfloat16"}, default="float32"
            ``"bfloat16"`` runs the networks under bf16 autocast (fast on GPUs with bf16
            tensor cores); codes, log-densities and losses stay float32.

        After training, the codes of (at most 10000 of) the examples of ``X`` are
        kept as ``training_codes_``: ``sample(method="gaussian" | "gmm")`` fits its
        code density to them when first asked (see :meth:`fit_latent_density`).

        Returns
        -------
        self
        """
        check_choice(precision, "precision", PRECISIONS)
        self._feature_names(X, reset=True)
        X = X_all = check_data(X, min_samples=2)
        classes = self._fit_classes(y, len(X), X_val)  # None unless conditional
        self.check_fit(len(X), tuple(X.shape[1:]))
        self.seed_ = (
            int(self.random_state) if self.random_state is not None else secrets.randbelow(2**31)
        )
        self.input_shape_ = tuple(X.shape[1:])
        self.n_features_in_ = math.prod(self.input_shape_)
        self.scaling_ = FeatureScaling.fit(X, self._scaling())
        self.scale_ = self.scaling_.kind
        self._check_training_values(X)
        config = replace(
            self._train_config(len(X)),
            random_state=self.seed_,
            compile=bool(compile),
            precision=precision,
        )
        if X_val is not None:
            X_val = check_data(X_val, expected_shape=self.input_shape_, what="X_val")
        else:
            X, X_val = hold_out(X, self.validation_fraction, self.seed_)
            X_val = None if X_val is None else self._as_evaluated(X_val)
        classes, val_classes = self._split_classes(classes, X_val is not None)
        if X_val is None and config.early_stopping:
            raise ValueError(
                "early_stopping watches validation data: pass X_val, or a "
                "validation_fraction that holds out at least 5 examples."
            )
        if X_val is not None and config.early_stopping is None and self._stops_early():
            config = replace(config, early_stopping=default_patience(config.epochs))
        # over-complete: PCA's solution is the identity, a start with nothing to learn
        self.start_ = "random" if self.latent_dim >= self.n_features_in_ else self._start()
        self.device_ = resolve_device(self.device)
        # the data in the model's units and shape, on its device when they fit in memory
        X_train_t, X_val_t = (
            None if A is None else self._to_tensor(A, whole_on_device=True) for A in (X, X_val)
        )
        callbacks = list(callbacks)
        adaptive = self.n_threads == "adaptive"
        if adaptive:  # asked for: fewer, pinned threads while others load the CPUs
            callbacks.append(LoadGovernor(None, self.device_))
        n_threads = None if adaptive else self.n_threads
        with torch.random.fork_rng(devices=[]), thread_limit(n_threads), flush_denormals():
            torch.manual_seed(self.seed_)
            self.module_ = self.build_module(self.input_shape_, self.start_)
            self.module_.prior.start_from(X_train_t)  # a VampPrior's pseudo-inputs
            if self.start_ == "pca":  # the PCA users compare with: of all of X (or 2000 rows)
                sample = training_sample(X_all, self.seed_, START_SAMPLE)
                start_module_at_pca(self.module_, self._scaled(sample), self.latent_dim)
            self.module_.to(self.device_)
            trainer = Trainer(self.module_, config, self.device_, callbacks)
            train = self._with_classes(X_train_t, classes)
            self.history_ = trainer.fit(train, self._with_classes(X_val_t, val_classes))
        self.module_.eval()
        held_out = None if X_val is None else training_sample(X_val, self.seed_)
        if self.classes_ is not None:
            return self._summarise_conditional(X_all, y)
        self._summarise_training(training_sample(X_all, self.seed_), held_out)
        self._check_convergence(X)
        return self

    def _check_convergence(self, trained: np.ndarray) -> None:
        """After training, on the rows ``X`` trained on: nothing here."""

    def _summarise_training(self, sample: np.ndarray, held_out: np.ndarray | None) -> None:
        """Keep the codes of ``sample`` (rows of ``X``, held-out ones included); set
        ``offset_`` from the scores of the ``held_out`` examples (the sample's when
        there are none)."""
        self._keep_training_codes(sample)
        self._fit_offset(sample if held_out is None else held_out)

    def _check_training_values(self, X: np.ndarray) -> None:
        """Refuse training data the model's options do not suit: a Bernoulli likelihood
        models values in [0, 1] (after the feature scaling)."""
        check_support(self._likelihood(), self.scaling_)  # X is what the scaling was fitted on

    @property
    def scale_offset_(self) -> np.ndarray:
        """Per-feature offset of the fitted scaling (``scaling_``)."""
        return self.scaling_.offset.cpu().numpy()

    @property
    def scale_factor_(self) -> np.ndarray:
        """Per-feature factor of the fitted scaling (``scaling_``)."""
        return self.scaling_.factor.cpu().numpy()

    @property
    def feature_scaling(self) -> FeatureScaling:
        return self.scaling_

    def _scaled(self, X: np.ndarray) -> np.ndarray:
        """``X`` in the model's units: unchanged (no copy) unless a scaling was fitted."""
        return self.scaling_.apply(X)

    def _unscaled(self, X: np.ndarray) -> np.ndarray:
        """Model outputs back in the user's units."""
        return self.scaling_.undo(X)

    def _to_tensor(self, X: np.ndarray, whole_on_device: bool = False) -> torch.Tensor:
        """A model-shaped tensor sharing ``X``'s memory on the CPU: a memory-mapped
        ``.npy`` stays on disk, and training reads only the rows of each batch. With
        ``whole_on_device`` an in-memory ``X`` is copied to the model's device once
        (training data on a GPU: no copy per batch); batches of anything left on the
        CPU move one at a time."""
        X = self._scaled(X)
        with warnings.catch_warnings():  # read-only memmaps: aekit never writes to X
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            Xt = torch.from_numpy(X.reshape(len(X), *model_shape_of(self.input_shape_)))
        if whole_on_device and not isinstance(X, np.memmap):
            Xt = Xt.to(self.device_)
        return Xt

    def _check_X(self, X: Any) -> torch.Tensor:
        """Validate ``X`` against the fitted shape; return it as a model-shaped tensor."""
        check_is_fitted(self, "module_")
        self._feature_names(X, reset=False)
        X = check_data(X)
        if len(self.input_shape_) == 1 and X.ndim == 2 and X.shape[1] != self.n_features_in_:
            raise DataError(
                f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input."
            )
        return self._to_tensor(check_data(X, expected_shape=self.input_shape_))

    # -- using -----------------------------------------------------------------------
    @torch.no_grad()
    def _batched(
        self,
        fn: Callable[[torch.Tensor], torch.Tensor],
        X: torch.Tensor,
        batch_size: int = 1024,
        *,
        padded: bool = False,
        classes: torch.Tensor | None = None,
    ) -> np.ndarray:
        """``fn`` over ``X`` in batches moved to the device in turn (``fn(batch, classes)``
        with the rows' ``classes``, when given); a progress bar when ``verbose``.
        ``padded`` pads the last batch to ``batch_size`` rows, so every example is
        rounded alike whatever its batch (scores invariant to order)."""
        self.module_.eval()
        starts = range(0, len(X), batch_size)
        show = bool(self.verbose) and len(starts) > 4 and live_progress()
        out = None  # in place: small outputs kept between large temporaries fragment the heap
        for i in tqdm(starts, disable=not show, leave=False, unit="batch", file=sys.stderr):
            batch = to_device(X[i : i + batch_size], self.device_)
            n = len(batch)
            if padded:  # (a conditional model's padded rows are of class 0)
                batch = pad_rows(batch, batch_size)
            given = () if classes is None else (pad_rows(classes[i : i + n], len(batch)),)
            result = fn(batch, *given)[:n].cpu()
            if out is None:
                out = torch.empty((len(X), *result.shape[1:]), dtype=result.dtype)
            out[i : i + n] = result
        return out.numpy()

    def transform(self, X: Any, y: Any = None) -> np.ndarray:
        """Codes of ``X`` (of classes ``y``): the encoder output (for a VAE, the posterior mean).

        Returns
        -------
        ndarray of shape (n, latent_dim), float32
        """
        Xt = self._check_X(X)
        return self._encode(Xt, self._classes_of(y, len(Xt)))

    def _encode(self, Xt: torch.Tensor, classes: torch.Tensor | None = None) -> np.ndarray:
        """Codes of the model-shaped tensor ``Xt`` (of ``classes``)."""
        return self._batched(lambda xb, *c: self.module_.encode(xb, *c).mean, Xt, classes=classes)

    def inverse_transform(self, Z: Any, y: Any = None) -> np.ndarray:
        """Decode codes ``Z`` (at classes ``y``, for a conditional model) to the mean
        reconstruction, in the input's shape."""
        check_is_fitted(self, "module_")
        Z = check_data(Z, what="Z")
        if Z.ndim != 2 or Z.shape[1] != self.latent_dim:
            raise DataError(
                f"Z must have shape (n, {self.latent_dim}), but it has shape {Z.shape}."
            )
        decoded = self._decode(torch.from_numpy(Z), classes=self._classes_of(y, len(Z)))
        return decoded.reshape(len(Z), *self.input_shape_)

    def _decode(
        self, z: torch.Tensor, mean: bool = True, classes: torch.Tensor | None = None
    ) -> np.ndarray:
        """Decode codes ``z`` (at ``classes``): the mean of p(x|z), or a draw of it."""
        lik = self.module_.likelihood

        def run(zb: torch.Tensor, *c: torch.Tensor) -> torch.Tensor:
            params = self.module_.decode(zb, *c)
            return lik.mean(params) if mean else lik.sample(params)

        return self._unscaled(self._batched(run, z, classes=classes))

    def reconstruction_errors(self, X: Any) -> np.ndarray:
        """The mean squared error per value of each example's reconstruction, in the
        user's units; computed batch by batch (memory of one batch, not of ``X``).

        Returns
        -------
        ndarray of shape (n,), float64
        """
        Xt = self._check_X(X)
        scaling = self.scaling_

        def errors(xb: torch.Tensor) -> torch.Tensor:
            diff = self.module_.reconstruct(xb) - xb  # x̂ - x in scaled units ...
            if not scaling.is_identity:
                diff = scaling.inverse_difference(diff)  # ... and in the user's
            return diff.double().square().flatten(1).mean(1)

        return self._batched(errors, Xt, batch_size=256, padded=True)

    def reconstruct(self, X: Any, noise_std: float = 0.0) -> np.ndarray:
        """``inverse_transform(transform(X))``, optionally of ``X`` plus Gaussian noise
        of σ = ``noise_std``. Returns the reconstruction in the input's shape."""
        check_positive(noise_std, "noise_std", allow_zero=True)
        X = self._check_X(X)

        def run(xb: torch.Tensor) -> torch.Tensor:
            return self.module_.reconstruct(self.module_.corrupt(xb, noise_std))

        return self._unscaled(self._batched(run, X)).reshape(len(X), *self.input_shape_)

    @property
    def _n_features_out(self) -> int:
        return self.latent_dim

    def _encoder_module(self) -> nn.Module:
        model = on_cpu(self)
        module = model.module_
        shape = model_shape_of(tuple(self.input_shape_))
        return neural_encoder(self.scaling_, module, shape)

    def _decoder_module(self) -> nn.Module:
        module = on_cpu(self).module_
        return neural_decoder(self.scaling_, module, self.input_shape_)

    def _rng_devices(self) -> list[torch.device]:
        """The devices whose random state a seeded computation forks."""
        return [self.device_] if self.device_.type == "cuda" else []

    # -- persistence -----------------------------------------------------------------
    _saved_arrays = ("training_codes_", "training_code_classes_")  # the latter: per class
    _scaling_arrays = ("scale_offset_", "scale_factor_")  # saved beside them
    _saved_values: ClassVar[dict[str, Callable[[Any], Any]]] = {
        "scale_": str,
        "input_shape_": shape_of,
        "n_features_in_": int,
        "seed_": int,
        "history_": list,
    }

    def _export(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        arrays, fitted = super()._export()
        fitted["latent_density_"] = densities_to_dict(self.latent_density_)
        fitted["start_"] = self.start_  # read with a default: older models have none
        scaling = {"scale_offset_": self.scaling_.offset, "scale_factor_": self.scaling_.factor}
        return {**self.module_.state_dict(), **scaling, **arrays}, fitted

    def _restore(self, fitted: dict[str, Any], weights: dict[str, torch.Tensor]) -> None:
        super()._restore(fitted, weights)
        if all(name in weights for name in self._scaling_arrays):
            offset, factor = (weights[name] for name in self._scaling_arrays)
            self.scaling_ = FeatureScaling(offset, factor, self.scale_)
        else:  # saved before feature scaling existed
            self.scaling_ = FeatureScaling.identity(self.input_shape_)
        check_scaling(self.scaling_, self._scaling(), self.scale_)
        saved = (*self._saved_arrays, *self._scaling_arrays)
        weights = {k: v for k, v in weights.items() if k not in saved}
        self.device_ = resolve_device(self.device)
        self.start_ = str(fitted.get("start_", "random"))  # saved before the linear path
        with torch.random.fork_rng(devices=[]):
            self.module_ = self.build_module(self.input_shape_, self.start_)
        self.module_.load_state_dict(weights)
        self.module_.to(self.device_).eval()
        self.latent_density_ = densities_from_dict(fitted.get("latent_density_"), self.code_width)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None
        tags.transformer_tags.preserves_dtype = ["float32"]  # torch computes in float32
        return tags


def model_shape_of(input_shape: tuple[int, ...]) -> tuple[int, ...]:
    """(H, W) images get a channel axis; vectors and (C, H, W) stay."""
    return (1, *input_shape) if len(input_shape) == 2 else input_shape
