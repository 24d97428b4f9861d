"""The scikit-learn-style base of the neural models: fit, transform, save.

Subclasses say which parts they compose (``_module_options``); everything else —
validation, the training loop, batching, saving and loading — lives here once.
"""

from __future__ import annotations

import math
import secrets
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted
from tqdm.auto import tqdm

from aekit.device import resolve_device, to_device
from aekit.engine import PRECISIONS, SCHEDULES, TrainConfig, Trainer
from aekit.errors import DataError
from aekit.heads import DeterministicHead, GaussianHead
from aekit.likelihoods import LIKELIHOODS, make_likelihood
from aekit.module import AutoencoderModule
from aekit.networks import ACTIVATIONS, NORMS, build_networks
from aekit.sampling import (
    INTERPOLATIONS,
    densities_from_dict,
    densities_to_dict,
    fit_code_densities,
    interpolate_codes,
    markov_chain,
    traversal_codes,
)
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
        if self.epochs is not None:
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

    def _train_config(self, n_samples: int) -> TrainConfig:
        """Training settings for ``n_samples`` training examples."""
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
        tensorboard_dir: str | Path | None = None,
        compile: bool = False,
        precision: str = "float32",
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
        tensorboard_dir : path, optional
            Also write every logged metric per epoch as TensorBoard scalars here
            (needs the optional ``tensorboard`` package: ``pip install 'aekit[tensorboard]'``).
        compile : bool, default=False
            ``torch.compile`` the training step. It pays on GPUs and for long runs; the
            first epoch carries the compilation (tens of seconds).
        precision : {"float32", "bfloat16"}, default="float32"
            ``"bfloat16"`` runs the networks under bf16 autocast (fast on GPUs with bf16
            tensor cores); codes, log-densities and losses stay float32.

        After training, a full-covariance Gaussian and a Gaussian mixture are fitted
        to the codes of ``X`` (see :meth:`fit_latent_density`) for
        ``sample(method="gaussian" | "gmm")``.

        Returns
        -------
        self
        """
        self._validate_params()
        check_choice(precision, "precision", PRECISIONS)
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
            config = self._train_config(len(X))
            config.tensorboard_dir = None if tensorboard_dir is None else str(tensorboard_dir)
            config.compile, config.precision = bool(compile), precision
            trainer = Trainer(self.module_, config, self.device_, run_dir, self._epoch_hook)
            to_tensor = self._to_tensor
            self.history_ = trainer.fit(
                to_tensor(X, model_shape, whole_on_device=True),
                None if X_val is None else to_tensor(X_val, model_shape, whole_on_device=True),
                resume=resume,
            )
        self.module_.eval()
        self._fit_latent_density(X, getattr(self, "latent_components", "bic"))
        return self

    @staticmethod
    def _model_shape(input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """(H, W) images get a channel axis; vectors and (C, H, W) stay."""
        return (1, *input_shape) if len(input_shape) == 2 else input_shape

    def _to_tensor(
        self, X: np.ndarray, shape: tuple[int, ...], whole_on_device: bool = False
    ) -> torch.Tensor:
        """A tensor sharing ``X``'s memory on the CPU: a memory-mapped ``.npy`` stays on
        disk, and training reads only the rows of each batch. With ``whole_on_device``
        an in-memory ``X`` is copied to the model's device once (training data on a
        GPU: no copy per batch); batches of anything left on the CPU move one at a time."""
        with warnings.catch_warnings():  # read-only memmaps: aekit never writes to X
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            Xt = torch.from_numpy(X.reshape(len(X), *shape))
        if whole_on_device and not isinstance(X, np.memmap):
            Xt = Xt.to(self.device_)
        return Xt

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
        """``fn`` over ``X`` in batches, each moved to the device in turn (bounded device
        memory); a progress bar on long jobs when ``verbose``."""
        self.module_.eval()
        starts = range(0, len(X), batch_size)
        show = bool(self.verbose) and len(starts) > 4 and sys.stderr.isatty()
        outs = [
            fn(to_device(X[i : i + batch_size], self.device_)).cpu()
            for i in tqdm(starts, disable=not show, leave=False, unit="batch", file=sys.stderr)
        ]
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

    # -- generation ------------------------------------------------------------------
    def fit_latent_density(self, X: Any, n_components: int | str = "bic") -> NeuralAutoencoder:
        """Fit the code densities of ``sample(method="gaussian" | "gmm")`` to the codes of ``X``.

        ``fit`` calls this on the training data, so a fitted (or loaded) model
        samples at once; call it again to choose the number of mixture components
        yourself or to use other data. Both densities are saved with the model as
        plain numbers.

        Parameters
        ----------
        X : array-like
            Data whose codes (``transform(X)``) the densities are fitted to.
        n_components : int or "bic", default="bic"
            Components of the Gaussian mixture; ``"bic"`` tries 1 to 10 and keeps the
            one of lowest BIC (see :class:`aekit.sampling.MixtureDensity`).

        Returns
        -------
        self
        """
        X = check_data(X, min_samples=2)
        self._fit_latent_density(X, n_components)
        return self

    def _fit_latent_density(self, X: np.ndarray, n_components: int | str) -> None:
        """Sets ``latent_density_``: {"gaussian": GaussianDensity, "gmm": MixtureDensity}."""
        Z = self.transform(X).astype(np.float64)
        self.latent_density_ = fit_code_densities(Z, n_components, random_state=self.seed_)

    def _default_sample_method(self) -> str:
        return "prior" if self._stochastic_code else "gmm"

    @torch.no_grad()
    def sample(
        self,
        n: int,
        *,
        method: str | None = None,
        random_state: int | None = None,
        mean: bool = True,
        start: Any = None,
        n_chains: int | None = None,
        burn_in: int = 50,
        thin: int = 5,
        noise_std: float | None = None,
        reconstruction: str = "mean",
        temperature: float = 1.0,
    ) -> np.ndarray:
        """Draw ``n`` new examples, in the input's shape.

        Parameters
        ----------
        n : int
        method : {"prior", "gaussian", "gmm", "chain"}, optional
            ``"prior"``: decode draws of the model's prior, ``N(0, I)`` or a VAE's
            learned mixture (right for a VAE; garbage for a plain autoencoder, whose
            codes follow no such law). ``"gaussian"`` / ``"gmm"``:
            decode draws of the full-covariance Gaussian / the Gaussian mixture fitted
            to the training codes after training. ``"chain"``: the Markov chain
            ``x ← reconstruct(corrupt(x))`` of a denoising autoencoder (Bengio et al.
            2013); its chains keep to the data when the DAE has a wide code and strong
            corruption (on MNIST: ``latent_dim=128, noise_std=0.5``), while a narrow
            bottleneck's iterated denoiser contracts to a few faint attractors (see
            BENCHMARKS.md); a DAE trained with ``walkback`` over-visits fewer
            classes (on MNIST, 30 epochs: FD 138 → 96; 68 with ``noise_std=0.4``).
            Default: ``"prior"`` for a VAE, ``"gmm"`` otherwise.
        random_state : int, optional
            Seed of the draws (and of the chain's noise).
        mean : bool, default=True
            Return the decoder mean E[x|z] (the usual picture); ``False`` returns
            draws of p(x|z) (in the chain: the chain's states).
        start : array-like, optional
            Chain only: examples to start the chains from (one chain each). Default:
            decoded draws of the Gaussian code density.
        n_chains : int, optional
            Chain only: parallel chains (default ``min(n, 100)``); each gives
            ``n / n_chains`` of the samples.
        burn_in : int, default=50
            Chain only: steps discarded before the first sample.
        thin : int, default=5
            Chain only: steps between kept samples of one chain.
        noise_std : float, optional
            Chain only: σ of the corruption (default: the model's training ``noise_std``).
        reconstruction : {"mean", "sample"}, default="mean"
            Chain only: the next state is the mean of p(x | x̃) or, as in Bengio et
            al., a draw of it. ``"sample"`` suits a Bernoulli likelihood (a draw of a
            fixed σ = 1 Gaussian is mostly noise); ``"mean"`` works with every
            likelihood but lets long chains contract towards a few modes.
        temperature : float, default=1.0
            Code draws only: scale the spread of the code density by ``temperature``
            (``z = τ ε`` for the standard prior, each Gaussian's covariance times
            ``τ²``). ``τ < 1`` trades diversity for typical codes, the
            reduced-temperature sampling of Kingma & Dhariwal (2018) and Vahdat &
            Kautz (2020). It is no cure for a VAE whose codes cluster: on MNIST the
            standard prior's samples get worse as τ falls (FD 66 at τ = 1, 95 at
            0.8; BENCHMARKS.md), since the draws move to the centre between the
            clusters.

        Returns
        -------
        ndarray of shape (n, *input_shape), float32

        Examples
        --------
        >>> import numpy as np
        >>> from aekit import VAE
        >>> X = np.random.default_rng(0).random((64, 10), dtype=np.float32)
        >>> vae = VAE(latent_dim=2, likelihood="bernoulli", epochs=1, random_state=0).fit(X)
        >>> vae.sample(5, random_state=0, temperature=0.8).shape
        (5, 10)
        """
        check_is_fitted(self, "module_")
        check_positive(n, "n", integer=True)
        method = self._default_sample_method() if method is None else method
        check_choice(method, "method", ("prior", "gaussian", "gmm", "chain"))
        check_positive(temperature, "temperature", allow_zero=True)
        if method == "chain" and temperature != 1.0:
            raise ValueError("temperature applies to code draws, not to the chain sampler.")
        seed = random_state if random_state is not None else secrets.randbelow(2**31)
        self.module_.eval()
        if method == "chain":
            x = self._chain(
                n, seed, mean, start, n_chains, burn_in, thin, noise_std, reconstruction
            )
            return x.cpu().numpy().reshape(n, *self.input_shape_)
        if method == "prior":
            gen = torch.Generator().manual_seed(seed)
            z = self.module_.prior.sample(n, gen, temperature=temperature)
        else:
            rng = np.random.default_rng(seed)
            z = self._density(method).sample(n, rng, temperature=temperature)
            z = torch.from_numpy(z.astype(np.float32))
        with torch.random.fork_rng(devices=self._rng_devices()):
            torch.manual_seed(seed)
            return self._decode(z.to(self.device_), mean).reshape(n, *self.input_shape_)

    def _density(self, method: str):
        densities = getattr(self, "latent_density_", None)
        if densities is None:
            raise ValueError(
                f"this {type(self).__name__} has no fitted code density; "
                "call fit_latent_density(X_train) first."
            )
        return densities[method]

    def _decode(self, z: torch.Tensor, mean: bool = True) -> np.ndarray:
        lik = self.module_.likelihood

        def run(zb: torch.Tensor) -> torch.Tensor:
            params = self.module_.decode(zb)
            return lik.mean(params) if mean else lik.sample(params)

        return self._batched(run, z)

    def _chain(
        self, n, seed, mean, start, n_chains, burn_in, thin, noise_std, reconstruction
    ) -> torch.Tensor:
        noise = float(getattr(self, "noise_std", 0.0) if noise_std is None else noise_std)
        if noise <= 0:
            raise ValueError(
                "the chain sampler needs a corruption: sample from a DenoisingAutoencoder "
                "(noise_std > 0) or pass noise_std=... ."
            )
        check_choice(reconstruction, "reconstruction", ("mean", "sample"))
        check_positive(burn_in, "burn_in", integer=True, allow_zero=True)
        check_positive(thin, "thin", integer=True)
        chains = min(n, 100) if n_chains is None else n_chains
        check_positive(chains, "n_chains", integer=True)
        if start is None:
            x0 = self.sample(chains, method="gaussian", random_state=seed)
        else:
            x0 = check_data(start, expected_shape=self.input_shape_, what="start")
            x0 = x0[np.arange(chains) % len(x0)]
        shape = self._model_shape(self.input_shape_)
        x0 = self._to_tensor(np.ascontiguousarray(x0), shape, whole_on_device=True)
        module, lik = self.module_, self.module_.likelihood

        def step(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            params = module.decode(module.encode(module.corrupt(x, noise)).mean)
            x_mean = lik.mean(params)
            x_next = x_mean if reconstruction == "mean" else lik.sample(params)
            return x_next, (x_mean if mean else x_next)

        with torch.random.fork_rng(devices=self._rng_devices()):
            torch.manual_seed(seed)
            return markov_chain(step, x0, n, burn_in=burn_in, thin=thin)

    def _rng_devices(self) -> list:
        return [self.device_] if self.device_.type == "cuda" else []

    def _codes_of(self, X: Any) -> tuple[np.ndarray, bool]:
        """Codes of one example (shape ``input_shape_``) or of a batch; and whether it was one."""
        X = np.asarray(X)
        single = X.shape == tuple(self.input_shape_)
        return self.transform(X[None] if single else X), single

    def interpolate(
        self, X_a: Any, X_b: Any, n_steps: int = 10, *, method: str = "linear"
    ) -> np.ndarray:
        """Decode the path between the codes of ``X_a`` and ``X_b`` (ends included).

        Parameters
        ----------
        X_a, X_b : array-like
            One example each (shape ``input_shape_``) or batches of the same length.
        n_steps : int, default=10
        method : {"linear", "spherical"}, default="linear"
            See :func:`aekit.sampling.interpolate_codes`; spherical suits draws of
            the prior. To interpolate between codes directly, decode
            ``interpolate_codes(z0, z1, n)`` with :meth:`inverse_transform`.

        Returns
        -------
        ndarray of shape (n_steps, *input_shape), or (m, n_steps, *input_shape)
        """
        check_choice(method, "method", INTERPOLATIONS)
        check_positive(n_steps, "n_steps", integer=True)
        za, single = self._codes_of(X_a)
        zb, _ = self._codes_of(X_b)
        if za.shape != zb.shape:
            raise ValueError(
                f"X_a and X_b must hold as many examples; got {len(za)} and {len(zb)}."
            )
        path = interpolate_codes(za, zb, n_steps, method).astype(np.float32)
        out = self.inverse_transform(path.reshape(-1, self.latent_dim))
        out = out.reshape(len(za), n_steps, *self.input_shape_)
        return out[0] if single else out

    def traverse(
        self,
        X: Any = None,
        *,
        dims: Any = None,
        n_steps: int = 7,
        span: float = 3.0,
    ) -> np.ndarray:
        """Latent traversals: decode codes that move one dimension at a time.

        Dimension ``j`` goes from ``c_j − span·s_j`` to ``c_j + span·s_j`` with the
        others held at ``c``. ``c`` is the code of the example ``X``, or (without
        ``X``) the centre of the code distribution: 0 for a VAE's N(0, I) prior, the
        mean of the training codes otherwise (a learned prior included); ``s_j`` is
        the prior's 1 or the standard deviation of training code ``j``.

        Returns
        -------
        ndarray of shape (len(dims), n_steps, *input_shape)
        """
        check_is_fitted(self, "module_")
        check_positive(n_steps, "n_steps", integer=True)
        check_positive(span, "span")
        dims = list(range(min(self.latent_dim, 10))) if dims is None else [int(j) for j in dims]
        if not dims or min(dims) < 0 or max(dims) >= self.latent_dim:
            raise ValueError(f"dims must be code dimensions in 0..{self.latent_dim - 1}.")
        standard_prior = self._stochastic_code and self.module_.prior.standard_normal
        if standard_prior or getattr(self, "latent_density_", None) is None:
            center, scale = np.zeros(self.latent_dim), np.ones(self.latent_dim)
        else:
            gauss = self._density("gaussian")
            center, scale = gauss.mean, np.sqrt(np.diag(gauss.covariance))
        if X is not None:
            z, single = self._codes_of(X)
            if not single:
                raise ValueError("traverse takes one example X (shape input_shape_).")
            center = z[0].astype(np.float64)
        codes = traversal_codes(center, scale, dims, n_steps, span).astype(np.float32)
        out = self.inverse_transform(codes.reshape(-1, self.latent_dim))
        return out.reshape(len(dims), n_steps, *self.input_shape_)

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
            "latent_density_": densities_to_dict(getattr(self, "latent_density_", None)),
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
        self.latent_density_ = densities_from_dict(fitted.get("latent_density_"), self.latent_dim)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None
        tags.transformer_tags.preserves_dtype = ["float32"]  # torch computes in float32
        return tags
