"""What every aekit estimator shares, PCA and the neural models alike: scikit-learn's
estimator and transformer conventions, reconstruction, its error, and saving.

A subclass provides ``transform``, ``inverse_transform`` and ``_validate_params``,
and names its fitted state: the arrays saved as tensors (``_saved_arrays``) and
the values saved as JSON with the type each is read back as (``_saved_values``).
``_export`` and ``_restore`` (used by :mod:`aekit.storage.persistence`) save and restore
both; the neural models add their weights.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.validation import _check_feature_names, check_is_fitted

from aekit.core.scaling import SCALINGS, FeatureScaling
from aekit.models.outliers import OutlierMixin, as_feature_table, shares_of
from aekit.storage.persistence import save_model
from aekit.validation import check_data

#: every model kind's estimator, by kind: each class enters itself when it is
#: defined with ``kind=`` (:mod:`aekit.models.registry` reads it)
ESTIMATORS: dict[str, type[AutoencoderEstimator]] = {}

# training examples fit keeps the codes of and scores for offset_ (a seeded sample):
# enough for a 10-component full-covariance mixture in 64 dimensions and a quantile,
# and a mixture fit of seconds
TRAINING_SAMPLE = 10_000


class AutoencoderEstimator(
    ClassNamePrefixFeaturesOutMixin, TransformerMixin, OutlierMixin, BaseEstimator
):
    """Base class of every aekit estimator. Not used directly.

    Every estimator is also an outlier detector (:mod:`aekit.models.outliers`):
    ``score_samples``, ``decision_function``, ``predict`` and ``offset_``.

    Fitted on a DataFrame, an estimator keeps ``feature_names_in_``; its codes are
    named ``get_feature_names_out()`` (``pca0, pca1, …``, ``autoencoder0, …``), and
    ``set_output(transform="pandas")`` returns them as a DataFrame.
    """

    #: the model kind: its name in the command line, ``run.json`` and the registry
    kind: ClassVar[str]
    #: whether ``fit`` runs the training loop (takes ``X_val``, ``callbacks``, ...)
    trains_with_loop: ClassVar[bool] = False
    #: what ``score`` and ``score_samples`` measure (shown beside every score)
    score_measure: ClassVar[str] = "minus the reconstruction MSE per value"

    _saved_arrays: ClassVar[tuple[str, ...]] = ()  # fitted arrays (None: not saved)
    _saved_values: ClassVar[dict[str, Callable[[Any], Any]]] = {}  # name -> type read back

    def __init_subclass__(cls, kind: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if kind is not None:  # a model kind of its own (subclasses of it inherit it)
            cls.kind = kind
            ESTIMATORS[kind] = cls

    def _feature_names(self, X: Any, *, reset: bool) -> None:
        """Record (``reset``) or check the column names of a DataFrame ``X``."""
        _check_feature_names(self, X, reset=reset)

    @property
    def _n_features_out(self) -> int:
        """The code size: what ``get_feature_names_out`` numbers."""
        raise NotImplementedError

    def check_fit(self, n_samples: int, input_shape: tuple[int, ...]) -> None:
        """Refuse, before any work is done, what ``fit`` would refuse for
        ``n_samples`` examples of shape ``input_shape``: bad parameters, and
        parameters that do not suit data of that size. Raises ``ValueError``."""
        self._validate_params()

    #: whether the model is itself PCA (its own reference among linear codes)
    is_pca: ClassVar[bool] = False

    @property
    def score_measure_(self) -> str:
        """What ``score`` and ``score_samples`` measure, for this model (the class's
        ``score_measure``)."""
        return self.score_measure

    @property
    def dequantized_data(self) -> bool:
        """Whether the model was trained on dequantised 8-bit values (evaluation then
        uses a fixed dequantisation)."""
        return False

    @property
    def feature_scaling(self) -> FeatureScaling:
        """The scaling of the features the model works in (none here: the data as
        given; the neural models fit one, ``scaling_``)."""
        return FeatureScaling.identity(tuple(self.input_shape_))

    @property
    def code_size(self) -> int:
        """The length of a code (what the linear reference is compared at)."""
        return self._n_features_out

    def _encoder_module(self) -> torch.nn.Module:
        """The encoder as a plain module on the CPU: examples in the user's units →
        codes (what :func:`aekit.export.encoder_module` returns)."""
        raise NotImplementedError

    def _decoder_module(self) -> torch.nn.Module:
        """The decoder as a plain module on the CPU: codes → reconstructions."""
        raise NotImplementedError

    def _decoder_input(self, n: int) -> torch.Tensor:
        """An input of ``n`` codes for the decoder module (zeros; export traces it)."""
        return torch.zeros((n, self.code_size))

    def evaluation_metrics(
        self,
        X: np.ndarray,
        *,
        y: Any = None,
        nll_samples: int = 0,
        progress: bool | None = None,
    ) -> dict[str, Any]:
        """What evaluation adds for this kind of model on ``X`` (of classes ``y``, for
        a conditional model) beyond the errors every model gets (none here; the VAE
        adds its densities in nats)."""
        return {}

    def reconstruct(self, X: Any) -> np.ndarray:
        """``inverse_transform(transform(X))``: the reconstruction, in the input's shape."""
        return self.inverse_transform(self.transform(X))

    def reconstruction_errors(self, X: Any) -> np.ndarray:
        """The mean squared error per value of each example's reconstruction.

        Returns
        -------
        ndarray of shape (n,), float64
        """
        X_hat = self.reconstruct(X)
        X = check_data(X, dtype=float_type_of(X)).reshape(X_hat.shape)
        squares = (X.astype(np.float64) - X_hat) ** 2
        return squares.reshape(len(squares), -1).mean(axis=1)

    def feature_scores(self, X: Any) -> Any:
        """Each input value's share of its example's reconstruction error: the squared
        residual of each column (each pixel of an image, flattened) divided by the
        example's sum, so that a row sums to 1 (a perfectly reconstructed row is all
        0). The columns that make an example an outlier are its largest shares. A
        DataFrame with the training columns' names when fitted on one.

        Returns
        -------
        ndarray or DataFrame of shape (n, n_values)

        Examples
        --------
        >>> import numpy as np, aekit
        >>> rng = np.random.default_rng(0)  # 6 columns driven by 2 factors, and noise
        >>> X = rng.normal(size=(300, 2)) @ rng.normal(size=(2, 6))
        >>> X += 0.1 * rng.normal(size=X.shape)
        >>> pca = aekit.PCA(n_components=2).fit(X)
        >>> row = X[:1].copy(); row[0, 3] += 3.0
        >>> int(pca.feature_scores(row).argmax())
        3
        """
        X_hat = self.reconstruct(X)
        array = check_data(X, dtype=float_type_of(X)).reshape(X_hat.shape)
        squares = (array.astype(np.float64) - X_hat) ** 2
        shares = shares_of(squares.reshape(len(squares), -1))
        return as_feature_table(self, shares, getattr(X, "index", None))

    def reconstruction_error(self, X: Any) -> float:
        """Mean squared error per value between ``X`` and its reconstruction."""
        return float(np.mean(self.reconstruction_errors(X)))

    def score_samples(self, X: Any) -> np.ndarray:
        """How normal each example is, higher for more normal: minus its
        reconstruction MSE (PCA and the VAE: log-likelihood and ELBO, in nats).

        Returns
        -------
        ndarray of shape (n,), float64
        """
        return -self.reconstruction_errors(X)

    def score(self, X: Any, y: Any = None) -> float:
        """Higher is better: the mean of :meth:`score_samples` (for this class, minus
        the reconstruction MSE per value)."""
        return float(np.mean(self.score_samples(X)))

    # -- persistence -----------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the fitted model to the folder ``path`` (config JSON + safetensors);
        :func:`aekit.load` reads it back."""
        return save_model(self, path)

    def _export(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """The fitted state: tensors, and JSON-able values."""
        check_is_fitted(self)
        arrays = {name: getattr(self, name) for name in self._saved_arrays}
        tensors = {k: torch.from_numpy(np.asarray(v)) for k, v in arrays.items() if v is not None}
        fitted = {name: getattr(self, name) for name in self._saved_values}
        fitted["offset_"] = self.offset_
        if hasattr(self, "feature_names_in_"):
            fitted["feature_names_in_"] = [str(name) for name in self.feature_names_in_]
        return tensors, fitted

    def _restore(self, fitted: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
        """Set the fitted state from what :meth:`_export` returned; a missing value
        raises ``KeyError``."""
        for name in self._saved_arrays:
            setattr(self, name, tensors[name].numpy() if name in tensors else None)
        for name, read in self._saved_values.items():
            setattr(self, name, read(fitted[name]))
        if "offset_" in fitted:  # models saved before outlier detection have none
            self.offset_ = float(fitted["offset_"])
        if "feature_names_in_" in fitted:
            self.feature_names_in_ = np.asarray(fitted["feature_names_in_"], dtype=object)


def training_sample(X: np.ndarray, seed: int, size: int | None = None) -> np.ndarray:
    """``X`` itself, or ``size`` (default :data:`TRAINING_SAMPLE`) of its rows drawn
    with ``seed`` (kept in order): the examples ``fit`` keeps codes of and sets
    ``offset_`` by."""
    size = TRAINING_SAMPLE if size is None else size
    if len(X) <= size:
        return X
    rows = np.random.default_rng(seed).choice(len(X), size, replace=False)
    return X[np.sort(rows)]


def check_scaling(scaling: FeatureScaling, scale: str, scale_: str) -> None:
    """Refuse a restored feature scaling whose fitted kind ``scale_`` disagrees with
    the ``scale`` parameter (``"auto"`` agrees with any) or with the saved offset and
    factor (``scaling``, the identity where none were saved)."""
    if scale_ not in SCALINGS or scale_ == "auto" or scaling.kind != scale_:
        raise ValueError(f"its fitted scale_ {scale_!r} does not fit its saved offset and factor")
    if scale not in ("auto", scale_):
        raise ValueError(f"its scale={scale!r} disagrees with the fitted scale_ {scale_!r}")


def shape_of(value: Any) -> tuple[int, ...]:
    """A saved shape (a JSON list) as a tuple of ints."""
    return tuple(int(s) for s in value)


def float_type_of(X: Any) -> type:
    """float64 for float64 input (kept in its precision), float32 for everything else."""
    return np.float64 if getattr(X, "dtype", None) == np.float64 else np.float32
