"""aekit's model kinds: their names, their estimators, and ``load``.

Each estimator class names its kind where it is defined (``class VAE(...,
kind="vae")``) and so enters :data:`ESTIMATORS`; :data:`KINDS` is the list of
kinds in the order the command line shows them. The CLI's choices, run folders
(``run.json`` names a kind) and saved models (``config.json`` names a class) all
read this table; a saved file never names a class that is imported from it.
Everything else that differs by kind (what a score measures, the code size,
evaluation extras, export parts) is asked of the class.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aekit.errors import AekitError
from aekit.models.estimator import ESTIMATORS, AutoencoderEstimator
from aekit.models.outlier_detector import OutlierDetector
from aekit.storage.persistence import restore_model

KINDS = ("pca", "linear", "ae", "dae", "vae", "vqvae")


def estimator_class(kind: str) -> type[AutoencoderEstimator]:
    """The estimator class of the model kind ``kind`` (one of :data:`KINDS`)."""
    if kind not in KINDS or kind not in ESTIMATORS:
        raise AekitError(f"unknown model kind {kind!r}; choose one of {', '.join(KINDS)}.")
    return ESTIMATORS[kind]


def load(
    path: str | Path,
    *,
    device: str | None = None,
    encoder: Any = None,
    decoder: Any = None,
) -> Any:
    """Load a model saved with ``model.save(path)`` (an estimator of :data:`KINDS`, or
    an :class:`aekit.OutlierDetector`).

    Parameters
    ----------
    path : path
        The folder given to ``save`` (or a run folder made by ``aekit train``).
    device : str, optional
        Override the saved ``device`` parameter (e.g. ``"cpu"``).
    encoder, decoder : torch.nn.Module, optional
        For a model trained with your own networks: modules built as they were
        then (the saved weights are loaded into copies of them). No code is read
        from the files.

    Examples
    --------
    >>> import numpy as np, tempfile, aekit
    >>> X = np.random.default_rng(0).random((40, 6), dtype=np.float32)
    >>> m = aekit.Autoencoder(latent_dim=2, hidden=(8,), epochs=1, random_state=0).fit(X)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = m.save(d)
    ...     np.array_equal(aekit.load(d).transform(X), m.transform(X))
    True
    """
    by_class_name = {ESTIMATORS[kind].__name__: ESTIMATORS[kind] for kind in KINDS}
    by_class_name[OutlierDetector.__name__] = OutlierDetector
    return restore_model(by_class_name, path, device, {"encoder": encoder, "decoder": decoder})
