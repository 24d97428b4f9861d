"""What training does to a batch before the model sees it: corruption of the input,
resampling of the data.

A corruption changes the encoder's input only; the target stays the clean batch
(the denoising criterion of Vincent et al. 2008). A resampling changes the batch
itself, input and target alike (dynamic binarisation, Salakhutdinov & Murray 2008;
uniform dequantisation of 8-bit values).
Both act in training only: :class:`~aekit.core.module.AutoencoderModule` skips them in
evaluation mode.

Examples
--------
>>> import torch
>>> x = torch.zeros(2, 3)
>>> GaussianNoise(0.0)(x) is x
True
>>> DynamicBinarization()(torch.ones(2, 3)).sum().item()
6.0
"""

from __future__ import annotations

import torch
from torch import nn

BINARIZE = ("none", "dynamic")  # binarisation of the training batches: none, or fresh draws


class GaussianNoise(nn.Module):
    """``x + ε`` with ``ε ~ N(0, std² I)``, drawn afresh at every call.

    Parameters
    ----------
    std : float
        The noise level σ; 0 leaves the input unchanged.
    """

    def __init__(self, std: float = 0.0) -> None:
        super().__init__()
        self.std = float(std)

    def forward(self, x: torch.Tensor, std: float | None = None) -> torch.Tensor:
        """Corrupt ``x`` at the part's σ, or at ``std`` when given (the chain sampler)."""
        std = self.std if std is None else float(std)
        return x + std * torch.randn_like(x) if std > 0 else x

    def extra_repr(self) -> str:
        return f"std={self.std}"


class UniformDequantization(nn.Module):
    """``x + u`` with ``u ~ U[0, 1/256)`` per value, drawn afresh at every call: a
    continuous density on 8-bit values in [0, 1] then bounds their probabilities
    (Theis et al. 2016), where on the values themselves it is unbounded."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.rand_like(x) / 256


class DynamicBinarization(nn.Module):
    """Replace each value in [0, 1] by a Bernoulli draw with that probability."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.bernoulli(x)
