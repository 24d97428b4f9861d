"""Densities fitted to an autoencoder's codes, for sampling a model that has no prior.

A plain autoencoder defines no density over its codes, so decoding ``z ~ N(0, I)``
gives garbage. Fitting a density to the codes of the training set and decoding
its draws works (Ghosh et al. 2020, "From variational to deterministic
autoencoders"): :class:`GaussianDensity` (one full-covariance Gaussian) or
:class:`MixtureDensity` (a Gaussian mixture, ``n_components`` given or chosen by
BIC).

The densities are plain arrays that round-trip through JSON
(:meth:`GaussianDensity.to_dict`), so a saved model keeps them without pickle.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from aekit.core.gaussian import log_density

DENSITIES = ("gaussian", "gmm")
MAX_COMPONENTS = 10  # BIC chooses among 1..MAX_COMPONENTS mixture components
MAX_FIT_CODES = 20000  # the mixture is fitted on at most this many codes (seeded subsample)


def _regulariser(Z: np.ndarray) -> float:
    """A ridge added to covariances: 1e-6 of the mean code variance (scale-free)."""
    return 1e-6 * float(np.mean(np.var(Z, axis=0))) + 1e-12


def _gaussian_log_prob(Z: np.ndarray, mean: np.ndarray, chol: np.ndarray) -> np.ndarray:
    """``log N(z | mean, L Lᵀ)`` for each row of ``Z``, every constant included."""
    d = Z.shape[1]
    white = np.linalg.solve(chol, (Z - mean).T)  # L⁻¹ (z − μ), shape (d, n)
    log_det = 2.0 * np.log(np.diag(chol)).sum()
    return log_density((white**2).sum(0), log_det, d)


def _as_matrix(value: Any, shape: tuple[int, ...], what: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.shape != shape or not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} must be finite numbers of shape {shape}; got shape {arr.shape}.")
    return arr


class GaussianDensity:
    """A full-covariance Gaussian ``N(μ, Σ)`` over codes.

    Parameters
    ----------
    mean : array of shape (d,)
    covariance : array of shape (d, d), symmetric positive definite
    """

    name = "gaussian"

    def __init__(self, mean: Any, covariance: Any) -> None:
        self.mean = np.asarray(mean, dtype=np.float64)
        d = self.mean.shape[0]
        self.covariance = _as_matrix(covariance, (d, d), "covariance")
        self.cholesky = np.linalg.cholesky(self.covariance)  # raises if not positive definite

    @property
    def dim(self) -> int:
        return self.mean.shape[0]

    @classmethod
    def fit(cls, Z: np.ndarray) -> GaussianDensity:
        """Maximum-likelihood mean and covariance of the codes ``Z`` (n, d), plus a tiny ridge."""
        Z = np.asarray(Z, dtype=np.float64)
        cov = np.atleast_2d(np.cov(Z, rowvar=False, bias=True))
        return cls(Z.mean(0), cov + _regulariser(Z) * np.eye(Z.shape[1]))

    def sample(self, n: int, rng: np.random.Generator, temperature: float = 1.0) -> np.ndarray:
        """``n`` draws, shape (n, d), with the covariance scaled by ``temperature²``."""
        eps = temperature * rng.standard_normal((n, self.dim))
        return self.mean + eps @ self.cholesky.T

    def log_prob(self, Z: np.ndarray) -> np.ndarray:
        """Log-density of each row of ``Z`` in nats."""
        return _gaussian_log_prob(np.asarray(Z, dtype=np.float64), self.mean, self.cholesky)

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean.tolist(), "covariance": self.covariance.tolist()}

    @classmethod
    def from_dict(cls, state: dict[str, Any], dim: int) -> GaussianDensity:
        return cls(_as_matrix(state["mean"], (dim,), "mean"), state["covariance"])


class MixtureDensity:
    """A Gaussian mixture ``Σ_k π_k N(μ_k, Σ_k)`` with full covariances.

    Fitted by scikit-learn's ``GaussianMixture`` (EM, k-means initialisation);
    kept as plain arrays, so sampling and saving need no scikit-learn object.

    Parameters
    ----------
    weights : array of shape (k,)
    means : array of shape (k, d)
    covariances : array of shape (k, d, d)
    bic : list of [k, BIC] pairs, optional
        The BIC of each candidate when the number of components was chosen by BIC.
    """

    name = "gmm"

    def __init__(self, weights: Any, means: Any, covariances: Any, bic: Any = None) -> None:
        self.weights = np.asarray(weights, dtype=np.float64)
        k = self.weights.shape[0]
        if self.weights.ndim != 1 or k < 1 or not np.all(self.weights >= 0):
            raise ValueError("mixture weights must be a non-empty vector of non-negative numbers.")
        if abs(self.weights.sum() - 1) > 1e-6:
            raise ValueError(f"mixture weights must sum to 1; they sum to {self.weights.sum()}.")
        self.means = np.asarray(means, dtype=np.float64)
        d = self.means.shape[-1]
        self.means = _as_matrix(self.means, (k, d), "means")
        self.covariances = _as_matrix(covariances, (k, d, d), "covariances")
        self.choleskys = np.linalg.cholesky(self.covariances)
        self.bic = [[int(c), float(b)] for c, b in (bic or [])]

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    @property
    def n_components(self) -> int:
        return self.weights.shape[0]

    @classmethod
    def fit(
        cls,
        Z: np.ndarray,
        n_components: int | str = "bic",
        *,
        max_components: int = MAX_COMPONENTS,
        max_samples: int = MAX_FIT_CODES,
        random_state: int = 0,
        ridge: float | None = None,
        single_precision: bool = False,
    ) -> MixtureDensity:
        """Fit to the codes ``Z`` (n, d).

        ``n_components="bic"`` tries 1 … ``max_components`` components — at most as
        many as keep one code per free parameter, ``k (d + d(d+1)/2 + 1) ≤ n`` — and
        keeps the one of lowest BIC. At most ``max_samples`` codes (a seeded
        subsample) are used. ``ridge`` (a share of the mean code variance, added to
        every covariance) regularises a mixture with more parameters than codes; the
        default is 1e-6 of it, only to keep the covariances invertible.
        ``single_precision`` runs EM in float32 (about half the time on wide data);
        the mixture is returned in float64. Only for a ridge well above the default:
        it bounds the covariances' condition number, which float32 needs.
        """
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.mixture import GaussianMixture
        from threadpoolctl import threadpool_limits

        Z = np.asarray(Z, dtype=np.float64)
        if len(Z) > max_samples:
            rows = np.random.default_rng(random_state).choice(len(Z), max_samples, replace=False)
            Z = Z[np.sort(rows)]
        n, d = Z.shape
        if n_components == "bic":
            per_component = d + d * (d + 1) // 2 + 1
            candidates = list(range(1, max(1, min(max_components, n // per_component)) + 1))
        else:
            if not isinstance(n_components, int | np.integer) or not 1 <= n_components <= n:
                raise ValueError(
                    f"n_components must be 'bic' or an integer from 1 to the number of codes "
                    f"({n}); got {n_components!r}."
                )
            candidates = [int(n_components)]
        reg = _regulariser(Z) if ridge is None else ridge * float(np.mean(np.var(Z, axis=0)))
        best, scores = None, []
        # One thread: these are small problems, and multi-threaded BLAS/OpenMP on them
        # runs up to 50x slower on a busy machine.
        with warnings.catch_warnings(), threadpool_limits(1):
            warnings.simplefilter("ignore", ConvergenceWarning)
            for k in candidates:
                gm = GaussianMixture(
                    k, covariance_type="full", reg_covar=reg, random_state=random_state
                ).fit(Z.astype(np.float32) if single_precision else Z)
                score = float(gm.bic(Z))
                scores.append([k, score])
                if best is None or score < best[0]:
                    best = (score, gm)
        gm = best[1]  # the constructor keeps float64 copies
        return cls(gm.weights_, gm.means_, gm.covariances_, scores if len(scores) > 1 else None)

    def sample(self, n: int, rng: np.random.Generator, temperature: float = 1.0) -> np.ndarray:
        """``n`` draws, shape (n, d): a component by its weight, then its Gaussian with
        the covariance scaled by ``temperature²``."""
        comp = rng.choice(self.n_components, size=n, p=self.weights / self.weights.sum())
        eps = temperature * rng.standard_normal((n, self.dim))
        return self.means[comp] + np.einsum("nij,nj->ni", self.choleskys[comp], eps)

    def component_log_probs(self, Z: np.ndarray) -> np.ndarray:
        """``log π_k + log N(z | μ_k, Σ_k)`` of each row of ``Z`` (n, d), shape (k, n)."""
        Z = np.asarray(Z, dtype=np.float64)
        return np.stack(
            [
                math.log(w) + _gaussian_log_prob(Z, m, c) if w > 0 else np.full(len(Z), -np.inf)
                for w, m, c in zip(self.weights, self.means, self.choleskys, strict=True)
            ]
        )

    def log_prob(self, Z: np.ndarray) -> np.ndarray:
        """Log-density of each row of ``Z`` in nats (log-sum-exp over components)."""
        parts = self.component_log_probs(Z)
        top = parts.max(0)
        return top + np.log(np.exp(parts - top).sum(0))

    def to_dict(self) -> dict[str, Any]:
        return {
            "weights": self.weights.tolist(),
            "means": self.means.tolist(),
            "covariances": self.covariances.tolist(),
            "bic": self.bic,
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any], dim: int) -> MixtureDensity:
        density = cls(state["weights"], state["means"], state["covariances"], state.get("bic"))
        if density.dim != dim:
            raise ValueError(f"the saved mixture is over {density.dim} code dimensions, not {dim}.")
        return density


def fit_code_densities(
    Z: np.ndarray, n_components: int | str = "bic", random_state: int = 0
) -> dict[str, GaussianDensity | MixtureDensity]:
    """Both densities of :data:`DENSITIES`, fitted to the codes ``Z``."""
    return {
        "gaussian": GaussianDensity.fit(Z),
        "gmm": MixtureDensity.fit(Z, n_components, random_state=random_state),
    }


def densities_to_dict(densities: dict[str, Any] | None) -> dict[str, Any] | None:
    """JSON-able numbers for :func:`densities_from_dict`."""
    if densities is None:
        return None
    return {name: density.to_dict() for name, density in densities.items()}


def densities_from_dict(state: dict[str, Any] | None, dim: int) -> dict[str, Any] | None:
    if state is None:
        return None
    return {
        "gaussian": GaussianDensity.from_dict(state["gaussian"], dim),
        "gmm": MixtureDensity.from_dict(state["gmm"], dim),
    }
