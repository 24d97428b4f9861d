"""Outlier (novelty) detection with scikit-learn's conventions, for every model.

As with :class:`sklearn.ensemble.IsolationForest` and
``LocalOutlierFactor(novelty=True)``: ``score_samples(X)`` is higher for more
normal examples, ``decision_function(X) = score_samples(X) - offset_`` is
negative for outliers, and ``predict(X)`` gives +1 (inlier) or -1 (outlier).
``offset_`` is set by ``fit`` from the training examples' scores and the
estimator's ``contamination``:

- a fraction c in (0, 0.5]: the c-quantile of the training scores, so that a
  fraction c of the training examples is flagged;
- ``"auto"``: Tukey's lower fence ``Q1 - 1.5 IQR`` of the training scores, a
  rule that needs no guess of the share of outliers.

What ``score_samples`` is depends on the model (its class's ``score_measure``); the
reconstruction error of each example is ``reconstruction_errors(X)`` for all.
"""

from __future__ import annotations

import numbers
import warnings
from typing import Any

import numpy as np
from sklearn.base import OutlierMixin as SklearnOutlierMixin
from sklearn.utils.validation import check_is_fitted


def check_contamination(value: object, name: str = "contamination") -> object:
    """A parameter check: ``"auto"`` or a fraction in (0, 0.5]."""
    if value == "auto":
        return value
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not 0 < float(value) <= 0.5
    ):
        raise ValueError(f"{name} must be 'auto' or a fraction in (0, 0.5]; got {value!r}.")
    return value


def offset_from(scores: np.ndarray, contamination: object) -> float:
    """The threshold on ``scores`` below which an example is an outlier.

    Examples
    --------
    >>> offset_from(np.arange(100.0), 0.1)
    9.9
    >>> offset_from(np.array([0.0, 1.0, 2.0, 3.0, 4.0]), "auto")
    -2.0
    """
    scores = np.asarray(scores, dtype=np.float64)
    if contamination == "auto":
        q1, q3 = np.percentile(scores, [25, 75])
        return float(q1 - 1.5 * (q3 - q1))
    return float(np.quantile(scores, float(contamination)))


class OutlierMixin(SklearnOutlierMixin):
    """``decision_function`` and ``predict`` over the host's ``score_samples``."""

    def _fit_offset(self, sample: Any, scores: np.ndarray | None = None) -> None:
        """Set ``offset_`` from the scores of ``sample``, the validated training
        sample of :func:`aekit.models.estimator.training_sample` (``scores``, when already
        computed)."""
        if scores is None:
            with warnings.catch_warnings():  # the array was validated; names checked
                warnings.filterwarnings("ignore", message="X does not have valid feature names")
                scores = self.score_samples(sample)
        self.offset_ = offset_from(scores, self.contamination)

    def decision_function(self, X: Any) -> np.ndarray:
        """``score_samples(X) - offset_``: negative for outliers.

        Returns
        -------
        ndarray of shape (n,), float64
        """
        check_is_fitted(self, "offset_")
        if np.isnan(self.offset_):
            raise ValueError(
                f"this {type(self).__name__} has no outlier threshold: its training scores "
                "were undefined (a singular probabilistic-PCA model); use fewer components."
            )
        return self.score_samples(X) - self.offset_

    def predict(self, X: Any) -> np.ndarray:
        """+1 for inliers, -1 for outliers (``decision_function(X) < 0``).

        Returns
        -------
        ndarray of shape (n,), int
        """
        return np.where(self.decision_function(X) < 0, -1, 1)
