"""The parts of :class:`aekit.models.outlier_detector.OutlierDetector`: over the
columns with many values, one Gaussian that a contaminating group cannot pull towards
itself (:class:`ShrunkGaussian`, also the distance to the centre at full shrinkage) and
a Gaussian mixture for local structure (:class:`MixtureScore`); over the columns with
few values, the frequency of each level (:class:`LevelFrequencies`). Each scores rows
(higher is more unusual) and splits the score by column (``contributions``).
"""

from __future__ import annotations

import numpy as np

from aekit.models.code_densities import MixtureDensity

GAUSSIANS = ("gaussian", "isotropic")  # the parts that are one Gaussian each
ROWS_PER_COMPONENT = 30  # the mixture has at most one component per 30 training rows
#: the mixture's ridge grows by this times d k / n (dimensions over rows per component)
RIDGE_PER_DIMENSION = 0.5
#: mixture components holding a smaller share of the rows are dropped
SMALLEST_COMPONENT = 0.05
#: a value beyond a level column's range adds this times its squared distance past the
#: nearest level, in units of the range (a Gaussian tail's log-density)
BEYOND = 0.5


class ShrunkGaussian:
    """One Gaussian whose covariance is shrunk towards a multiple of the identity,
    ``(1 − a) Σ + a (tr Σ / d) I``, fitted after dropping the ``trim`` share of rows
    that lie furthest from a first fit: the part of :class:`OutlierDetector` that
    contaminating groups cannot pull towards themselves.

    Its outlier score is the squared Mahalanobis distance; :meth:`contributions`
    splits it by column, ``u_j (Σ⁻¹ u)_j`` with ``u = x − μ``, which sum to it.
    """

    def __init__(self, shrinkage: float, trim: float) -> None:
        self.shrinkage, self.trim = shrinkage, trim

    def _fit_once(self, X: np.ndarray) -> None:
        d = X.shape[1]
        self.mean = X.mean(axis=0)
        cov = np.atleast_2d(np.cov(X, rowvar=False, bias=True))
        level = max(float(np.trace(cov)) / d, 1e-12)
        cov = (1 - self.shrinkage) * cov + (self.shrinkage + 1e-9) * level * np.eye(d)
        self.precision = np.linalg.inv(cov)

    def fit(self, X: np.ndarray) -> ShrunkGaussian:
        self._fit_once(X)
        if self.trim > 0:
            scores = self.score(X)
            kept = X[scores <= np.quantile(scores, 1 - self.trim)]
            if len(kept) >= 2:
                self._fit_once(kept)
        return self

    def contributions(self, X: np.ndarray) -> np.ndarray:
        u = X - self.mean
        return u * (u @ self.precision)

    def score(self, X: np.ndarray) -> np.ndarray:
        return self.contributions(X).sum(axis=1)


class MixtureScore:
    """A Gaussian mixture over the standardised rows (aekit's code density,
    :class:`aekit.models.code_densities.MixtureDensity`): the part of
    :class:`OutlierDetector` that sees local structure. Its covariances get a ridge
    of ``ridge + RIDGE_PER_DIMENSION · d k / n`` times the mean variance: ``k``
    components over ``n`` rows give each about ``n / k`` rows for its ``d (d + 1) / 2``
    covariance values, so the fewer rows a component has per dimension the more it
    is shrunk (glass, ROC-AUC 0.819 against 0.802 with the fixed ridge alone; lympho,
    18 columns and about 45 rows a component, 0.954 against 0.944, measured when its
    columns were read as numbers: they are levels now).
    Components holding under 5% of the rows (:data:`SMALLEST_COMPONENT`) are
    dropped and the others' weights renormalised: a tight group of contaminating
    rows gets a component of its own, under which it looks normal (musk's outliers;
    six rows of 500 shifted in one column got one of weight 0.012, and their
    explanation went to the wrong column; on the nine ODDS tables it lowers the mean
    ROC-AUC by 0.0008). Its outlier score is ``−log p(x)`` in nats; :meth:`contributions`
    splits the Mahalanobis distance to the row's most responsible component by
    column, as :class:`ShrunkGaussian` does. Where the ridge is at least a tenth of
    the mean variance (always, by default) its EM runs in float32, which halves its
    time on wide tables (arrhythmia, musk): such a ridge keeps the covariances well
    conditioned, and the nine ODDS tables' ROC-AUCs in BENCHMARKS.md came out the same
    to their three decimals."""

    def __init__(self, n_components: int, ridge: float, random_state: int) -> None:
        self.n_components, self.ridge, self.random_state = n_components, ridge, random_state

    def fit(self, X: np.ndarray) -> MixtureScore:
        n, d = X.shape
        k = max(1, min(self.n_components, n // ROWS_PER_COMPONENT))
        self.ridge_used = self.ridge + RIDGE_PER_DIMENSION * d * k / n
        density = MixtureDensity.fit(
            X,
            k,
            random_state=self.random_state,
            ridge=self.ridge_used,
            single_precision=self.ridge_used >= 0.1,
        )
        kept = density.weights >= SMALLEST_COMPONENT
        self.density = MixtureDensity(
            density.weights[kept] / density.weights[kept].sum(),
            density.means[kept],
            density.covariances[kept],
        )
        return self

    def score(self, X: np.ndarray) -> np.ndarray:
        return -self.density.log_prob(X)

    def contributions(self, X: np.ndarray) -> np.ndarray:
        nearest = self.density.component_log_probs(X).argmax(axis=0)
        out = np.empty_like(X)
        for k in np.unique(nearest):
            rows = nearest == k
            u = X[rows] - self.density.means[k]
            out[rows] = u * np.linalg.solve(self.density.covariances[k], u.T).T
        return out


class LevelFrequencies:
    """Columns with few distinct values (binary flags, grades, small counts) read as
    levels: each column's categorical distribution over the levels seen in training,
    add-one smoothed, with one more share for a level never seen. The part of
    :class:`OutlierDetector` for such columns, where a Gaussian is the wrong density: a
    rare level between two common ones lies close to the mean in standardised units,
    yet it is as surprising as its frequency says (lympho, whose 18 columns all have 2
    to 8 values, and arrhythmia's 113 of 274). Its outlier score is the row's
    surprisal, ``−Σ_j log p_j(x_j)`` in nats (the columns taken as independent), and
    :meth:`contributions` gives each column's surprisal, which sum to it. A value
    beyond the levels' range adds half its squared distance past the nearest level in
    units of that range, so a count of 1000 where 0–6 were seen is more unusual than one
    of 11. It takes the raw values (a level is matched to within a
    millionth of itself: a value read in float32 is still the same level)."""

    def fit(self, X: np.ndarray) -> LevelFrequencies:
        n = len(X)
        self.levels, self.surprisals, self.unseen = [], [], np.empty(X.shape[1])
        for j, column in enumerate(X.T):
            levels, counts = np.unique(column, return_counts=True)
            total = n + len(levels) + 1
            self.levels.append(levels)
            self.surprisals.append(-np.log((counts + 1.0) / total))
            self.unseen[j] = np.log(total)
        # the levels' range; a constant column has none, and a value off it counts
        # as a level never seen, however far
        span = X.max(axis=0) - X.min(axis=0)
        self.scale = np.where(span > 0, span, np.inf)
        return self

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The fitted part as flat arrays (each column's levels one after another)."""
        return {
            "levels_counts": np.array([len(v) for v in self.levels], dtype=np.int64),
            "levels_values": np.concatenate(self.levels),
            "levels_surprisals": np.concatenate(self.surprisals),
            "levels_unseen": self.unseen,
            "levels_scale": self.scale,
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> LevelFrequencies:
        """The part from :meth:`to_arrays`' arrays."""
        part = cls()
        ends = np.cumsum(arrays["levels_counts"].astype(np.int64))[:-1]
        part.levels = np.split(arrays["levels_values"], ends)
        part.surprisals = np.split(arrays["levels_surprisals"], ends)
        part.unseen, part.scale = arrays["levels_unseen"], arrays["levels_scale"]
        return part

    def contributions(self, X: np.ndarray) -> np.ndarray:
        out = np.empty_like(X, dtype=np.float64)
        for j, (levels, surprisal) in enumerate(zip(self.levels, self.surprisals, strict=True)):
            x = X[:, j]
            at = np.clip(np.searchsorted(levels, x), 0, len(levels) - 1)
            below = np.clip(at - 1, 0, len(levels) - 1)
            beyond = np.maximum(levels[0] - x, 0) + np.maximum(x - levels[-1], 0)
            out[:, j] = np.where(
                _same(levels[at], x),
                surprisal[at],
                np.where(
                    _same(levels[below], x),
                    surprisal[below],
                    self.unseen[j] + BEYOND * (beyond / self.scale[j]) ** 2,
                ),
            )
        return out

    def score(self, X: np.ndarray) -> np.ndarray:
        return self.contributions(X).sum(axis=1)


def _same(level: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Whether ``value`` is the level, to within a millionth of it (float32 keeps about
    seven digits)."""
    return np.abs(level - value) <= 1e-6 * np.abs(level) + 1e-12
