"""The one table of aekit's models: each kind's name, its estimator, and ``load``.

The CLI's choices, run folders (``run.json`` names a kind) and saved models
(``config.json`` names a class) all read :data:`ESTIMATORS`; a saved file never
names a class that is imported from it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aekit.errors import AekitError
from aekit.models.autoencoders import Autoencoder, DenoisingAutoencoder, LinearAutoencoder
from aekit.models.estimator import AutoencoderEstimator
from aekit.models.pca import PCA
from aekit.models.vae import VAE
from aekit.storage.persistence import restore_model

ESTIMATORS: dict[str, type[AutoencoderEstimator]] = {
    "pca": PCA,
    "linear": LinearAutoencoder,
    "ae": Autoencoder,
    "dae": DenoisingAutoencoder,
    "vae": VAE,
}
KINDS = tuple(ESTIMATORS)
_BY_CLASS_NAME = {cls.__name__: cls for cls in ESTIMATORS.values()}


def estimator_class(kind: str) -> type[AutoencoderEstimator]:
    """The estimator class of the model kind ``kind`` (one of :data:`KINDS`)."""
    if kind not in ESTIMATORS:
        raise AekitError(f"unknown model kind {kind!r}; choose one of {', '.join(KINDS)}.")
    return ESTIMATORS[kind]


def kind_of(model: AutoencoderEstimator) -> str:
    """The kind of ``model``: the key of its class in :data:`ESTIMATORS`."""
    for kind, cls in ESTIMATORS.items():
        if type(model) is cls:
            return kind
    raise AekitError(f"{type(model).__name__} is not one of aekit's models.")


def load(
    path: str | Path,
    *,
    device: str | None = None,
    encoder: Any = None,
    decoder: Any = None,
) -> Any:
    """Load a model saved with ``model.save(path)``.

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
    return restore_model(_BY_CLASS_NAME, path, device, {"encoder": encoder, "decoder": decoder})
