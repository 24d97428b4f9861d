"""Runs of conditional models (issue 30): the labels they train on, the class the
command line asks for, their evaluation, and their report's pictures.

``aekit train ae|dae|vae --conditional`` fits ``fit(X, y)`` with the training
split's labels (:func:`split_labels`: a CSV's label column, the IDX labels of MNIST
and Fashion-MNIST, digits' own, an ``.npz``'s ``y``). A conditional fit holds out its
own validation examples (``validation_fraction`` of the training split). The run is
evaluated on the test split with each example encoded and decoded at its label
(:func:`aekit.runs.evaluation.conditional_evaluation`); its report shows one row of
samples per class (:func:`class_grid`). ``aekit sample RUN --class 3`` draws one class
(:func:`class_of`), and ``aekit interpolate RUN --class 3`` draws every path at class 3,
between examples labelled 3; without ``--class`` both take the classes in turn, each
path between two examples of its own class (:func:`asked_classes`,
:func:`labelled_pairs`).

Examples
--------
>>> import tempfile, aekit
>>> with tempfile.TemporaryDirectory() as d:
...     run = aekit.train_run("ae", "digits", f"{d}/c", conditional=True, latent_dim=2,
...                           hidden=(16,), epochs=1, verbose=False)
...     run.model.classes_.tolist() == list(range(10)), run.metrics["n_classes"]
(True, 10)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from aekit.errors import AekitError
from aekit.runs import figures as F

PER_CLASS = 10  # samples in each row of the class grid


def is_conditional(model: Any) -> bool:
    """Whether ``model`` was fitted with classes."""
    return getattr(model, "classes_", None) is not None


def split_labels(bundle: Any, split: str) -> np.ndarray:
    """The labels of ``split`` of ``bundle``, refused in one sentence when it has none."""
    y = getattr(bundle, split).y
    if y is None:
        raise AekitError(
            f"{bundle.name} holds no labels for a conditional model: give a CSV a label "
            "column (--label-column NAME), an .npz a y array, or train on digits, mnist "
            "or fashion-mnist."
        )
    return y


def class_of(model: Any, value: str, run: str | Path) -> Any:
    """The class of a conditional ``model`` that the text ``value`` names
    (``--class 3``), refused in one sentence for a model without classes or a class
    it does not know."""
    if not is_conditional(model):
        raise AekitError(f"{run} is not a conditional run: --class applies to runs trained "
                         "with --conditional.")  # fmt: skip
    names = {str(c): c for c in model.classes_.tolist()}
    if value not in names:
        raise AekitError(f"--class {value} is not one of the classes of {run}: {', '.join(names)}.")
    return names[value]


def asked_classes(model: Any, value: str | None, run: str | Path, n: int) -> np.ndarray | None:
    """The class of each of the ``n`` samples or paths of a command: the one that
    ``--class`` names (``value``, checked by :func:`class_of`), or else a conditional
    model's classes in turn; ``None`` for a run without classes and no ``--class``."""
    if value is not None:
        return np.repeat(np.asarray([class_of(model, value, run)]), n)
    return np.resize(model.classes_, n) if is_conditional(model) else None


def labelled_pairs(
    X: np.ndarray, labels: np.ndarray, classes: np.ndarray, split: str
) -> tuple[np.ndarray, np.ndarray]:
    """The ends of paths at ``classes`` (one per path): for path ``i``, the next two
    examples of ``X`` whose label is ``classes[i]`` (in order, none used twice),
    refused in one sentence when the split runs out of them."""
    used: dict[Any, int] = {}
    ends = []
    for c in classes.tolist():
        rows, j = np.flatnonzero(labels == c), used.get(c, 0)
        if len(rows) < j + 2:
            raise AekitError(f"the {split} split has fewer than {j + 2} examples of class {c}.")
        used[c] = j + 2
        ends.append(rows[j : j + 2])
    a, b = np.asarray(ends).T
    return X[a], X[b]


def class_grid(model: Any, path: str | Path, *, seed: int = 0, per_class: int = PER_CLASS):
    """Draw ``per_class`` samples of each class of a conditional ``model``, one row
    per class, into the PNG ``path``."""
    classes = model.classes_.tolist()
    rows = [model.sample(per_class, y=c, random_state=seed) for c in classes]
    title = f"samples per class ({model.default_sample_method})"
    return F.image_mosaic(rows, [str(c) for c in classes], path, title=title)


def conditional_figures(model: Any, bundle: Any, folder: Path, seed: int) -> list[tuple]:
    """The report's figures of a conditional model, as ``(title, path, caption)``:
    reconstructions at the examples' labels, training curves, the class grid."""
    split = "test" if len(bundle.test.X) else "train"
    X, y = getattr(bundle, split).X[:10], split_labels(bundle, split)[:10]
    X_rec = model.inverse_transform(model.transform(X, y=y), y=y).reshape(X.shape)
    path = F.image_mosaic([X, X_rec], ["original", "reconstruction"], folder / "rec.png")
    out = [("Reconstructions", path, f"First {len(X)} {split} examples, at their labels.")]
    curves = F.training_curves(getattr(model, "history_", None) or [], folder / "curves.png")
    if curves is not None:
        out.append(("Training curves", curves, "Every logged loss part per epoch."))
    how = "the prior p(z)" if model.has_prior else "each class's mixture of its training codes"
    path = class_grid(model, folder / "class_grid.png", seed=seed)
    out.append(("Samples per class", path, f"One row per class; codes drawn from {how}."))
    return out
