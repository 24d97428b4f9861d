"""Probabilistic PCA (Tipping & Bishop 1999) on a fitted :class:`~aekit.models.pca.PCA`:
the model covariance ``W Λ Wᵀ + σ² I`` of the principal axes, its precision, and
the exact log-likelihood of each example.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn.utils.validation import check_is_fitted

from aekit.core.gaussian import log_density
from aekit.models.pca_solvers import chunks

SCORE_VALUES = 2**21  # float64 values per chunk of score_samples (16 MiB; about 50 MiB at peak)

class ProbabilisticPCAMixin:
    """The Gaussian model of a fitted PCA: ``x ~ N(mean_, get_covariance())``.

    Uses the host's ``components_``, ``mean_``, ``explained_variance_``,
    ``noise_variance_``, ``n_features_in_``, ``n_components_``, ``device_``,
    ``_check_X`` and ``_tensor``.
    """

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
        rows = max(256, SCORE_VALUES // D)  # the chunk and its two working copies stay small
        for chunk in chunks(X, self.device_, rows):
            centred = chunk - mean
            codes = centred @ W.T
            quad = codes.square() @ inv_var
            if D > k:  # the residual off the principal subspace, measured directly
                quad += (centred - codes @ W).square().sum(1) / noise
            out.append(log_density(quad, log_det, D).cpu().numpy())
        return np.concatenate(out)

    def score(self, X: Any, y: Any = None) -> float:
        """Mean log-likelihood per example under probabilistic PCA, in nats."""
        return float(np.mean(self.score_samples(X)))
