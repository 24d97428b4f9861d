"""aekit: autoencoders from PCA to VAEs, with honest evaluation.

>>> from aekit import PCA, LinearAutoencoder, Autoencoder, DenoisingAutoencoder, VAE, load
>>> from aekit import train_run  # what ``aekit train`` does, from Python
"""

from aekit.models.autoencoders import Autoencoder, DenoisingAutoencoder, LinearAutoencoder
from aekit.models.pca import PCA
from aekit.models.registry import KINDS, load
from aekit.models.vae import VAE
from aekit.runs.api import train_run

__version__ = "0.1.0"
__all__ = [
    "PCA",
    "LinearAutoencoder",
    "Autoencoder",
    "DenoisingAutoencoder",
    "VAE",
    "load",
    "train_run",
    "KINDS",
    "__version__",
]
