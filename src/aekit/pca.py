"""Principal component analysis: the linear autoencoder solved in closed form.

The optimal rank-``k`` linear code of centred data is its projection on the
top-``k`` eigenvectors of the covariance (Eckart–Young–Mirsky); its training
error is the sum of the discarded eigenvalues. :class:`PCA` computes them with
torch or NumPy's BLAS (float64 sums and eigensolver whatever the input's
precision), on the CPU or a GPU, and reads them as the
probabilistic PCA model of Tipping & Bishop (1999) to give log-likelihoods in
nats.
"""

from __future__ import annotations

import math
import secrets
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import scipy.linalg
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from aekit.device import resolve_device
from aekit.errors import DataError
from aekit.validation import check_choice, check_data, check_positive, check_sums

__all__ = ["PCA", "SOLVERS"]

SOLVERS = ("auto", "covariance", "svd", "randomized")
DTYPES = {"auto": None, "float64": torch.float64, "float32": torch.float32}
_ROWS = 16384  # rows per chunk: bounds the working copy to ~100 MB at D = 784
_BLOCK = 384  # column-block width of the symmetric Gram product
# the most cancellation (mean square / variance of a column) accepted in a covariance
# taken from the unshifted Gram matrix: 4 of float32's 24 bits, 12 of float64's 53
_MAX_CANCELLATION = {np.float32: 2.0**4, np.float64: 2.0**12}


class PCA(TransformerMixin, BaseEstimator):
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
    device : str, default="cpu"
        Where the computation runs: ``"cpu"``, ``"cuda"`` or ``"auto"`` (CUDA when
        available). Inputs and outputs are NumPy arrays either way.
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
        mean, the covariance and its eigendecomposition are float64: on MNIST
        float32 products put the fitted subspace 7e-5 degrees from the exact one
        (scikit-learn's float32 solvers: 1e-2 degrees). ``"float64"`` on float32
        input is exact to 1e-12 degrees and costs a cast of every chunk.

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
    float64 input and float32 otherwise. The covariance solver never copies ``X``
    whole: on the CPU it reads ``X`` in place when the products run in ``X``'s own
    precision and its columns do not sit far from zero, and in shifted row chunks
    otherwise; ``"svd"`` and ``"randomized"`` work on a centred copy. Constant
    features are left out of the eigenproblem (they only add zero eigenvalues),
    which is exact.

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

    def __init__(
        self,
        n_components: int = 2,
        *,
        whiten: bool = False,
        solver: str = "auto",
        device: str = "cpu",
        random_state: int | None = None,
        n_oversamples: int = 10,
        n_power_iter: int = 4,
        dtype: str = "auto",
    ) -> None:
        self.n_components = n_components
        self.whiten = whiten
        self.solver = solver
        self.device = device
        self.random_state = random_state
        self.n_oversamples = n_oversamples
        self.n_power_iter = n_power_iter
        self.dtype = dtype

    # -- validation --------------------------------------------------------------------
    def _validate_params(self) -> None:
        check_choice(self.solver, "solver", SOLVERS)
        check_choice(self.dtype, "dtype", tuple(DTYPES))
        if not isinstance(self.whiten, bool | np.bool_):
            raise ValueError(f"whiten must be True or False; got {self.whiten!r}.")
        check_positive(self.n_oversamples, "n_oversamples", integer=True, allow_zero=True)
        check_positive(self.n_power_iter, "n_power_iter", integer=True, allow_zero=True)
        if self.random_state is not None:
            check_positive(self.random_state, "random_state", integer=True, allow_zero=True)

    def _check_n_components(self, n: int, D: int) -> int:
        k, top = self.n_components, min(n, D)
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k <= top:
            raise ValueError(
                f"n_components must be an int in [1, min(n_samples, n_features)] = [1, {top}] "
                f"for X with {n} sample(s) and {D} feature(s); got {k!r}."
            )
        return int(k)

    def _resolve_device(self) -> torch.device:
        if self.device == "auto":  # CUDA or the CPU: MPS has no float64
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        device = resolve_device(self.device)
        if device.type == "mps":
            raise ValueError("PCA needs float64, which MPS lacks; use device='cpu'.")
        return device

    @staticmethod
    def _checked(X: Any, **checks: Any) -> np.ndarray:
        """``check_data(X)``, but float64 input stays float64 (a view, not a copy)."""
        dtype = np.float64 if getattr(X, "dtype", None) == np.float64 else np.float32
        return check_data(X, dtype=dtype, **checks)

    @staticmethod
    def _as_matrix(array: np.ndarray) -> tuple[np.ndarray, type]:
        """A checked ``array`` as (n, D), and the dtype of outputs computed from it."""
        return array.reshape(len(array), -1), array.dtype.type

    def _check_X(self, X: Any) -> tuple[np.ndarray, type]:
        """Validate ``X`` against the fitted example shape; return it as (n, D)."""
        check_is_fitted(self, "components_")
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
    def fit(self, X: Any, y: Any = None) -> PCA:
        """Fit the principal axes of ``X``.

        Parameters
        ----------
        X : array-like of shape (n, D), (n, H, W) or (n, C, H, W)
        y : ignored

        Returns
        -------
        self
        """
        self._fit(X)
        return self

    def fit_transform(self, X: Any, y: Any = None) -> np.ndarray:
        """Fit, then return the codes of ``X`` (shape (n, n_components))."""
        X, dtype = self._fit(X)
        return self._transform(X, dtype)

    def _fit(self, X: Any) -> tuple[np.ndarray, type]:
        self._validate_params()
        array = self._checked(X, min_samples=2, finite=False)
        shape = tuple(array.shape[1:])
        X, out_dtype = self._as_matrix(array)
        sums = check_sums(X.sum(axis=0, dtype=np.float64), X)  # checks finiteness too
        n, D = X.shape
        k = self._check_n_components(n, D)
        self.device_ = self._resolve_device()
        solver = self.solver
        if solver == "auto":
            solver = "covariance" if n >= D else "svd"
        dtype = DTYPES[self.dtype]
        if dtype is None:
            dtype = torch.float64 if X.dtype == np.float64 else torch.float32
        if solver == "covariance":
            mean, full, components = _covariance_eigh(X, sums, k, self.device_, dtype)
            values, total = full[:k], float(full.sum())
        else:
            Xc = _host(X).to(device=self.device_, dtype=dtype, copy=True)
            mean = torch.from_numpy(sums / n).to(self.device_)
            Xc -= mean.to(dtype)
            total = float(torch.linalg.vector_norm(Xc, dtype=torch.float64)) ** 2 / (n - 1)
            if solver == "svd":
                if n > D:  # the SVD of R in Xc = QR: the same S and V, without the n x D U
                    Xc = torch.linalg.qr(Xc, mode="r").R
                with _lapack_threads(self.device_, min(Xc.shape)):
                    _, S, components = torch.linalg.svd(Xc, full_matrices=False)
                full = S.double().square() / (n - 1)
            else:
                S, components = _randomized_svd(
                    Xc, k, self.n_oversamples, self.n_power_iter, self._seed()
                )
                full = None
            del Xc
            values = S[:k].double().square() / (n - 1)
            components = components[:k].double()

        self.solver_, self.input_shape_ = solver, shape
        self.n_samples_, self.n_features_in_, self.n_components_ = n, D, k
        self.mean_ = mean.cpu().numpy()
        self.components_ = _flip_signs(components).cpu().numpy()
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
        return X, out_dtype

    def _seed(self) -> int:
        if self.random_state is None:
            return secrets.randbits(62)
        return int(self.random_state)

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
        out = [((chunk - mean) @ W.T / scale).cpu().numpy() for chunk in _chunks(X, self.device_)]
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
        out = [((z * scale) @ W + mean).cpu().numpy() for z in _chunks(Z, self.device_)]
        return np.concatenate(out).astype(dtype, copy=False).reshape(len(Z), *self.input_shape_)

    def reconstruct(self, X: Any) -> np.ndarray:
        """``inverse_transform(transform(X))``: the best rank-d linear reconstruction.

        Examples
        --------
        >>> import numpy as np
        >>> X = np.random.default_rng(0).normal(size=(100, 5))
        >>> PCA(5).fit(X).reconstruct(X).shape
        (100, 5)
        """
        return self.inverse_transform(self.transform(X))

    def reconstruction_error(self, X: Any) -> float:
        """Mean squared reconstruction error per value on ``X``."""
        X_checked, _ = self._check_X(X)
        X_hat = self.reconstruct(X).reshape(X_checked.shape)
        return float(np.mean((X_hat.astype(np.float64) - X_checked) ** 2))

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
            raise ValueError(
                f"n_components must be an int in [0, {top}] for this fitted PCA; got {m!r}"
                + (
                    " (the randomized solver computes no further eigenvalues)."
                    if full is None
                    else "."
                )
            )
        if full is not None:
            discarded = float(full[m:].sum())
        else:
            discarded = max(self.total_variance_ - float(self.explained_variance_[:m].sum()), 0.0)
        n = self.n_samples_
        return discarded * (n - 1) / n / self.n_features_in_

    # -- probabilistic PCA ---------------------------------------------------------------
    def _ppca(self) -> tuple[np.ndarray, float]:
        """Model variances along the components (at least the noise) and the noise."""
        check_is_fitted(self, "components_")
        noise = float(self.noise_variance_)
        variances = np.maximum(self.explained_variance_, noise)
        # below this, a variance is float64 rounding of zero
        tiny = self.n_features_in_ * np.finfo(np.float64).eps * variances.max()
        if variances.min() <= tiny or (noise <= tiny and self.n_components_ < self.n_features_in_):
            raise ValueError(
                "The probabilistic PCA covariance is singular (zero variance in some "
                "direction), so the log-likelihood is infinite; use fewer components."
            )
        return variances, noise

    def get_covariance(self) -> np.ndarray:
        """Covariance of the PPCA model:
        ``components_.T @ diag(explained_variance_ - noise_variance_) @ components_
        + noise_variance_ * I`` (shape (n_features, n_features))."""
        check_is_fitted(self, "components_")
        noise = float(self.noise_variance_)
        W = self.components_
        cov = (W.T * np.maximum(self.explained_variance_ - noise, 0.0)) @ W
        cov[np.diag_indices_from(cov)] += noise
        return cov

    def get_precision(self) -> np.ndarray:
        """Inverse of :meth:`get_covariance`, by the matrix inversion lemma."""
        variances, noise = self._ppca()
        W = self.components_
        if self.n_components_ == self.n_features_in_:
            return (W.T / variances) @ W
        precision = -(W.T * ((variances - noise) / variances)) @ W
        precision[np.diag_indices_from(precision)] += 1.0
        return precision / noise

    def score_samples(self, X: Any) -> np.ndarray:
        """Log-likelihood of each example under probabilistic PCA, in nats.

        ``log N(x | mean_, get_covariance())`` with every constant, computed in
        O(n D k) from the eigen-decomposition of the model covariance. Whitening
        changes the codes only, not the model.

        Returns
        -------
        ndarray of shape (n,), float64
        """
        X, _ = self._check_X(X)
        variances, noise = self._ppca()
        W, mean = self._tensor(self.components_), self._tensor(self.mean_)
        inv_var = self._tensor(1.0 / variances)
        D, k = self.n_features_in_, self.n_components_
        log_det = float(np.log(variances).sum()) + ((D - k) * math.log(noise) if D > k else 0.0)
        out = []
        for chunk in _chunks(X, self.device_):
            centred = chunk - mean
            codes = centred @ W.T
            quad = codes.square() @ inv_var
            if D > k:  # the residual off the principal subspace, measured directly
                quad += (centred - codes @ W).square().sum(1) / noise
            out.append((-0.5 * (quad + log_det + D * math.log(2 * math.pi))).cpu().numpy())
        return np.concatenate(out)

    def score(self, X: Any, y: Any = None) -> float:
        """Mean log-likelihood per example under probabilistic PCA, in nats."""
        return float(np.mean(self.score_samples(X)))

    # -- persistence -------------------------------------------------------------------
    _ARRAYS = (
        "components_",
        "mean_",
        "explained_variance_",
        "explained_variance_ratio_",
        "singular_values_",
    )

    def save(self, path: str | Path) -> Path:
        """Write the fitted model to the folder ``path`` (config JSON + safetensors)."""
        from aekit.persistence import save_model

        return save_model(self, path)

    def _export(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        check_is_fitted(self, "components_")
        tensors = {name: torch.from_numpy(np.asarray(getattr(self, name))) for name in self._ARRAYS}
        if self.full_explained_variance_ is not None:
            tensors["full_explained_variance_"] = torch.from_numpy(self.full_explained_variance_)
        fitted = {
            "n_components_": self.n_components_,
            "n_features_in_": self.n_features_in_,
            "n_samples_": self.n_samples_,
            "input_shape_": list(self.input_shape_),
            "noise_variance_": self.noise_variance_,
            "total_variance_": self.total_variance_,
            "solver_": self.solver_,
        }
        return tensors, fitted

    def _restore(self, fitted: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
        self._validate_params()
        for name in self._ARRAYS:
            setattr(self, name, tensors[name].numpy())
        full = tensors.get("full_explained_variance_")
        self.full_explained_variance_ = None if full is None else full.numpy()
        self.n_components_ = int(fitted["n_components_"])
        self.n_features_in_ = int(fitted["n_features_in_"])
        self.n_samples_ = int(fitted["n_samples_"])
        self.input_shape_ = tuple(int(s) for s in fitted["input_shape_"])
        self.noise_variance_ = float(fitted["noise_variance_"])
        self.total_variance_ = float(fitted["total_variance_"])
        self.solver_ = str(fitted["solver_"])
        if self.components_.shape != (self.n_components_, self.n_features_in_):
            raise ValueError("components_ does not match n_components_ and n_features_in_")
        self.device_ = self._resolve_device()

    # -- scikit-learn tags ---------------------------------------------------------------
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.solver == "randomized" and self.random_state is None
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    def _more_tags(self) -> dict[str, Any]:  # scikit-learn < 1.6
        return {
            "non_deterministic": self.solver == "randomized" and self.random_state is None,
            "preserves_dtype": [np.float64, np.float32],
        }


# -- the computations, on torch tensors -------------------------------------------------
def _chunks(X: np.ndarray, device: torch.device, rows: int = _ROWS):
    """Float64 tensors on ``device`` holding ``rows`` rows of ``X`` at a time."""
    for start in range(0, len(X), rows):
        yield _host(X[start : start + rows]).to(device=device, dtype=torch.float64)


def _host(X: np.ndarray) -> torch.Tensor:
    """``X`` as a CPU tensor sharing its memory (read-only input is never written)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(X)


def _covariance_eigh(
    X: np.ndarray, sums: np.ndarray, k: int, device: torch.device, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mean, every covariance eigenvalue (descending) and the top-``k`` eigenvectors.

    ``sums`` are the float64 column sums of ``X``.

    Constant columns (the blank border of MNIST digits, say) have zero covariance
    with everything: they are left out of the eigenproblem (and, when found before
    it, of the Gram product), and contribute zero eigenvalues with coordinate
    eigenvectors. This is exact.
    """
    n, D = X.shape
    found = None
    if device.type == "cpu" and X.dtype == (np.float64 if dtype == torch.float64 else np.float32):
        found = _covariance_in_place(X, sums)
    if found is None:
        varying = np.flatnonzero(X.min(0) != X.max(0))
        mean = torch.from_numpy(np.array(X[0], dtype=np.float64)).to(device)
        if len(varying):
            cols = torch.as_tensor(varying, device=device)
            mean[cols], cov = _covariance(X, varying, device, dtype)
    else:
        varying, mean, cov = found
    m = len(varying)
    evals = torch.zeros(D, dtype=torch.float64, device=device)
    components = torch.zeros((k, D), dtype=torch.float64, device=device)
    if m:
        top = min(k, m)
        values, vectors = _top_eigh(cov, top)
        evals[:m] = values.clamp(min=0.0)
        components[:top, torch.as_tensor(varying, device=device)] = vectors.T
    if k > m:  # zero-variance directions: coordinate axes of constant columns
        constant = np.setdiff1d(np.arange(D), varying)[: k - m]
        components[np.arange(m, k), constant] = 1.0
    return mean, evals, components


def _top_eigh(cov: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every eigenvalue of the symmetric ``cov`` (descending) and the top-``k``
    eigenvectors (columns).

    On the CPU, LAPACK's ``dsyevr`` computes only the ``k`` wanted eigenvectors
    (PCA keeps few of hundreds) and a second reduction gives the eigenvalues: on
    MNIST's 717 x 717 covariance both take 0.08 s, a full ``eigh`` 0.11 s.
    """
    m = len(cov)
    if cov.device.type != "cpu":
        values, vectors = torch.linalg.eigh(cov)  # ascending
        return values.flip(0), vectors[:, m - k :].flip(1)
    matrix = cov.numpy()
    with _lapack_threads(cov.device, m):
        values = scipy.linalg.eigvalsh(matrix, check_finite=False)
        _, vectors = scipy.linalg.eigh(
            matrix, subset_by_index=(m - k, m - 1), driver="evr", check_finite=False
        )
    return torch.from_numpy(values[::-1].copy()), torch.from_numpy(vectors[:, ::-1].copy())


def _covariance(
    X: np.ndarray, columns: np.ndarray, device: torch.device, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and covariance (``n - 1`` normalisation) of ``X[:, columns]``, in float64.

    One pass over row chunks. Each chunk is shifted by the mean of the first chunk
    before its Gram matrix is taken, so the final correction ``- n d d^T`` (``d``:
    mean of the shifted data) is small and cancels no digits even when the data
    sit far from zero. The products run in ``dtype``; chunks are summed in float64.
    Only the lower block-triangle of the symmetric Gram matrix is multiplied
    (about 3/4 of the work of a full product).
    """
    if device.type == "cpu":
        return _covariance_numpy(X, columns, dtype)
    n, m = len(X), len(columns)
    rows = min(_ROWS, n)
    host = _host(X)
    select = None if m == X.shape[1] else torch.as_tensor(columns)

    def chunk_of(start: int) -> torch.Tensor:
        part = host[start : start + rows]
        return part if select is None else part.index_select(1, select)

    shift = chunk_of(0).to(device=device, dtype=torch.float64).mean(0).to(dtype)
    buf = torch.empty((rows, m), dtype=dtype, device=device)
    gram = torch.zeros((m, m), dtype=torch.float64, device=device)
    part = gram if dtype == torch.float64 else torch.empty((m, m), dtype=dtype, device=device)
    total = torch.zeros(m, dtype=torch.float64, device=device)
    edges = np.linspace(0, m, max(1, round(m / _BLOCK)) + 1).astype(int)
    for start in range(0, n, rows):
        chunk = buf[: min(rows, n - start)]
        chunk.copy_(chunk_of(start))  # to the device, in dtype
        chunk -= shift
        total += chunk.sum(0, dtype=torch.float64)
        if part is not gram:
            part.zero_()
        for lo, hi in zip(edges[:-1], edges[1:], strict=True):
            part[lo:, lo:hi].addmm_(chunk[:, lo:].T, chunk[:, lo:hi])
        if part is not gram:
            gram += part
    gram = torch.tril(gram)
    gram += torch.tril(gram, -1).T
    delta = total / n
    cov = (gram - n * torch.outer(delta, delta)) / (n - 1)
    return shift.double() + delta, cov


def _covariance_numpy(
    X: np.ndarray, columns: np.ndarray, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`_covariance` on the CPU with NumPy's BLAS.

    Same arithmetic (shifted chunks, products in ``dtype``, sums in float64), but
    ``chunk.T @ chunk`` goes to NumPy, which hands it to BLAS's symmetric rank-k
    update: on the CPU this is faster than PyTorch's general product (measured in
    ``bench/pca.py``). Each chunk is cast and shifted in one pass into a reused
    buffer. When most columns vary, all of them go into the product and the
    varying block is cut out of the Gram matrix afterwards: a slightly larger
    product is cheaper than gathering the columns of every chunk.
    """
    n, D = X.shape
    rows, m = min(_ROWS, n), len(columns)
    work = np.float64 if dtype == torch.float64 else np.float32
    gather = m < 0.8 * D
    width = m if gather else D

    def chunk_of(start: int) -> np.ndarray:
        part = X[start : start + rows]
        return part[:, columns] if gather else part

    shift = chunk_of(0).mean(axis=0, dtype=np.float64).astype(work)
    buf = np.empty((rows, width), dtype=work)
    gram = np.zeros((width, width))
    total = np.zeros(width)
    for start in range(0, n, rows):
        part = chunk_of(start)
        chunk = buf[: len(part)]
        np.subtract(part, shift, out=chunk, dtype=work)
        total += chunk.sum(axis=0, dtype=np.float64)
        gram += chunk.T @ chunk
    if not gather:
        shift, total, gram = shift[columns], total[columns], gram[np.ix_(columns, columns)]
    delta = total / n
    cov = (gram - n * np.outer(delta, delta)) / (n - 1)
    return torch.from_numpy(shift.astype(np.float64) + delta), torch.from_numpy(cov)


def _covariance_in_place(
    X: np.ndarray, sums: np.ndarray
) -> tuple[np.ndarray, torch.Tensor, torch.Tensor] | None:
    """Varying columns, mean, and covariance of the varying columns of ``X``, from
    the Gram matrix of ``X`` itself.

    No copy of the data: ``X^T X`` in ``X``'s own precision (BLAS's symmetric
    rank-k update reads ``X`` in place), the mean from the float64 ``sums``, and the
    textbook ``(X^T X - n m m^T) / (n - 1)`` formed in float64. That difference
    cancels about ``log2(kappa)`` bits of the products, ``kappa`` the largest
    ratio of a column's mean square to its variance (2.6 on MNIST). Returns
    ``None`` when ``kappa`` exceeds ``_MAX_CANCELLATION`` (data far from zero, or a
    constant column other than zeros, which the Gram matrix cannot tell exactly
    from a varying one), for the caller to take the shifted, exact route.
    """
    n = len(X)
    gram = (X.T @ X).astype(np.float64, copy=False)
    mean = sums / n
    mean_square = np.diagonal(gram) / n
    columns = np.flatnonzero(mean_square > 0)  # the rest are all zero: constant
    part, square = mean[columns], mean_square[columns]
    if np.any((square - part**2) * _MAX_CANCELLATION[X.dtype.type] < square):
        return None
    cov = (gram[np.ix_(columns, columns)] - n * np.outer(part, part)) / (n - 1)
    return columns, torch.from_numpy(mean), torch.from_numpy(cov)


@contextmanager
def _lapack_threads(device: torch.device, size: int):
    """Run a CPU eigen- or singular value decomposition of side ``size`` <= 2048 on
    one thread.

    LAPACK's reductions to tridiagonal or bidiagonal form are long chains of small
    parallel regions: at such sizes threads gain little, and on a machine whose
    cores are busy every region waits for a time slice, which makes them tens of
    times slower (an SVD of a 784 x 784 matrix: 0.16 s on one thread, 16 s on two
    busy cores).
    """
    if device.type != "cpu" or size > 2048:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1, user_api="blas"):  # SciPy's LAPACK
            yield
    finally:
        torch.set_num_threads(threads)


def _randomized_svd(
    Xc: torch.Tensor, k: int, n_oversamples: int, n_power_iter: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``k`` singular values and right singular vectors of the centred ``Xc``.

    Randomized subspace iteration (Halko, Martinsson & Tropp 2011, Algorithm 4.4):
    a Gaussian test matrix, ``n_power_iter`` rounds of ``Xc Xc^T`` with the basis
    re-orthonormalised after every product, then the exact SVD of the small
    projected matrix.
    """
    n, D = Xc.shape
    width = min(k + n_oversamples, n, D)
    generator = torch.Generator().manual_seed(seed)  # on the CPU: same draw on any device
    omega = torch.randn((D, width), generator=generator, dtype=torch.float64)
    Q = _orthonormal(Xc @ omega.to(device=Xc.device, dtype=Xc.dtype))
    for _ in range(n_power_iter):
        Q = _orthonormal(Xc @ _orthonormal(Xc.T @ Q))
    with _lapack_threads(Xc.device, width):
        _, S, Vt = torch.linalg.svd(Q.T @ Xc, full_matrices=False)
    return S[:k], Vt[:k]


def _orthonormal(Y: torch.Tensor) -> torch.Tensor:
    """An orthonormal basis of the columns of a tall ``Y``.

    Cholesky QR twice (CholQR2): matrix products and a small Cholesky factor, far
    faster than Householder QR on tall matrices. Householder QR takes over when
    ``Y`` is too ill-conditioned for it (rank-deficient data, say).
    """
    Q, width = Y, Y.shape[1]
    identity = torch.eye(width, dtype=Y.dtype, device=Y.device)
    for _ in range(2):
        gram = Q.T @ Q
        with _lapack_threads(Y.device, width):  # width x width: one thread is fastest
            R, info = torch.linalg.cholesky_ex(gram, upper=True)
            if int(info) != 0:
                return torch.linalg.qr(Y).Q
            R_inv = torch.linalg.solve_triangular(R, identity, upper=True)
        Q = Q @ R_inv
    if (Q.T @ Q - identity).abs().max() > 100 * width * torch.finfo(Q.dtype).eps:
        return torch.linalg.qr(Y).Q
    return Q


def _flip_signs(components: torch.Tensor) -> torch.Tensor:
    """Make the entry of largest magnitude of each row positive (as scikit-learn)."""
    biggest = components.abs().argmax(1, keepdim=True)
    signs = torch.sign(components.gather(1, biggest))
    signs[signs == 0] = 1.0
    return components * signs
