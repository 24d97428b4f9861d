"""aekit: autoencoders from PCA to VAEs, with honest evaluation.

>>> from aekit import PCA, LinearAutoencoder, Autoencoder, DenoisingAutoencoder, VAE, load
"""

from aekit.autoencoders import Autoencoder, DenoisingAutoencoder, LinearAutoencoder
from aekit.pca import PCA
from aekit.registry import KINDS, load
from aekit.vae import VAE

__version__ = "0.1.0"
__all__ = [
    "PCA",
    "LinearAutoencoder",
    "Autoencoder",
    "DenoisingAutoencoder",
    "VAE",
    "load",
    "KINDS",
    "__version__",
]
