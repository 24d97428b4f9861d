"""Conditional models: the classes ``y`` of ``fit(X, y)`` as an input to encoder and decoder.

With ``conditional=True`` (:class:`~aekit.Autoencoder`, :class:`~aekit.DenoisingAutoencoder`,
:class:`~aekit.VAE`), ``fit(X, y)`` learns q(z | x, c) and p(x | z, c) for the class
``c`` of each example, given one-hot (:meth:`aekit.core.module.AutoencoderModule.conditioned`);
a VAE's prior stays p(z) = N(0, I), independent of the class, as in Kingma et al.'s
(2014) model M2: the decoder carries the class, and the KL pulls every class's codes
to the same N(0, I), so one prior serves all classes (97.4% of class-conditional MNIST
samples are read as the asked class; BENCHMARKS.md). What is per class are the
densities fitted to the training codes (:mod:`aekit.models.code_densities`):
``sample(n, y=3, method="gmm")`` draws codes from class 3's mixture, and
``code_log_density(Z, y)`` evaluates it.

``y`` holds any categorical values (labels, strings); they are kept as ``classes_``
and saved with the model. ``sample``, ``transform``, ``inverse_transform``, the
interpolations and traversals then take ``y=``: one class for every example, or one
per example. Without ``conditional=True``, ``y`` is
ignored, as scikit-learn's conventions ask (a pipeline passes it to every step).

:class:`ConditionalMixin` gives this to :class:`~aekit.models.neural.NeuralAutoencoder`;
classes without the ``conditional`` parameter are never conditional.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from aekit.errors import DataError
from aekit.models.code_densities import densities_from_dict, densities_to_dict, fit_code_densities
from aekit.models.estimator import training_sample
from aekit.models.outliers import hold_out

Data = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


class ConditionalMixin:
    """The classes of a conditional fit: checked, indexed, saved."""

    conditional = False  # the parameter of the classes that offer it
    classes_: np.ndarray | None = None
    training_code_classes_: np.ndarray | None = None  # class index of each kept code
    class_densities_: list[dict[str, Any]] | None = None  # code densities, by class index

    @property
    def n_classes_(self) -> int:
        """Classes of a conditional model; 0 for one fitted without ``y``."""
        return 0 if self.classes_ is None else len(self.classes_)

    def _fit_classes(self, y: Any, n: int, X_val: Any) -> np.ndarray | None:
        """Set ``classes_`` from ``y`` and return each example's class index, or
        ``None`` (and no classes) for a model that is not conditional."""
        self.classes_ = self.training_code_classes_ = self.class_densities_ = None
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
        self.training_code_classes_ = classes.cpu().numpy()
        self.class_densities_ = None  # fitted when first needed, as the pooled ones
        self.offset_ = float("nan")
        return self

    # -- code densities per class ----------------------------------------------------
    def _fit_class_densities(
        self, Z: np.ndarray, classes: np.ndarray, n_components: int | str = "bic"
    ) -> None:
        """Fit each class's code densities to the codes ``Z`` of its examples."""
        names = self.classes_.tolist()
        few = [names[k] for k in range(self.n_classes_) if np.sum(classes == k) < 2]
        if few:
            raise ValueError(f"class {few[0]!r} has fewer than 2 codes to fit its code density to.")
        self.class_densities_ = [
            fit_code_densities(Z[classes == k], n_components, random_state=self.seed_)
            for k in range(self.n_classes_)
        ]

    def _class_densities(self) -> list[dict[str, Any]]:
        """The per-class code densities, fitted now to the kept training codes if
        they were not yet."""
        if self.class_densities_ is None:
            if self.training_code_classes_ is None:
                raise ValueError(
                    f"this {type(self).__name__} has no code densities per class; "
                    "call fit_latent_density(X_train, y=y_train) first."
                )
            Z = self.training_codes_.astype(np.float64)
            self._fit_class_densities(Z, self.training_code_classes_)
        return self.class_densities_

    def _class_code_draws(
        self, method: str, classes: np.ndarray, rng: np.random.Generator, temperature: float
    ) -> np.ndarray:
        """A draw of class ``classes[i]``'s density ``method`` for each row ``i``
        (the classes in turn, from one generator)."""
        densities = self._class_densities()
        z = np.empty((len(classes), self.code_width))
        for k in np.unique(classes):
            rows = classes == k
            z[rows] = densities[k][method].sample(int(rows.sum()), rng, temperature)
        return z

    def _class_code_log_densities(
        self, method: str, classes: np.ndarray, Z: np.ndarray
    ) -> np.ndarray:
        """``log p(Z[i] | classes[i])`` under each class's density ``method``."""
        densities = self._class_densities()
        out = np.empty(len(Z))
        for k in np.unique(classes):
            rows = classes == k
            out[rows] = densities[k][method].log_prob(Z[rows])
        return out

    # -- persistence -----------------------------------------------------------------
    def _export(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        tensors, fitted = super()._export()
        if self.classes_ is not None:
            fitted["classes_"] = self.classes_.tolist()
            del fitted["offset_"]  # NaN, which JSON does not hold
            densities = self.class_densities_ or []
            fitted["class_densities_"] = [densities_to_dict(d) for d in densities] or None
        return tensors, fitted

    def _restore(self, fitted: dict[str, Any], weights: dict[str, torch.Tensor]) -> None:
        classes = fitted.get("classes_")  # models saved before conditions have none
        self.classes_ = None if classes is None else np.asarray(classes)
        super()._restore(fitted, weights)
        if self.classes_ is not None:
            self.offset_ = float("nan")  # as fit left it
            saved = fitted.get("class_densities_") or []
            self.class_densities_ = [densities_from_dict(d, self.code_width) for d in saved] or None
