"""aekit: autoencoders from PCA to VAEs, with honest evaluation.

>>> from aekit import PCA, LinearAutoencoder, Autoencoder, DenoisingAutoencoder, VAE, load
"""

from aekit.models import Autoencoder, DenoisingAutoencoder, LinearAutoencoder
from aekit.pca import PCA
from aekit.persistence import load
from aekit.vae import VAE

__version__ = "0.1.0"
MODELS = ("PCA", "LinearAutoencoder", "Autoencoder", "DenoisingAutoencoder", "VAE")
__all__ = [
    "PCA",
    "LinearAutoencoder",
    "Autoencoder",
    "DenoisingAutoencoder",
    "VAE",
    "load",
    "MODELS",
    "__version__",
]
