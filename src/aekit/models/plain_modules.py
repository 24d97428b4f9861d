"""Fitted models as plain torch modules (what :mod:`aekit.models.export` writes):
encoders and decoders with the feature scaling inside, for PCA and the neural
models. Each estimator builds its own (``_encoder_module``, ``_decoder_module``).

A conditional model's take the class as a second input: its index in the model's
``classes_`` (int64, shape (n,)), which they one-hot encode inside as the model does
(:meth:`aekit.core.module.AutoencoderModule.conditioned`)."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted
from torch import nn

from aekit.core.module import join_one_hot
from aekit.core.scaling import FeatureScaling


def _buffer(array: Any) -> torch.Tensor:
    return torch.as_tensor(np.asarray(array, dtype=np.float32))


class NeuralEncoder(nn.Module):
    """Examples → codes (the posterior mean for a VAE)."""

    def __init__(self, scaling: FeatureScaling, encoder: nn.Module, head: nn.Module,
                 model_shape: tuple[int, ...], n_classes: int = 0) -> None:  # fmt: skip
        super().__init__()
        self.scaling, self.encoder, self.head = copy.deepcopy(scaling).cpu(), encoder, head
        self.model_shape, self.n_classes = model_shape, n_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.scaling(x).reshape((x.shape[0], *self.model_shape))
        return self.head(self.encoder(x)).mean


class NeuralDecoder(nn.Module):
    """Codes → the mean of p(x | z), in the user's units and the input's shape."""

    def __init__(self, scaling: FeatureScaling, decoder: nn.Module, likelihood: nn.Module,
                 input_shape: tuple[int, ...], n_classes: int = 0) -> None:  # fmt: skip
        super().__init__()
        self.scaling = copy.deepcopy(scaling).cpu()
        self.decoder, self.likelihood = decoder, likelihood
        self.input_shape, self.n_classes = input_shape, n_classes

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        mean = self.likelihood.mean(self.decoder(z).float())
        return self.scaling.inverse(mean.reshape((z.shape[0], *self.input_shape)))


class ConditionalEncoder(NeuralEncoder):
    """Examples and their class indices (n,) → codes, as ``transform(X, y)``."""

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        x = self.scaling(x).reshape((x.shape[0], *self.model_shape))
        return self.head(join_one_hot(self.encoder(x), c, self.n_classes)).mean


class ConditionalDecoder(NeuralDecoder):
    """Codes and class indices (n,) → the mean of p(x | z, c), as ``inverse_transform(Z, y)``."""

    def forward(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        mean = self.likelihood.mean(self.decoder(join_one_hot(z, c, self.n_classes)).float())
        return self.scaling.inverse(mean.reshape((z.shape[0], *self.input_shape)))


def neural_encoder(scaling: FeatureScaling, module: nn.Module,
                   model_shape: tuple[int, ...]) -> nn.Module:  # fmt: skip
    """The plain encoder of ``module``: conditional when it has classes."""
    kind = ConditionalEncoder if module.n_classes else NeuralEncoder
    return kind(scaling, module.encoder, module.head, model_shape, module.n_classes)


def neural_decoder(scaling: FeatureScaling, module: nn.Module,
                   input_shape: tuple[int, ...]) -> nn.Module:  # fmt: skip
    """The plain decoder of ``module``: conditional when it has classes."""
    kind = ConditionalDecoder if module.n_classes else NeuralDecoder
    return kind(scaling, module.decoder, module.likelihood, input_shape, module.n_classes)


class PCAEncoder(nn.Module):
    """Examples → PCA codes (whitened when the model whitens)."""

    def __init__(self, components: Any, mean: Any, code_scale: Any,
                 input_shape: tuple[int, ...]) -> None:  # fmt: skip
        super().__init__()
        self.register_buffer("components", _buffer(components))
        self.register_buffer("mean", _buffer(mean))
        self.register_buffer("code_scale", _buffer(code_scale))
        self.input_shape = input_shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.reshape(x.shape[0], -1) - self.mean) @ self.components.T / self.code_scale


class PCADecoder(PCAEncoder):
    """PCA codes → reconstructions in the input's shape."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        flat = (z * self.code_scale) @ self.components + self.mean
        return flat.reshape((z.shape[0], *self.input_shape))


def on_cpu(model: Any) -> Any:
    """``model`` itself when it lives on the CPU, else a copy moved there."""
    check_is_fitted(model)
    if model.device_.type == "cpu":
        return model
    twin = copy.deepcopy(model)
    twin.module_ = twin.module_.cpu()
    return twin
