"""Outlier (novelty) detection with scikit-learn's conventions, for every model.

As with :class:`sklearn.ensemble.IsolationForest` and
``LocalOutlierFactor(novelty=True)``: ``score_samples(X)`` is higher for more
normal examples, ``decision_function(X) = score_samples(X) - offset_`` is
negative for outliers, and ``predict(X)`` gives +1 (inlier) or -1 (outlier).
``offset_`` is set by ``fit`` from the scores of examples the model did not
train on (``X_val``, or a share ``validation_fraction`` of the training data held
out by :func:`hold_out`; PCA fits a second model on the rest for it) and the
estimator's ``contamination``. A model scores the examples it trained on better
than new ones (issue 32: an autoencoder on 249 breast-cancer rows scored them
-0.27 and new benign rows -69), so a threshold from training scores flags almost
every new example. The rules:

- a fraction c in (0, 0.5]: the c-quantile of the held-out scores, so that a
  fraction c of new examples like them is flagged;
- ``"auto"``: Tukey's lower fence ``Q1 - 1.5 IQR`` of the held-out scores, a
  rule that needs no guess of the share of outliers.

With fewer than :data:`MIN_HELD_OUT` held-out examples (tiny data, or
``validation_fraction=0``) the training examples' own scores are used.

What ``score_samples`` is depends on the model (its class's ``score_measure``); the
reconstruction error of each example is ``reconstruction_errors(X)`` for all.
"""

from __future__ import annotations

import mmap
import numbers
import warnings
from typing import Any

import numpy as np
from sklearn.base import OutlierMixin as SklearnOutlierMixin
from sklearn.utils.validation import check_is_fitted

MIN_HELD_OUT = 5  # fewer held-out examples than this: no held-out share
# a share of small data is raised to this many examples (at most a fifth of the
# data): the 10% quantile of 25 scores flags anywhere from 3% to 30% of new data
ENOUGH_HELD_OUT = 50


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


def hold_out(X: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray | None]:
    """``(train, held_out)``: a seeded share ``fraction`` of the rows of ``X`` held out
    (raised to :data:`ENOUGH_HELD_OUT` rows or a fifth of ``X``, whichever is fewer),
    or ``(X, None)`` where ``fraction`` is 0, ``X`` is memory-mapped (the share
    would be a copy of the rest in memory) or the share is under
    :data:`MIN_HELD_OUT` examples."""
    if fraction == 0 or memory_mapped(X):  # a memory-mapped X is never copied
        return X, None
    n_val = max(round(float(fraction) * len(X)), min(ENOUGH_HELD_OUT, len(X) // 5))
    if n_val < MIN_HELD_OUT or len(X) - n_val < 2:
        return X, None
    order = np.random.default_rng(seed).permutation(len(X))
    return X[np.sort(order[n_val:])], X[np.sort(order[:n_val])]


def memory_mapped(X: np.ndarray) -> bool:
    """Whether ``X`` (or the array it is a view of) lies in a memory-mapped file."""
    while X is not None:
        if isinstance(X, np.memmap | mmap.mmap):
            return True
        X = getattr(X, "base", None)
    return False


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


def shares_of(contributions: np.ndarray) -> np.ndarray:
    """Each row of ``contributions`` divided by its sum (a row summing to 0 stays 0)."""
    total = contributions.sum(axis=1, keepdims=True)
    return np.divide(contributions, total, out=np.zeros_like(contributions), where=total != 0)


def as_feature_table(estimator: Any, values: np.ndarray, index: Any = None) -> Any:
    """``values`` (n, features) as a DataFrame named by ``feature_names_in_`` when the
    estimator was fitted on one, else as they are."""
    names = getattr(estimator, "feature_names_in_", None)
    if names is None:
        return values
    import pandas as pd

    return pd.DataFrame(values, columns=list(names), index=index)


class OutlierMixin(SklearnOutlierMixin):
    """``decision_function`` and ``predict`` over the host's ``score_samples``."""

    def _fit_offset(self, sample: Any, scores: np.ndarray | None = None) -> None:
        """Set ``offset_`` from the scores of ``sample``, validated examples (held out,
        where there are any) of at most :data:`aekit.models.estimator.TRAINING_SAMPLE`
        rows (``scores``, when already computed)."""
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
            why = (
                "it is conditional, and its scores would need each example's class"
                if getattr(self, "classes_", None) is not None
                else "its training scores were undefined (a singular probabilistic-PCA model); "
                "use fewer components"
            )
            raise ValueError(f"this {type(self).__name__} has no outlier threshold: {why}.")
        return self.score_samples(X) - self.offset_

    def predict(self, X: Any) -> np.ndarray:
        """+1 for inliers, -1 for outliers (``decision_function(X) < 0``).

        Returns
        -------
        ndarray of shape (n,), int
        """
        return np.where(self.decision_function(X) < 0, -1, 1)
