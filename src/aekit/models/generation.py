"""Generation from the neural models: code densities, sampling, the denoising chain,
interpolation and latent traversals.

:class:`GenerativeMixin` gives these methods to
:class:`~aekit.models.neural.NeuralAutoencoder`. It uses the host's fitted ``module_``,
``device_``, ``input_shape_``, ``code_width`` and ``seed_`` and its
``transform``, ``inverse_transform``, ``_encode``, ``_decode``, ``_to_tensor``,
``_unscaled`` and
``_rng_devices``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from aekit.models.code_densities import fit_code_densities
from aekit.models.code_draws import SAMPLE_METHODS, CodeDrawMixin, seed_of
from aekit.models.code_paths import INTERPOLATIONS, interpolate_codes, traversal_codes
from aekit.validation import check_choice, check_data, check_positive

CHAIN_STEPS = ("mean", "sample")


class GenerativeMixin(CodeDrawMixin):
    """Sampling, interpolation and traversals of a fitted neural autoencoder."""

    # -- code densities --------------------------------------------------------------
    def fit_latent_density(
        self, X: Any, n_components: int | str = "bic", y: Any = None
    ) -> GenerativeMixin:
        """Fit the code densities of ``sample(method="gaussian" | "gmm")`` to the codes of ``X``.

        Without this call the densities are fitted when first needed (by ``sample``,
        ``traverse`` or ``aekit report``) to the training codes ``fit`` keeps (at
        most :data:`aekit.models.estimator.TRAINING_SAMPLE` of them), so ``fit`` itself
        fits no mixture.
        Call it to choose the number of mixture components yourself or to use other
        data. Fitted densities are saved with the model as plain numbers.

        Parameters
        ----------
        X : array-like
            Data whose codes (``transform(X)``) the densities are fitted to.
        n_components : int or "bic", default="bic"
            Components of the Gaussian mixture; ``"bic"`` tries 1 to 10 and keeps the
            one of lowest BIC (see :class:`aekit.models.code_densities.MixtureDensity`).
        y : array-like of shape (n,), optional
            A conditional model's classes of ``X``: ``X`` is encoded at them, and
            each class gets densities of its own codes beside those of all codes.

        Returns
        -------
        self
        """
        X = check_data(X, min_samples=2)
        classes = self._classes_of(y, len(X))
        Z = self._encode(self._to_tensor(X), classes).astype(np.float64)
        if classes is not None:  # first: a class too thin to fit leaves the model as it was
            self._fit_class_densities(Z, classes.cpu().numpy(), n_components)
        self.latent_density_ = fit_code_densities(Z, n_components, random_state=self.seed_)
        return self

    def _keep_training_codes(self, sample: np.ndarray, codes: np.ndarray | None = None) -> None:
        """Keep the codes of the training ``sample`` (``codes``, when already computed)
        for densities fitted later; forget fitted densities."""
        if codes is None:
            codes = self._encode(self._to_tensor(sample))
        self.training_codes_ = codes.astype(np.float32)
        self.latent_density_ = None

    def code_densities(self) -> dict[str, Any] | None:
        """The fitted code densities ``{"gaussian": …, "gmm": …}``, fitted now to the
        kept training codes if they were not yet; ``None`` for a model that has
        neither (saved before codes were kept)."""
        if self.latent_density_ is None and self.training_codes_ is not None:
            Z = self.training_codes_.astype(np.float64)
            self.latent_density_ = fit_code_densities(Z, "bic", random_state=self.seed_)
        return self.latent_density_

    def _density(self, method: str):
        densities = self.code_densities()
        if densities is None:
            raise ValueError(
                f"this {type(self).__name__} has no fitted code density; "
                "call fit_latent_density(X_train) first."
            )
        return densities[method]

    @property
    def code_width(self) -> int:
        """Values in a continuous code: what densities, paths and traversals work on."""
        return self.latent_dim

    @property
    def has_prior(self) -> bool:
        """Whether the model defines a prior p(z) over its codes (the VAE)."""
        return self._head.stochastic

    @property
    def default_sample_method(self) -> str:
        """``"prior"`` for a model with a prior (the VAE), ``"gmm"`` otherwise."""
        return "prior" if self.has_prior else "gmm"

    @property
    def default_prior_path(self) -> str:
        """How :meth:`interpolate_prior` joins draws: great circles for N(0, I),
        straight lines for a learned prior."""
        return "spherical" if self.module_.prior.standard_normal else "linear"

    # -- sampling --------------------------------------------------------------------
    @torch.no_grad()
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
        """Draw ``n`` new examples, in the input's shape.

        Parameters
        ----------
        n : int
        method : {"prior", "gaussian", "gmm", "chain"}, optional
            ``"prior"``: decode draws of the model's prior, ``N(0, I)`` or a VAE's
            learned mixture (right for a VAE; garbage for a plain autoencoder, whose
            codes follow no such law). ``"gaussian"`` / ``"gmm"``: decode draws of
            the full-covariance Gaussian / the Gaussian mixture fitted to the
            training codes. ``"chain"``: the denoising chain with its default
            settings (see :meth:`sample_chain`). Default: ``"prior"`` for a VAE,
            ``"gmm"`` otherwise.
        random_state : int, optional
            Seed of the draws.
        mean : bool, default=True
            Return the decoder mean E[x|z] (the usual picture); ``False`` returns
            draws of p(x|z).
        temperature : float, default=1.0
            Code draws only: scale the spread of the code density by ``temperature``
            (``z = τ ε`` for the standard prior, each Gaussian's covariance times
            ``τ²``). ``τ < 1`` trades diversity for typical codes, the
            reduced-temperature sampling of Kingma & Dhariwal (2018); for a VAE
            whose codes cluster it moves draws towards the gaps between the
            clusters (BENCHMARKS.md, "Sample quality").
        y : class or array-like of shape (n,), optional
            A conditional model's class of the draws (one for all, or one each):
            ``"gaussian"`` / ``"gmm"`` codes are drawn from the density of that
            class's training codes, ``"prior"`` codes from the VAE's prior p(z)
            (the same for every class); all are decoded at ``y``. ``"chain"`` takes
            one class, or one per chain (see :meth:`sample_chain`).

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
        method, classes = self._draw_arguments(n, method, temperature, y, SAMPLE_METHODS)
        if method == "chain":
            if temperature != 1.0:
                raise ValueError("temperature applies to code draws, not to the chain sampler.")
            return self.sample_chain(n, random_state=random_state, mean=mean, y=y)
        seed = seed_of(random_state)
        z = self._draw_codes(n, method, seed, temperature, classes)
        with torch.random.fork_rng(devices=self._rng_devices()):
            torch.manual_seed(seed)
            decoded = self._decode(z.to(self.device_), mean, classes)
            return decoded.reshape(n, *self.input_shape_)

    @torch.no_grad()
    def sample_chain(
        self,
        n: int,
        *,
        random_state: int | None = None,
        start: Any = None,
        n_chains: int | None = None,
        burn_in: int = 50,
        thin: int = 5,
        noise_std: float | None = None,
        reconstruction: str = "mean",
        mean: bool = True,
        y: Any = None,
    ) -> np.ndarray:
        """Samples of the denoising Markov chain ``x ← reconstruct(corrupt(x))``.

        The generative chain of a denoising autoencoder (Bengio et al. 2013). Its
        chains keep to the data when the DAE has a wide code and strong corruption;
        an iterated denoiser with a narrow bottleneck contracts to a few
        attractors, and training with ``walkback`` counters that
        (BENCHMARKS.md, "Sample quality").

        Parameters
        ----------
        n : int
        random_state : int, optional
            Seed of the start and of the chain's noise.
        start : array-like, optional
            Examples to start the chains from (one chain each). Default: decoded
            draws of the Gaussian code density.
        n_chains : int, optional
            Parallel chains (default ``min(n, 100)``); each gives ``n / n_chains``
            of the samples.
        burn_in : int, default=50
            Steps discarded before the first sample.
        thin : int, default=5
            Steps between kept samples of one chain.
        noise_std : float, optional
            σ of the corruption (default: the model's training ``noise_std``).
        reconstruction : {"mean", "sample"}, default="mean"
            The next state is the mean of p(x | x̃) or, as in Bengio et al., a draw
            of it. ``"sample"`` suits a Bernoulli likelihood; ``"mean"`` works with
            every likelihood but lets long chains contract towards a few modes.
        mean : bool, default=True
            Return the mean of each kept step's p(x | x̃); ``False`` returns the
            chain's states.
        y : class or array-like of shape (n_chains,), optional
            A conditional model's class of the chains (one for all, or one per
            chain): every step encodes and decodes at it, and the default start is
            drawn at it. Row ``i`` of the output comes from chain ``i % n_chains``.

        Returns
        -------
        ndarray of shape (n, *input_shape), float32

        Examples
        --------
        >>> import numpy as np
        >>> from aekit import DenoisingAutoencoder
        >>> X = np.random.default_rng(0).random((90, 6), dtype=np.float32)
        >>> dae = DenoisingAutoencoder(latent_dim=2, hidden=(8,), epochs=1, conditional=True,
        ...                            random_state=0).fit(X, np.arange(90) % 3)
        >>> dae.sample_chain(4, y=2, burn_in=3, random_state=0).shape
        (4, 6)
        """
        check_is_fitted(self, "module_")
        check_positive(n, "n", integer=True)
        module, lik = self.module_, self.module_.likelihood
        noise = module.corruption.std if noise_std is None else noise_std
        check_positive(noise, "noise_std", allow_zero=True)
        if noise <= 0:
            raise ValueError(
                "the chain sampler needs a corruption: sample from a DenoisingAutoencoder "
                "(noise_std > 0) or pass noise_std > 0."
            )
        check_choice(reconstruction, "reconstruction", CHAIN_STEPS)
        check_positive(burn_in, "burn_in", integer=True, allow_zero=True)
        check_positive(thin, "thin", integer=True)
        chains = chain_count(n, n_chains)
        check_positive(chains, "n_chains", integer=True)
        given = () if (classes := self._classes_of(y, chains)) is None else (classes,)
        seed = seed_of(random_state)
        if start is None:
            x0 = self.sample(chains, method="gaussian", random_state=seed, y=y)
        else:
            x0 = check_data(start, expected_shape=self.input_shape_, what="start")
            x0 = x0[np.arange(chains) % len(x0)]
        x0 = self._to_tensor(np.ascontiguousarray(x0), whole_on_device=True)

        def step(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            z = module.encode(module.corrupt(x, noise), *given).mean
            params = module.decode(z, *given)
            x_mean = lik.mean(params)
            x_next = x_mean if reconstruction == "mean" else lik.sample(params)
            return x_next, (x_mean if mean else x_next)

        module.eval()
        with torch.random.fork_rng(devices=self._rng_devices()):
            torch.manual_seed(seed)
            x = markov_chain(step, x0, n, burn_in=burn_in, thin=thin)
        return self._unscaled(x.cpu().numpy()).reshape(n, *self.input_shape_)

    # -- paths in code space ---------------------------------------------------------
    def _codes_of(self, X: Any, y: Any = None) -> tuple[np.ndarray, bool]:
        """Codes of one example (shape ``input_shape_``) or of a batch (of classes
        ``y``, for a conditional model); and whether it was one."""
        X = np.asarray(X)
        single = X.shape == tuple(self.input_shape_)
        return self.transform(X[None] if single else X, **_at(y)), single

    def _decode_paths(self, codes: np.ndarray, y: Any = None) -> np.ndarray:
        """Decode codes of shape (rows, steps, d) to (rows, steps, *input_shape), at
        classes ``y`` (one, or one per row) for a conditional model."""
        flat = codes.astype(np.float32).reshape(-1, self.code_width)
        if y is not None and np.ndim(y) == 1:  # one class per row: for each of its steps
            y = np.repeat(np.asarray(y), codes.shape[1])
        return self.inverse_transform(flat, **_at(y)).reshape(*codes.shape[:2], *self.input_shape_)

    def interpolate(
        self, X_a: Any, X_b: Any, n_steps: int = 10, *, method: str = "linear", y: Any = None
    ) -> np.ndarray:
        """Decode the path between the codes of ``X_a`` and ``X_b`` (ends included).

        Parameters
        ----------
        X_a, X_b : array-like
            One example each (shape ``input_shape_``) or batches of the same length.
        n_steps : int, default=10
        method : {"linear", "spherical"}, default="linear"
            See :func:`aekit.models.code_paths.interpolate_codes`; spherical suits draws of
            the prior. To interpolate between codes directly, decode
            ``interpolate_codes(z0, z1, n)`` with :meth:`inverse_transform`.
        y : class or array-like, optional
            A conditional model's fixed class of the path (one for all, or one per
            pair): the ends are encoded and the path decoded at it.

        Returns
        -------
        ndarray of shape (n_steps, *input_shape), or (m, n_steps, *input_shape)
        """
        check_choice(method, "method", INTERPOLATIONS)
        check_positive(n_steps, "n_steps", integer=True)
        za, single = self._codes_of(X_a, y)
        zb, _ = self._codes_of(X_b, y)
        if za.shape != zb.shape:
            raise ValueError(
                f"X_a and X_b must hold as many examples; got {len(za)} and {len(zb)}."
            )
        out = self._decode_paths(interpolate_codes(za, zb, n_steps, method), y)
        return out[0] if single else out

    def interpolate_prior(
        self,
        n_pairs: int,
        n_steps: int = 10,
        *,
        method: str | None = None,
        random_state: int | None = None,
        y: Any = None,
    ) -> np.ndarray:
        """Decode paths between pairs of draws of the model's prior p(z) (a VAE's
        N(0, I), its learned mixture or its VampPrior), at the class ``y`` (one, or
        one per pair) for a conditional model.

        Parameters
        ----------
        n_pairs : int
        n_steps : int, default=10
        method : {"linear", "spherical"}, optional
            Default :attr:`default_prior_path`: spherical for N(0, I), whose draws
            sit near the sphere of radius √d, linear for a learned prior.
        random_state : int, optional
            Seed of the draws.

        Returns
        -------
        ndarray of shape (n_pairs, n_steps, *input_shape)
        """
        check_is_fitted(self, "module_")
        check_positive(n_pairs, "n_pairs", integer=True)
        method = self.default_prior_path if method is None else method
        check_choice(method, "method", INTERPOLATIONS)
        generator = torch.Generator().manual_seed(seed_of(random_state))
        draws = self.module_.prior.sample(2 * n_pairs, generator).numpy()
        z = draws.reshape(2, n_pairs, self.code_width)
        return self._decode_paths(interpolate_codes(z[0], z[1], n_steps, method), y)

    def traverse(
        self,
        X: Any = None,
        *,
        dims: Any = None,
        n_steps: int = 7,
        span: float = 3.0,
        y: Any = None,
    ) -> np.ndarray:
        """Latent traversals: decode codes that move one dimension at a time (at the
        class ``y``, for a conditional model; ``X`` is encoded at it too).

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
        dims = list(range(min(self.code_width, 10))) if dims is None else [int(j) for j in dims]
        if not dims or min(dims) < 0 or max(dims) >= self.code_width:
            raise ValueError(f"dims must be code dimensions in 0..{self.code_width - 1}.")
        if self.centred_on_prior or self.code_densities() is None:
            center, scale = np.zeros(self.code_width), np.ones(self.code_width)
        else:
            gauss = self._density("gaussian")
            center, scale = gauss.mean, np.sqrt(np.diag(gauss.covariance))
        if X is not None:
            z, single = self._codes_of(X, y)
            if not single:
                raise ValueError("traverse takes one example X (shape input_shape_).")
            center = z[0].astype(np.float64)
        return self._decode_paths(traversal_codes(center, scale, dims, n_steps, span), y)

    @property
    def centred_on_prior(self) -> bool:
        """Whether traversals centre on the prior N(0, I) (a VAE with the standard
        prior) rather than on the training codes."""
        return self.has_prior and self.module_.prior.standard_normal


def _at(y: Any) -> dict[str, Any]:
    """``transform``'s and ``inverse_transform``'s ``y``, where one is given: models
    that are never conditional (VQVAE, mixed tables) do not take it."""
    return {} if y is None else {"y": y}


def chain_count(n: int, n_chains: int | None = None) -> int:
    """The chains of :meth:`GenerativeMixin.sample_chain` for ``n`` samples:
    ``n_chains``, or by default ``min(n, 100)``."""
    return min(n, 100) if n_chains is None else n_chains


def markov_chain(
    step: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
    start: torch.Tensor,
    n: int,
    *,
    burn_in: int = 50,
    thin: int = 5,
) -> torch.Tensor:
    """Run ``len(start)`` chains and return ``n`` of their outputs.

    ``step(x)`` returns the next state and what to show of it (e.g. a draw of
    p(x | x̃) and its mean). The first ``burn_in`` steps are discarded; after that
    the output of every ``thin``-th step of every chain is kept until ``n`` are kept.
    Rows are ordered by time, then chain: the first ``len(start)`` rows are each
    chain's first kept output.
    """
    if burn_in < 0 or thin < 1:
        raise ValueError(f"burn_in must be ≥ 0 and thin ≥ 1; got {burn_in} and {thin}.")
    x = start
    for _ in range(burn_in):
        x, _ = step(x)
    kept, total = [], 0
    while total < n:
        for _ in range(thin):
            x, shown = step(x)
        kept.append(shown)
        total += len(shown)
    return torch.cat(kept)[:n]
