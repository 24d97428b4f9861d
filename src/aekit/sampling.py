"""Sampling from autoencoders: code densities, the denoising chain, paths in code space.

A plain autoencoder defines no density over its codes, so decoding ``z ~ N(0, I)``
gives garbage. The working routes (SPEC §1):

* fit a density to the codes of the training set after training and decode its
  draws — :class:`GaussianDensity` (one full-covariance Gaussian) or
  :class:`MixtureDensity` (a Gaussian mixture, ``n_components`` given or chosen
  by BIC);
* for a denoising autoencoder, run the Markov chain ``x ← reconstruct(corrupt(x))``
  of Bengio et al. (2013) — :func:`markov_chain`.

The densities are plain arrays that round-trip through JSON
(:meth:`GaussianDensity.to_dict`), so a saved model keeps them without pickle.
Also here: linear and spherical interpolation, latent traversals, and the
Fréchet distance used to score samples.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

LOG_2PI = math.log(2 * math.pi)
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
    return -0.5 * (d * LOG_2PI + log_det + (white**2).sum(0))


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
    ) -> MixtureDensity:
        """Fit to the codes ``Z`` (n, d).

        ``n_components="bic"`` tries 1 … ``max_components`` components — at most as
        many as keep one code per free parameter, ``k (d + d(d+1)/2 + 1) ≤ n`` — and
        keeps the one of lowest BIC. At most ``max_samples`` codes (a seeded
        subsample) are used.
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
        reg = _regulariser(Z)
        best, scores = None, []
        # One thread: these are small problems, and multi-threaded BLAS/OpenMP on them
        # runs up to 50x slower on a busy machine.
        with warnings.catch_warnings(), threadpool_limits(1):
            warnings.simplefilter("ignore", ConvergenceWarning)
            for k in candidates:
                gm = GaussianMixture(
                    k, covariance_type="full", reg_covar=reg, random_state=random_state
                ).fit(Z)
                score = float(gm.bic(Z))
                scores.append([k, score])
                if best is None or score < best[0]:
                    best = (score, gm)
        gm = best[1]
        return cls(gm.weights_, gm.means_, gm.covariances_, scores if len(scores) > 1 else None)

    def sample(self, n: int, rng: np.random.Generator, temperature: float = 1.0) -> np.ndarray:
        """``n`` draws, shape (n, d): a component by its weight, then its Gaussian with
        the covariance scaled by ``temperature²``."""
        comp = rng.choice(self.n_components, size=n, p=self.weights / self.weights.sum())
        eps = temperature * rng.standard_normal((n, self.dim))
        return self.means[comp] + np.einsum("nij,nj->ni", self.choleskys[comp], eps)

    def log_prob(self, Z: np.ndarray) -> np.ndarray:
        """Log-density of each row of ``Z`` in nats (log-sum-exp over components)."""
        Z = np.asarray(Z, dtype=np.float64)
        parts = np.stack(
            [
                math.log(w) + _gaussian_log_prob(Z, m, c) if w > 0 else np.full(len(Z), -np.inf)
                for w, m, c in zip(self.weights, self.means, self.choleskys, strict=True)
            ]
        )
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


# -- the denoising chain ------------------------------------------------------------------
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


# -- paths in code space ------------------------------------------------------------------
INTERPOLATIONS = ("linear", "spherical")


def interpolate_codes(
    z0: np.ndarray, z1: np.ndarray, n_steps: int, method: str = "linear"
) -> np.ndarray:
    """Codes from ``z0`` to ``z1`` (both ends included): shape (..., n_steps, d).

    ``"linear"``: ``(1 − t) z0 + t z1``. ``"spherical"`` (slerp): along the great
    circle, ``sin((1 − t)ω)/sin ω · z0 + sin(tω)/sin ω · z1`` with ω the angle
    between the codes; for draws of ``N(0, I)`` in many dimensions it keeps the
    path at the typical norm ``≈ √d``, where linear paths pass through the
    improbable region near 0. Nearly parallel codes fall back to linear.
    """
    if method not in INTERPOLATIONS:
        raise ValueError(f"method must be one of {', '.join(INTERPOLATIONS)}; got {method!r}.")
    if n_steps < 2:
        raise ValueError(f"n_steps must be at least 2; got {n_steps}.")
    z0 = np.asarray(z0, dtype=np.float64)[..., None, :]
    z1 = np.asarray(z1, dtype=np.float64)[..., None, :]
    t = np.linspace(0.0, 1.0, n_steps)[:, None]
    linear = (1 - t) * z0 + t * z1
    if method == "linear":
        return linear
    n0 = np.linalg.norm(z0, axis=-1, keepdims=True)
    n1 = np.linalg.norm(z1, axis=-1, keepdims=True)
    cos = (z0 * z1).sum(-1, keepdims=True) / np.maximum(n0 * n1, 1e-300)
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    sin = np.sin(omega)
    safe = np.where(sin > 1e-6, sin, 1.0)
    spherical = (np.sin((1 - t) * omega) * z0 + np.sin(t * omega) * z1) / safe
    return np.where(sin > 1e-6, spherical, linear)


def traversal_codes(
    center: np.ndarray, scale: np.ndarray, dims: list[int], n_steps: int = 7, span: float = 3.0
) -> np.ndarray:
    """Move one code dimension at a time: shape (len(dims), n_steps, d).

    Row ``i`` holds ``center`` with dimension ``dims[i]`` replaced by
    ``center[j] + t · scale[j]`` for ``t`` evenly spaced in ``[−span, span]``.
    """
    center = np.asarray(center, dtype=np.float64)
    t = np.linspace(-span, span, n_steps)
    out = np.repeat(np.repeat(center[None, None], len(dims), 0), n_steps, 1)
    for i, j in enumerate(dims):
        out[i, :, j] = center[j] + t * scale[j]
    return out


# -- scoring samples ----------------------------------------------------------------------
def frechet_distance(A: np.ndarray, B: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to the rows of ``A`` and ``B``.

    ``‖μ_A − μ_B‖² + tr(Σ_A + Σ_B − 2 (Σ_A Σ_B)^{1/2})`` — the FID when the rows are
    features of a classifier. ``tr (Σ_A Σ_B)^{1/2}`` is computed as the sum of the
    square roots of the eigenvalues of the symmetric ``Σ_A^{1/2} Σ_B Σ_A^{1/2}``,
    which has the same spectrum and is stable.
    """
    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    mu_a, mu_b = A.mean(0), B.mean(0)
    cov_a = np.atleast_2d(np.cov(A, rowvar=False))
    cov_b = np.atleast_2d(np.cov(B, rowvar=False))
    w, V = np.linalg.eigh(cov_a)
    root_a = (V * np.sqrt(np.clip(w, 0, None))) @ V.T
    M = root_a @ cov_b @ root_a
    ev = np.clip(np.linalg.eigvalsh((M + M.T) / 2), 0, None)
    value = ((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * np.sqrt(ev).sum()
    return float(max(value, 0.0))


def class_entropy(labels: np.ndarray, n_classes: int) -> float:
    """Entropy (nats) of the histogram of predicted classes; ``log n_classes`` is full coverage."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=n_classes)
    p = counts[counts > 0] / counts.sum()
    return float(max(0.0, -(p * np.log(p)).sum()))  # 0.0, not -0.0, for one class
