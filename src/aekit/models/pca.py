"""Principal component analysis: the linear autoencoder solved in closed form.

The optimal rank-``k`` linear code of centred data is its projection on the
top-``k`` eigenvectors of the covariance (Eckart–Young–Mirsky); its training
error is the sum of the discarded eigenvalues. :class:`PCA` computes them on the
CPU or a GPU (float64 sums and eigensolver whatever the input's precision) and
reads them as the probabilistic PCA of Tipping & Bishop (1999): log-likelihoods in nats.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import clone
from sklearn.utils.validation import check_is_fitted
from torch import nn

from aekit.errors import DataError
from aekit.models.estimator import AutoencoderEstimator, float_type_of, shape_of, training_sample
from aekit.models.outliers import as_feature_table, check_contamination, hold_out, shares_of
from aekit.models.pca_solvers import chunks, covariance_eigh, flip_signs, svd_spectrum
from aekit.models.plain_modules import PCADecoder, PCAEncoder
from aekit.models.ppca import ProbabilisticPCAMixin
from aekit.training.device import resolve_device
from aekit.validation import (
    MAX_SEED,
    Check,
    check_data,
    check_sums,
    flag,
    one_of,
    positive,
    validate_params,
)

__all__ = ["PCA", "SOLVERS"]

SOLVERS = ("auto", "covariance", "svd", "randomized")
DTYPES = {"auto": None, "float64": torch.float64, "float32": torch.float32}

DEFAULT_COMPONENTS = 2  # PCA's code size when neither n_components nor latent_dim is given


class PCA(ProbabilisticPCAMixin, AutoencoderEstimator, kind="pca"):
    """Principal component analysis in the input's precision, solved in float64, on
    the CPU or CUDA.

    The rank-``n_components`` linear autoencoder with biases: codes
    ``Z = (X - mean_) @ components_.T`` and reconstructions
    ``Z @ components_ + mean_`` minimise the squared error over all linear codes
    of that size. Attributes follow :class:`sklearn.decomposition.PCA`.

    Parameters
    ----------
    n_components : int, default=2
        Size of the code, in ``[1, min(n_samples, n_features)]``.
    latent_dim : int, optional
        The same number under the name every other aekit model (and the command line)
        gives it, so that one grid can search every kind; when given it is the code
        size, and ``n_components`` must be left at its default or agree.
    whiten : bool, default=False
        Divide the codes by the square root of their variance, so that they have
        unit variance on the training data.
    solver : {"auto", "covariance", "svd", "randomized"}, default="auto"
        ``"covariance"``: eigendecomposition of the covariance matrix (exact;
        cheapest when ``n_samples >= n_features``). ``"svd"``: SVD of the
        centred data (exact). ``"randomized"``: the randomized range finder of
        Halko, Martinsson & Tropp (2011) with power iterations (approximate).
        ``"auto"`` picks ``"covariance"`` when ``n_samples >= n_features``,
        ``"svd"`` otherwise.
    device : str, default="auto"
        Where the computation runs: ``"cpu"``, ``"cuda"`` or ``"auto"`` (CUDA when
        available, as for every aekit model; not MPS, which lacks float64). Inputs
        and outputs are NumPy arrays either way.
    random_state : int or None, default=None
        Seed of the random test matrix of the randomized solver.
    n_oversamples : int, default=10
        Extra random directions of the randomized solver.
    n_power_iter : int, default=4
        Power iterations of the randomized solver.
    dtype : {"auto", "float64", "float32"}, default="auto"
        Precision of the products over the data. ``"auto"`` takes the input's own:
        float64 for float64 input, float32 otherwise (as scikit-learn does), so
        that the data are read in place, never copied. Whatever the products, the
        mean, the covariance and its eigendecomposition are float64, which keeps
        float32 products far more exact than float32 throughout (BENCHMARKS.md,
        "PCA"). ``"float64"`` on float32 input is exact to float64 rounding and
        costs a cast of every chunk.
    contamination : "auto" or float in (0, 0.5], default="auto"
        Share of outliers assumed in the training data: it sets ``offset_``, the
        threshold of ``predict`` and ``decision_function`` (:mod:`aekit.models.outliers`).
    validation_fraction : float in [0, 0.5], default=0.1
        ``offset_`` is set from the scores of this share of ``X`` (held out as by
        :class:`aekit.Autoencoder`) under a second PCA fitted on the rest: a model rates
        the examples it was fitted on too well. The components are fitted on all
        of ``X``. 0: from the training examples' own scores.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        Principal axes, orthonormal rows, by decreasing variance; the entry of
        largest magnitude of each row is positive.
    mean_ : ndarray of shape (n_features,)
    explained_variance_ : ndarray of shape (n_components,)
        Covariance eigenvalues (normalised by ``n_samples - 1``).
    explained_variance_ratio_ : ndarray of shape (n_components,)
    singular_values_ : ndarray of shape (n_components,)
        Singular values of the centred data.
    noise_variance_ : float
        Probabilistic-PCA noise variance: the mean of the discarded eigenvalues
        among the first ``min(n_samples, n_features)`` (scikit-learn's convention).
    full_explained_variance_ : ndarray or None
        Every eigenvalue the solver computed (``None`` for ``"randomized"``).
    total_variance_ : float
        Sum of the per-feature variances (``n_samples - 1`` normalisation).
    n_components_, n_features_in_, n_samples_ : int
    input_shape_ : tuple of int
        Shape of one example; image input is flattened and
        :meth:`inverse_transform` restores this shape.
    solver_ : str
        The solver used.

    Notes
    -----
    Fitted attributes are float64 whatever the input; outputs are float64 for
    float64 input and float32 otherwise. How each solver reads the data (in place,
    in chunks or as a centred copy): :mod:`aekit.models.pca_solvers`.

    ``score`` is the probabilistic-PCA log-likelihood whether or not ``whiten``
    is set: whitening rescales the codes, not the model of the data.
    scikit-learn's ``score`` changes with ``whiten`` (its ``get_covariance``
    rescales the components; scikit-learn issue #13898); without whitening the
    two agree.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(200, 5)) * [5.0, 2.0, 1.0, 0.1, 0.1]
    >>> pca = PCA(n_components=2).fit(X)
    >>> pca.components_.shape, pca.transform(X).shape
    ((2, 5), (200, 2))
    >>> bool(np.isclose(np.mean((X - pca.inverse_transform(pca.transform(X))) ** 2),
    ...                 pca.reconstruction_error_bound()))
    True
    """

    score_measure = "probabilistic-PCA log-likelihood per example (nats)"
    is_pca = True

    def __init__(
        self,
        n_components: int = DEFAULT_COMPONENTS,
        *,
        latent_dim: int | None = None,
        whiten: bool = False,
        solver: str = "auto",
        device: str = "auto",
        random_state: int | None = None,
        n_oversamples: int = 10,
        n_power_iter: int = 4,
        dtype: str = "auto",
        contamination: str | float = "auto",
        validation_fraction: float = 0.1,
    ) -> None:
        self.n_components = n_components
        self.latent_dim = latent_dim
        self.whiten = whiten
        self.solver = solver
        self.device = device
        self.random_state = random_state
        self.n_oversamples = n_oversamples
        self.n_power_iter = n_power_iter
        self.dtype = dtype
        self.contamination = contamination
        self.validation_fraction = validation_fraction

    # -- validation --------------------------------------------------------------------
    _constraints: ClassVar[dict[str, Check]] = {
        "solver": one_of(SOLVERS),
        "dtype": one_of(tuple(DTYPES)),
        "whiten": flag,
        "contamination": check_contamination,
        "validation_fraction": positive(zero=True, maximum=0.5),
        "n_oversamples": positive(integer=True, zero=True),
        "n_power_iter": positive(integer=True, zero=True),
        "random_state": positive(integer=True, zero=True, optional=True, maximum=MAX_SEED),
    }

    def _validate_params(self) -> None:
        validate_params(self, self._constraints)

    def check_fit(self, n_samples: int, input_shape: tuple[int, ...]) -> None:
        super().check_fit(n_samples, input_shape)
        self._check_n_components(n_samples, math.prod(input_shape))
        self._resolve_device()

    def _check_n_components(self, n: int, D: int) -> int:
        name, k, top = "n_components", self.n_components, min(n, D)
        if self.latent_dim is not None:
            if self.n_components not in (DEFAULT_COMPONENTS, self.latent_dim):
                raise ValueError(
                    f"latent_dim={self.latent_dim!r} and n_components={self.n_components!r} "
                    "name the same number, the code size; give one of them."
                )
            name, k = "latent_dim", self.latent_dim
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k <= top:
            raise ValueError(
                f"{name} must be an int in [1, min(n_samples, n_features)] = [1, {top}] "
                f"for X with {n} sample(s) and {D} feature(s); got {k!r}."
            )
        return int(k)

    def _resolve_device(self) -> torch.device:
        return resolve_device(self.device, float64=True)  # PCA solves in float64

    @staticmethod
    def _checked(X: Any, **checks: Any) -> np.ndarray:
        """``check_data(X)``, but float64 input stays float64 (a view, not a copy)."""
        return check_data(X, dtype=float_type_of(X), **checks)

    @staticmethod
    def _as_matrix(array: np.ndarray) -> tuple[np.ndarray, type]:
        """A checked ``array`` as (n, D), and the dtype of outputs computed from it."""
        return array.reshape(len(array), -1), array.dtype.type

    def _check_X(self, X: Any) -> tuple[np.ndarray, type]:
        """Validate ``X`` against the fitted example shape; return it as (n, D)."""
        check_is_fitted(self, "components_")
        self._feature_names(X, reset=False)
        array = self._checked(X)
        if array.shape[1:] != self.input_shape_:
            if len(self.input_shape_) == 1 and array.ndim == 2:
                raise DataError(
                    f"X has {array.shape[1]} features, but PCA is expecting "
                    f"{self.n_features_in_} features as input."
                )
            array = check_data(array, expected_shape=self.input_shape_, dtype=array.dtype.type)
        return self._as_matrix(array)

    # -- fitting -----------------------------------------------------------------------
    def fit(self, X: Any, y: Any = None, *, X_val: Any = None) -> PCA:
        """Fit the principal axes of ``X``.

        Parameters
        ----------
        X : array-like of shape (n, D), (n, H, W) or (n, C, H, W)
        y : ignored
        X_val : array-like, optional
            Examples not fitted on, whose scores set ``offset_`` (otherwise a share
            ``validation_fraction`` of ``X`` under a second PCA).

        Returns
        -------
        self
        """
        self._fit(X, X_val)
        return self

    def fit_transform(self, X: Any, y: Any = None) -> np.ndarray:
        """Fit, then return the codes of ``X`` (shape (n, n_components))."""
        X, dtype = self._fit(X)
        return self._transform(X, dtype)

    def _fit(self, X: Any, X_val: Any = None) -> tuple[np.ndarray, type]:
        self._validate_params()
        self._feature_names(X, reset=True)
        array = self._checked(X, min_samples=2, finite=False)
        shape = tuple(array.shape[1:])
        X, out_dtype = self._as_matrix(array)
        sums = check_sums(X.sum(axis=0, dtype=np.float64), X)  # checks finiteness too
        n, D = X.shape
        k = self._check_n_components(n, D)
        self.device_ = self._resolve_device()
        solver = ("covariance" if n >= D else "svd") if self.solver == "auto" else self.solver
        dtype = DTYPES[self.dtype] or (torch.float64 if X.dtype == np.float64 else torch.float32)
        if solver == "covariance":
            mean, full, components = covariance_eigh(X, sums, k, self.device_, dtype)
            values, total = full[:k], float(full.sum())
        else:
            seed = secrets.randbits(62) if self.random_state is None else int(self.random_state)
            mean, values, full, components, total = svd_spectrum(
                X, sums, k, self.device_, dtype, solver, self.n_oversamples, self.n_power_iter, seed
            )
        self.solver_, self.input_shape_ = solver, shape
        self.n_samples_, self.n_features_in_, self.n_components_ = n, D, k
        self.mean_ = mean.cpu().numpy()
        self.components_ = flip_signs(components).cpu().numpy()
        self.explained_variance_ = values.cpu().numpy()
        self.full_explained_variance_ = None if full is None else full.cpu().numpy()
        self.total_variance_ = total
        self.explained_variance_ratio_ = self.explained_variance_ / (total if total > 0 else 1.0)
        self.singular_values_ = np.sqrt(self.explained_variance_ * (n - 1))
        # PPCA noise: mean of the discarded eigenvalues among the first min(n, D)
        rest = min(n, D) - k
        discarded = total - float(self.explained_variance_.sum())
        if full is not None:
            discarded = float(full[k : min(n, D)].sum())
        self.noise_variance_ = max(discarded, 0.0) / rest if rest else 0.0
        try:
            if X_val is None:
                self._fit_held_out_offset(array)
            else:
                held_out = self._checked(X_val)
                self._fit_offset(training_sample(held_out, 0))
        except ValueError:  # a singular PPCA model: no log-likelihood, no outlier threshold
            self.offset_ = float("nan")
        return X, out_dtype

    def _fit_held_out_offset(self, array: np.ndarray) -> None:
        """``offset_`` from held-out scores under a PCA fitted on the other examples
        (the training examples' own scores where too few can be held out)."""
        seed = 0 if self.random_state is None else int(self.random_state)
        train, held_out = hold_out(array, self.validation_fraction, seed)
        if held_out is None or self.n_components_ > min(len(train), self.n_features_in_):
            self._fit_offset(training_sample(array, seed))
            return
        side = clone(self).set_params(validation_fraction=0.0).fit(train)
        held_out = training_sample(held_out, seed)
        self._fit_offset(held_out, side.score_samples(held_out))

    # -- using -------------------------------------------------------------------------
    def transform(self, X: Any) -> np.ndarray:
        """Codes of ``X``: ``(X - mean_) @ components_.T``, divided by
        ``sqrt(explained_variance_)`` when ``whiten``.

        Returns
        -------
        ndarray of shape (n, n_components_)
        """
        X, dtype = self._check_X(X)
        return self._transform(X, dtype)

    def _transform(self, X: np.ndarray, dtype: type) -> np.ndarray:
        W, mean = self._tensor(self.components_), self._tensor(self.mean_)
        scale = self._code_scale()
        out = [((chunk - mean) @ W.T / scale).cpu().numpy() for chunk in chunks(X, self.device_)]
        return np.concatenate(out).astype(dtype, copy=False)

    def inverse_transform(self, Z: Any) -> np.ndarray:
        """Reconstructions ``Z @ components_ + mean_`` (undoing the whitening), in
        the shape of the training examples."""
        check_is_fitted(self, "components_")
        Z, dtype = self._as_matrix(self._checked(Z, what="Z"))
        if Z.shape[1] != self.n_components_:
            raise DataError(
                f"Z must have shape (n, {self.n_components_}), but it has shape {Z.shape}."
            )
        W, mean = self._tensor(self.components_), self._tensor(self.mean_)
        scale = self._code_scale()
        out = [((z * scale) @ W + mean).cpu().numpy() for z in chunks(Z, self.device_)]
        return np.concatenate(out).astype(dtype, copy=False).reshape(len(Z), *self.input_shape_)

    def feature_scores(self, X: Any) -> Any:
        """Each value's share of its example's outlier score: how much of the squared
        reconstruction error setting that value alone to its best fit would remove,
        ``r_j² / (1 − Σ_k W_kj²)`` with ``r`` the residual (a corrupted value spreads
        its residual over correlated columns; this puts it back on the value). Rows
        sum to 1; a DataFrame with the training columns' names when fitted on one.

        Returns
        -------
        ndarray or DataFrame of shape (n, n_values)
        """
        array = self._check_X(X)[0].astype(np.float64)
        residual = array - self.reconstruct(X).reshape(len(array), -1)
        leverage = 1.0 - (self.components_.astype(np.float64) ** 2).sum(axis=0)
        removable = residual.astype(np.float64) ** 2 / np.maximum(leverage, 1e-12)
        return as_feature_table(self, shares_of(removable), getattr(X, "index", None))

    @property
    def _n_features_out(self) -> int:
        return self.n_components_

    def _encoder_module(self) -> nn.Module:
        code_scale = self._code_scale().cpu().numpy()
        return PCAEncoder(self.components_, self.mean_, code_scale, self.input_shape_)

    def _decoder_module(self) -> nn.Module:
        code_scale = self._code_scale().cpu().numpy()
        return PCADecoder(self.components_, self.mean_, code_scale, self.input_shape_)

    def _code_scale(self) -> torch.Tensor:
        if not self.whiten:
            return torch.ones((), dtype=torch.float64, device=self.device_)
        std = np.sqrt(self.explained_variance_)
        return self._tensor(np.maximum(std, np.finfo(np.float64).eps))

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(array, dtype=torch.float64, device=self.device_)

    def reconstruction_error_bound(self, n_components: int | None = None) -> float:
        """The Eckart–Young bound: the least mean squared error per value that any
        rank-``n_components`` linear code can reach on the training data.

        It is ``sum(discarded covariance eigenvalues) / n_features`` with the
        covariance normalised by ``n_samples``, i.e. the training MSE of the
        optimal reconstruction ``inverse_transform(transform(X))``.

        Parameters
        ----------
        n_components : int, optional
            Code size; the fitted ``n_components_`` by default. Sizes above it
            need the full spectrum (solvers ``"covariance"`` and ``"svd"``).

        Returns
        -------
        float
        """
        check_is_fitted(self, "components_")
        m = self.n_components_ if n_components is None else n_components
        full = self.full_explained_variance_
        top = len(full) if full is not None else self.n_components_
        if isinstance(m, bool) or not isinstance(m, int | np.integer) or not 0 <= m <= top:
            why = " (the randomized solver computes no further eigenvalues)" if full is None else ""
            raise ValueError(f"n_components must be an int in [0, {top}]{why}; got {m!r}.")
        if full is not None:
            discarded = float(full[m:].sum())
        else:
            discarded = max(self.total_variance_ - float(self.explained_variance_[:m].sum()), 0.0)
        n = self.n_samples_
        return discarded * (n - 1) / n / self.n_features_in_

    # -- persistence -------------------------------------------------------------------
    _saved_arrays = (
        "components_",
        "mean_",
        "explained_variance_",
        "explained_variance_ratio_",
        "singular_values_",
        "full_explained_variance_",
    )
    _saved_values: ClassVar[dict[str, Callable]] = {
        "n_components_": int,
        "n_features_in_": int,
        "n_samples_": int,
        "input_shape_": shape_of,
        "noise_variance_": float,
        "total_variance_": float,
        "solver_": str,
    }

    def _restore(self, fitted: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
        self._validate_params()
        super()._restore(fitted, tensors)
        if getattr(self.components_, "shape", None) != (self.n_components_, self.n_features_in_):
            raise ValueError("components_ does not match n_components_ and n_features_in_")
        wanted = self._check_n_components(self.n_samples_, self.n_features_in_)
        if wanted != self.n_components_:
            raise ValueError(
                f"its parameters ask for {wanted} components but it holds {self.n_components_}"
            )
        self.device_ = self._resolve_device()

    # -- scikit-learn tags ---------------------------------------------------------------
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.solver == "randomized" and self.random_state is None
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    def _more_tags(self) -> dict[str, Any]:  # scikit-learn < 1.6
        randomized = self.solver == "randomized" and self.random_state is None
        return {"non_deterministic": randomized, "preserves_dtype": [np.float64, np.float32]}
