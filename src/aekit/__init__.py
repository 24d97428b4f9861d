"""aekit: autoencoders from PCA to VAEs, with honest evaluation.

>>> from aekit import Autoencoder, DenoisingAutoencoder, load
"""

from aekit.models import Autoencoder, DenoisingAutoencoder
from aekit.persistence import load
from aekit.vae import VAE

__version__ = "0.1.0"
MODELS = ("Autoencoder", "DenoisingAutoencoder", "VAE")
__all__ = ["Autoencoder", "DenoisingAutoencoder", "VAE", "load", "MODELS", "__version__"]
