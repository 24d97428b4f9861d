"""Conditional models: the classes ``y`` of ``fit(X, y)`` as an input to encoder and decoder.

With ``conditional=True`` (:class:`~aekit.Autoencoder`, :class:`~aekit.DenoisingAutoencoder`,
:class:`~aekit.VAE`), ``fit(X, y)`` learns q(z | x, c) and p(x | z, c) for the class
``c`` of each example, given one-hot (:meth:`aekit.core.module.AutoencoderModule.conditioned`);
a VAE's prior stays p(z), independent of the class. ``y`` holds any categorical values
(labels, strings); they are kept as ``classes_`` and saved with the model. ``sample``,
``transform``, ``inverse_transform``, the interpolations and traversals then take ``y=``:
one class for every example, or one per example. Without ``conditional=True``, ``y`` is
ignored, as scikit-learn's conventions ask (a pipeline passes it to every step).

:class:`ConditionalMixin` gives this to :class:`~aekit.models.neural.NeuralAutoencoder`;
classes without the ``conditional`` parameter are never conditional.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from aekit.errors import DataError
from aekit.models.estimator import training_sample
from aekit.models.outliers import hold_out

Data = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


class ConditionalMixin:
    """The classes of a conditional fit: checked, indexed, saved."""

    conditional = False  # the parameter of the classes that offer it
    classes_: np.ndarray | None = None

    @property
    def n_classes_(self) -> int:
        """Classes of a conditional model; 0 for one fitted without ``y``."""
        return 0 if self.classes_ is None else len(self.classes_)

    def _fit_classes(self, y: Any, n: int, X_val: Any) -> np.ndarray | None:
        """Set ``classes_`` from ``y`` and return each example's class index, or
        ``None`` (and no classes) for a model that is not conditional."""
        self.classes_ = None
        if not self.conditional:
            return None  # y ignored, as scikit-learn's conventions ask
        if y is None:
            raise DataError("conditional=True needs the class of every example: fit(X, y).")
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != n:
            raise DataError(f"y must hold one class per example of X ({n}); got shape {y.shape}.")
        if X_val is not None:
            raise ValueError(
                "a conditional fit holds out its own validation data: "
                "use validation_fraction instead of X_val."
            )
        if self.encoder is not None or self.decoder is not None:
            raise ValueError("conditional=True feeds the class to aekit's own networks only.")
        if self.start == "pca":
            raise ValueError("a conditional model starts at random weights: use start='auto'.")
        if getattr(self, "prior", "standard") == "vamp":  # the VAE's parameter
            raise ValueError("a conditional VAE takes prior='standard' or 'mixture', not 'vamp'.")
        classes, index = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise DataError("y must hold at least 2 classes for a conditional model.")
        self.classes_ = classes
        return index.astype(np.int64)

    def _classes_of(self, y: Any, n: int) -> torch.Tensor | None:
        """Class indices (n,) on the model's device for the ``y`` of a call: one
        class for all ``n`` examples, or one each; ``None`` for a model fitted
        without classes."""
        if self.classes_ is None:
            if y is not None:
                raise ValueError(
                    f"this {type(self).__name__} was fitted without classes; "
                    "y applies to a model fitted with conditional=True."
                )
            return None
        if y is None:
            raise ValueError(
                f"this {type(self).__name__} is conditional: pass y, one of its "
                f"classes {self.classes_.tolist()} or one per example."
            )
        y = np.asarray(y)
        values = [y.item()] * n if y.ndim == 0 else y.tolist()
        if y.ndim > 1 or len(values) != n:
            raise DataError(f"y must hold one class or one per example ({n}); got shape {y.shape}.")
        position = {c: i for i, c in enumerate(self.classes_.tolist())}
        unknown = [v for v in values if v not in position]
        if unknown:
            raise ValueError(
                f"y holds {unknown[0]!r}, which is not one of the classes the model "
                f"was fitted on: {self.classes_.tolist()}."
            )
        index = torch.tensor([position[v] for v in values], dtype=torch.int64)
        return index.to(self.device_)

    def _with_classes(self, X: torch.Tensor | None, classes: np.ndarray | None) -> Data | None:
        """The training loop's data: ``X``, or ``(X, classes)`` on ``X``'s device."""
        if X is None or classes is None:
            return X
        return X, torch.from_numpy(classes).to(X.device)

    def _split_classes(
        self, classes: np.ndarray | None, held_out: bool
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The classes of the examples ``hold_out`` kept and held out (its rows)."""
        if classes is None or not held_out:
            return classes, None
        return hold_out(classes, self.validation_fraction, self.seed_)

    def _summarise_conditional(self, X: np.ndarray, y: Any):
        """After a conditional fit: keep the codes of (a sample of) the training
        examples, each encoded with its class. Outlier scores need the class too,
        which ``score_samples`` does not take: the model has no ``offset_`` (NaN)."""
        rows = training_sample(np.arange(len(X)), self.seed_)
        sample = X[rows]
        classes = self._classes_of(np.asarray(y)[rows], len(rows))
        self._keep_training_codes(sample, self._encode(self._to_tensor(sample), classes))
        self.offset_ = float("nan")
        return self

    # -- persistence -----------------------------------------------------------------
    def _export(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        tensors, fitted = super()._export()
        if self.classes_ is not None:
            fitted["classes_"] = self.classes_.tolist()
            del fitted["offset_"]  # NaN, which JSON does not hold
        return tensors, fitted

    def _restore(self, fitted: dict[str, Any], weights: dict[str, torch.Tensor]) -> None:
        classes = fitted.get("classes_")  # models saved before conditions have none
        self.classes_ = None if classes is None else np.asarray(classes)
        super()._restore(fitted, weights)
        if self.classes_ is not None:
            self.offset_ = float("nan")  # as fit left it
