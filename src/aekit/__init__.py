"""aekit: autoencoders from PCA to VAEs, with honest evaluation.

>>> from aekit import PCA, LinearAutoencoder, Autoencoder, DenoisingAutoencoder, VAE, VQVAE, load
>>> from aekit import train_run  # what ``aekit train`` does, from Python

The public names are imported when first used (PEP 562), so that ``import aekit``
and ``aekit --help`` do not wait for torch and scikit-learn; ``from aekit import
VAE`` imports them as it always did.
"""

import importlib

__version__ = "0.1.0"
# each public name and the module that defines it
_PUBLIC = {
    "PCA": "aekit.models.pca",
    "LinearAutoencoder": "aekit.models.autoencoders",
    "Autoencoder": "aekit.models.autoencoders",
    "DenoisingAutoencoder": "aekit.models.autoencoders",
    "VAE": "aekit.models.vae",
    "VQVAE": "aekit.models.quantised",
    "OutlierDetector": "aekit.models.outlier_detector",
    "load": "aekit.models.registry",
    "train_run": "aekit.runs.api",
    "KINDS": "aekit.models.registry",
}
_SUBMODULES = ("errors", "validation", "export", "core", "data", "storage", "training",
               "models", "runs", "cli")  # fmt: skip
__all__ = [*_PUBLIC, "__version__"]


def __getattr__(name: str):
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name]), name)
    elif name in _SUBMODULES:  # ``aekit.data`` after a bare ``import aekit``, as before
        value = importlib.import_module(f"aekit.{name}")
    else:
        raise AttributeError(f"module 'aekit' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC, *_SUBMODULES})
