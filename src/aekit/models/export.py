"""A fitted model as plain ``torch.nn.Module``s, and as ONNX or TorchScript files.

:func:`encoder_module` maps examples to codes exactly as ``transform`` does (a
VAE's posterior mean); :func:`decoder_module` maps codes to the likelihood's mean
in the user's units, as ``inverse_transform`` does; :func:`autoencoder_module`
is the two in a row. A VQ-VAE's encoder outputs its integer indices (int64) and its
decoder takes them. Each takes examples of the fitted ``input_shape_`` (float32,
a batch first) and carries the model's feature scaling as buffers, so a program
that loads the file needs neither aekit nor its estimator.

A conditional model's (``conditional=True``, fitted with ``y``) take the class as a
second input, ``class`` in an ONNX file: each example's index in ``model.classes_``
(int64, shape (n,)), which the module one-hot encodes inside as the model does; so
the encoder is ``(x, c) → code``, the decoder ``(code, c) → mean`` and ``"both"``
``(x, c) → reconstruction``. An index must lie in ``[0, len(classes_))``: the model
refuses an unknown class, but an ONNX runtime does not check the index and answers
anyway.

The safetensors file ``aekit save`` writes holds the module's own
``state_dict()`` under ``encoder.*`` (the encoder network), ``head.*`` (the code
layer: ``head.linear`` for a deterministic code, ``head.mean`` and
``head.log_var`` for a VAE), ``decoder.*``, ``likelihood.*`` (a learned σ) and
``prior.*`` (a mixture prior's
components, a VampPrior's ``prior.pseudo_inputs``, a two-level VAE's
``prior.conditional.*`` and ``prior.inference.*`` networks); beside them ``scale_offset_`` and
``scale_factor_`` (per-feature scaling, ``x_model = (x - offset) / factor``)
and ``training_codes_``; a VQ-VAE's codebooks are ``head.quantiser.books.*`` and its
code prior ``code_prior.*``. PCA's holds ``components_``, ``mean_`` and its spectra.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from aekit.errors import AekitError
from aekit.storage.safe_files import atomic_write_bytes

FORMATS = ("onnx", "torchscript")
PARTS = ("encoder", "decoder", "both")


class Autoencoder(nn.Module):
    """Encoder then decoder: examples → reconstructions."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module) -> None:
        super().__init__()
        self.encoder, self.decoder = encoder, decoder

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class ConditionalAutoencoder(Autoencoder):
    """Encoder then decoder at the class indices ``c``: (examples, c) → reconstructions."""

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return self.decoder(self.encoder(x, c), c)


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
    return model._encoder_module().eval()


def decoder_module(model: Any) -> nn.Module:
    """A CPU copy of ``model``'s decoder as a plain module: ``inverse_transform`` in torch."""
    return model._decoder_module().eval()


def autoencoder_module(model: Any) -> nn.Module:
    """Encoder and decoder in a row: ``reconstruct`` in torch (at the class indices
    given as a second input, for a conditional model)."""
    pair = ConditionalAutoencoder if _is_conditional(model) else Autoencoder
    return pair(encoder_module(model), decoder_module(model)).eval()


def _is_conditional(model: Any) -> bool:
    return bool(getattr(model, "n_classes_", 0))


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
        ``"both"``: examples → reconstructions in one graph. A conditional model's
        file takes the class indices (int64, positions in ``classes_``) as a second
        input, ``class``.

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
    if part == "decoder":  # codes: floats, or a VQ-VAE's integer indices
        examples: tuple[torch.Tensor, ...] = (model._decoder_input(2),)
    else:
        examples = (torch.zeros((2, *tuple(model.input_shape_))),)
    if _is_conditional(model):  # two classes, so that tracing sees no constant
        examples = (*examples, torch.arange(2, dtype=torch.int64))
    path = Path(path)
    with torch.no_grad():
        write = _onnx_bytes if format == "onnx" else _script_bytes
        data = write(module, examples)
    atomic_write_bytes(path, data)
    return path


def _script_bytes(module: nn.Module, examples: tuple[torch.Tensor, ...]) -> bytes:
    with warnings.catch_warnings():  # torch >= 2.10 deprecates TorchScript; users still load it
        warnings.simplefilter("ignore", DeprecationWarning)
        traced = torch.jit.trace(module, examples, check_trace=False)
        buffer = io.BytesIO()
        torch.jit.save(traced, buffer)
    return buffer.getvalue()


def _onnx_bytes(module: nn.Module, examples: tuple[torch.Tensor, ...]) -> bytes:
    try:
        import onnxscript  # noqa: F401  (torch's ONNX exporter needs it)
    except ImportError:
        raise AekitError(
            "ONNX export needs the onnx and onnxscript packages: pip install 'aekit[export]'."
        ) from None
    batch = torch.export.Dim("batch", min=1)
    program = torch.onnx.export(
        module,
        examples,
        dynamic_shapes=tuple({0: batch} for _ in examples),
        input_names=["input", "class"][: len(examples)],
        output_names=["output"],
        dynamo=True,
        verbose=False,
    )
    return program.model_proto.SerializeToString()
