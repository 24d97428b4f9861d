"""Plain encoder and decoder modules of fitted models, and ONNX / TorchScript files
(the public name of :mod:`aekit.models.export`, where the code and the safetensors
key layout are documented)."""

from aekit.models.export import (
    FORMATS,
    PARTS,
    autoencoder_module,
    decoder_module,
    encoder_module,
    export_model,
)

__all__ = [
    "FORMATS",
    "PARTS",
    "autoencoder_module",
    "decoder_module",
    "encoder_module",
    "export_model",
]
