"""A fitted model as plain ``torch.nn.Module``s, and as ONNX or TorchScript files.

:func:`encoder_module` maps examples to codes exactly as ``transform`` does (a
VAE's posterior mean); :func:`decoder_module` maps codes to the likelihood's mean
in the user's units, as ``inverse_transform`` does; :func:`autoencoder_module`
is the two in a row. Each takes examples of the fitted ``input_shape_`` (float32,
a batch first) and carries the model's feature scaling as buffers, so a program
that loads the file needs neither aekit nor its estimator.

The safetensors file ``aekit save`` writes holds the module's own
``state_dict()`` under ``encoder.*`` (the encoder network), ``head.*`` (the code
layer: ``head.linear`` for a deterministic code, ``head.mean`` and
``head.log_var`` for a VAE), ``decoder.*``, ``likelihood.*`` (a learned σ) and
``prior.*`` (a mixture prior); beside them ``scale_offset_`` and
``scale_factor_`` (per-feature scaling, ``x_model = (x - offset) / factor``)
and ``training_codes_``. PCA's holds ``components_``, ``mean_`` and its spectra.
"""

from __future__ import annotations

import copy
import io
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted
from torch import nn

from aekit.errors import AekitError
from aekit.models.neural import model_shape_of
from aekit.models.pca import PCA
from aekit.storage.safe_files import atomic_write_bytes

FORMATS = ("onnx", "torchscript")
PARTS = ("encoder", "decoder", "both")


def _buffer(array: Any) -> torch.Tensor:
    return torch.as_tensor(np.asarray(array, dtype=np.float32))


class _Scaled(nn.Module):
    """The model's feature scaling around a module: in, out or both."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        shape = tuple(model.input_shape_)
        offset = getattr(model, "scale_offset_", None)
        factor = getattr(model, "scale_factor_", None)
        self.register_buffer("offset", _buffer(0.0 if offset is None else offset).reshape(-1))
        self.register_buffer("factor", _buffer(1.0 if factor is None else factor).reshape(-1))
        self.input_shape = shape

    def scale(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(x.shape[0], -1)
        return (flat - self.offset) / self.factor

    def unscale(self, flat: torch.Tensor) -> torch.Tensor:
        return (flat * self.factor + self.offset).reshape((flat.shape[0], *self.input_shape))


class NeuralEncoder(_Scaled):
    """Examples → codes (the posterior mean for a VAE)."""

    def __init__(self, model: Any) -> None:
        super().__init__(model)
        self.encoder, self.head = model.module_.encoder, model.module_.head
        self.model_shape = model_shape_of(tuple(model.input_shape_))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.scale(x).reshape((x.shape[0], *self.model_shape))
        return self.head(self.encoder(x)).mean


class NeuralDecoder(_Scaled):
    """Codes → the mean of p(x | z), in the user's units."""

    def __init__(self, model: Any) -> None:
        super().__init__(model)
        self.decoder, self.likelihood = model.module_.decoder, model.module_.likelihood

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        mean = self.likelihood.mean(self.decoder(z).float())
        return self.unscale(mean.reshape(z.shape[0], -1))


class PCAEncoder(_Scaled):
    """Examples → PCA codes (whitened when the model whitens)."""

    def __init__(self, model: PCA) -> None:
        super().__init__(model)
        self.register_buffer("components", _buffer(model.components_))
        self.register_buffer("mean", _buffer(model.mean_))
        self.register_buffer("code_scale", _buffer(model._code_scale().cpu().numpy()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.reshape(x.shape[0], -1) - self.mean) @ self.components.T / self.code_scale


class PCADecoder(PCAEncoder):
    """PCA codes → reconstructions in the input's shape."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        flat = (z * self.code_scale) @ self.components + self.mean
        return flat.reshape((z.shape[0], *self.input_shape))


class Autoencoder(nn.Module):
    """Encoder then decoder: examples → reconstructions."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module) -> None:
        super().__init__()
        self.encoder, self.decoder = encoder, decoder

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


def encoder_module(model: Any) -> nn.Module:
    """A CPU copy of ``model``'s encoder as a plain module: ``transform`` in torch.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from aekit import PCA
    >>> X = np.random.default_rng(0).random((50, 6), dtype=np.float32)
    >>> pca = PCA(2).fit(X)
    >>> codes = encoder_module(pca)(torch.from_numpy(X)).numpy()
    >>> bool(np.allclose(codes, pca.transform(X), atol=1e-5))
    True
    """
    module = PCAEncoder(model) if isinstance(model, PCA) else NeuralEncoder(_on_cpu(model))
    return module.eval()


def decoder_module(model: Any) -> nn.Module:
    """A CPU copy of ``model``'s decoder as a plain module: ``inverse_transform`` in torch."""
    module = PCADecoder(model) if isinstance(model, PCA) else NeuralDecoder(_on_cpu(model))
    return module.eval()


def autoencoder_module(model: Any) -> nn.Module:
    """Encoder and decoder in a row: ``reconstruct`` in torch."""
    return Autoencoder(encoder_module(model), decoder_module(model)).eval()


def _on_cpu(model: Any) -> Any:
    """``model`` itself when it lives on the CPU, else a copy moved there."""
    check_is_fitted(model)
    if model.device_.type == "cpu":
        return model
    twin = copy.deepcopy(model)
    twin.module_ = twin.module_.cpu()
    return twin


def export_model(
    model: Any, path: str | Path, *, format: str = "onnx", part: str = "encoder"
) -> Path:
    """Write ``model``'s encoder, decoder or both as an ONNX or TorchScript file.

    Parameters
    ----------
    model : fitted aekit estimator
    path : path
        The file to write (atomically).
    format : {"onnx", "torchscript"}, default="onnx"
        ONNX needs the ``onnx`` and ``onnxscript`` packages (``pip install
        'aekit[export]'``); the batch size of the file is dynamic.
    part : {"encoder", "decoder", "both"}, default="encoder"
        ``"both"``: examples → reconstructions in one graph.

    Returns
    -------
    Path
    """
    if format not in FORMATS:
        raise AekitError(f"format must be one of {', '.join(FORMATS)}; got {format!r}.")
    if part not in PARTS:
        raise AekitError(f"part must be one of {', '.join(PARTS)}; got {part!r}.")
    build = {"encoder": encoder_module, "decoder": decoder_module, "both": autoencoder_module}
    module = build[part](model)
    d = model.n_components_ if isinstance(model, PCA) else model.latent_dim
    shape = (d,) if part == "decoder" else tuple(model.input_shape_)
    example = torch.zeros((2, *shape))
    path = Path(path)
    with torch.no_grad():
        data = _onnx_bytes(module, example) if format == "onnx" else _script_bytes(module, example)
    atomic_write_bytes(path, data)
    return path


def _script_bytes(module: nn.Module, example: torch.Tensor) -> bytes:
    with warnings.catch_warnings():  # torch >= 2.10 deprecates TorchScript; users still load it
        warnings.simplefilter("ignore", DeprecationWarning)
        traced = torch.jit.trace(module, example, check_trace=False)
        buffer = io.BytesIO()
        torch.jit.save(traced, buffer)
    return buffer.getvalue()


def _onnx_bytes(module: nn.Module, example: torch.Tensor) -> bytes:
    try:
        import onnxscript  # noqa: F401  (torch's ONNX exporter needs it)
    except ImportError:
        raise AekitError(
            "ONNX export needs the onnx and onnxscript packages: pip install 'aekit[export]'."
        ) from None
    batch = torch.export.Dim("batch", min=1)
    program = torch.onnx.export(
        module,
        (example,),
        dynamic_shapes=({0: batch},),
        input_names=["input"],
        output_names=["output"],
        dynamo=True,
        verbose=False,
    )
    return program.model_proto.SerializeToString()
