"""aekit: autoencoders from PCA to VAEs, with honest evaluation.

>>> from aekit import Autoencoder, DenoisingAutoencoder, load
"""

from aekit.models import Autoencoder, DenoisingAutoencoder
from aekit.persistence import load

__version__ = "0.1.0"
MODELS = ("Autoencoder", "DenoisingAutoencoder")
__all__ = ["Autoencoder", "DenoisingAutoencoder", "load", "MODELS", "__version__"]
