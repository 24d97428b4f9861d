"""A VQ-VAE's encoder to indices and decoder from indices, as plain torch modules
(what :func:`aekit.export.export_model` writes for a ``vqvae``): the integer codes
of ``transform`` and ``inverse_transform``, with the feature scaling and the
codebooks inside."""

from __future__ import annotations

import copy

import torch
from torch import nn

from aekit.core.scaling import FeatureScaling


class IndexEncoder(nn.Module):
    """Examples → codebook indices, int64 of shape (n, *code_shape)."""

    def __init__(self, scaling: FeatureScaling, encoder: nn.Module, head: nn.Module,
                 model_shape: tuple[int, ...], code_shape: tuple[int, ...]) -> None:  # fmt: skip
        super().__init__()
        self.scaling, self.encoder, self.head = copy.deepcopy(scaling).cpu(), encoder, head
        self.model_shape, self.code_shape = model_shape, code_shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        x = self.scaling(x).reshape((n, *self.model_shape))
        residual = self.head.continuous(self.encoder(x))  # (n · positions, dim)
        indices = []
        for book in self.head.quantiser.books:  # residual quantisation, level by level
            k = book.nearest(residual)
            residual = residual - book.vectors[k]
            indices.append(k)
        return torch.stack(indices, -1).reshape((n, *self.code_shape))


class IndexDecoder(nn.Module):
    """Codebook indices (n, *code_shape) → the mean of p(x | z), in the user's units."""

    def __init__(self, scaling: FeatureScaling, decoder: nn.Module, head: nn.Module,
                 likelihood: nn.Module, input_shape: tuple[int, ...]) -> None:  # fmt: skip
        super().__init__()
        self.scaling = copy.deepcopy(scaling).cpu()
        self.decoder, self.head, self.likelihood = decoder, head, likelihood
        self.input_shape = input_shape

    def forward(self, indices: torch.Tensor) -> torch.Tensor:
        n = indices.shape[0]
        grid = indices.reshape((n, *self.head.grid, len(self.head.quantiser.books)))
        mean = self.likelihood.mean(self.decoder(self.head.decode_indices(grid)).float())
        return self.scaling.inverse(mean.reshape((n, *self.input_shape)))
