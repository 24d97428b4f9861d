"""Encoder and decoder networks: MLPs for vectors, convolutional nets for images.

An encoder maps a batch ``(n, *input_shape)`` to features ``(n, out_features)``;
a head (``aekit.core.heads``) turns those features into a code distribution. A decoder
maps codes ``(n, d)`` to ``(n, k * C, H, W)`` or ``(n, k * D)`` where ``k`` is the
number of parameters the likelihood needs per observed value (1 for a mean, 2 for
a mean and a log-variance).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "elu": nn.ELU, "silu": nn.SiLU}
NORMS = ("none", "batch", "layer")
ARCHITECTURES = ("mlp", "conv", "linear")
DEFAULT_HIDDEN = {"mlp": (512, 256), "conv": (32, 64), "linear": ()}  # widths / channels


def _norm_1d(norm: str, width: int) -> list[nn.Module]:
    if norm == "batch":
        return [nn.BatchNorm1d(width)]
    if norm == "layer":
        return [nn.LayerNorm(width)]
    return []


def _norm_2d(norm: str, channels: int) -> list[nn.Module]:
    if norm == "batch":
        return [nn.BatchNorm2d(channels)]
    if norm == "layer":
        return [nn.GroupNorm(1, channels)]  # layer norm over (C, H, W)
    return []


def mlp(widths: Sequence[int], activation: str = "relu", norm: str = "none") -> nn.Sequential:
    """Hidden layers ``widths[0] -> widths[1] -> ...``, each followed by norm and activation."""
    layers: list[nn.Module] = []
    for n_in, n_out in zip(widths[:-1], widths[1:], strict=True):
        layers += [nn.Linear(n_in, n_out), *_norm_1d(norm, n_out), ACTIVATIONS[activation]()]
    return nn.Sequential(*layers)


class MLPEncoder(nn.Module):
    """Flatten the input and apply hidden layers; ``out_features`` is the last width."""

    def __init__(
        self, input_shape: Sequence[int], hidden: Sequence[int], activation: str, norm: str
    ) -> None:
        super().__init__()
        n_in = math.prod(input_shape)
        self.body = mlp([n_in, *hidden], activation, norm)
        self.out_features = hidden[-1] if hidden else n_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.flatten(1))


class MLPDecoder(nn.Module):
    """Hidden layers (the encoder's, reversed) then a linear output of ``k * D`` values."""

    def __init__(
        self,
        latent_dim: int,
        output_shape: Sequence[int],
        hidden: Sequence[int],
        activation: str,
        norm: str,
        params_per_value: int = 1,
    ) -> None:
        super().__init__()
        widths = [latent_dim, *reversed(hidden)]
        self.body = mlp(widths, activation, norm)
        self.output_shape = tuple(output_shape)
        self.params_per_value = params_per_value
        self.out = nn.Linear(widths[-1], params_per_value * math.prod(output_shape))

    @property
    def output_layer(self) -> nn.Module:
        """The last layer (a linear path starts it at zero)."""
        return self.out

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = self.out(self.body(z))
        # (n, k, *shape) flattened on the parameter axis: (n, k * C, H, W) or (n, k * D)
        shape = (self.params_per_value * self.output_shape[0], *self.output_shape[1:])
        return out.view(z.shape[0], *shape)


def _conv_out(size: int) -> int:
    """Spatial size after a 3x3, stride-2, padding-1 convolution."""
    return (size - 1) // 2 + 1


class ConvEncoder(nn.Module):
    """Stride-2 3x3 convolutions (one per entry of ``channels``), then flatten.

    Works for any ``H x W``: sizes shrink as ``ceil(s / 2)`` and stop shrinking at 1.
    """

    def __init__(
        self, input_shape: Sequence[int], channels: Sequence[int], activation: str, norm: str
    ) -> None:
        super().__init__()
        if len(input_shape) != 3:
            raise ValueError(
                f"architecture='conv' needs images (C, H, W), but examples have shape "
                f"{tuple(input_shape)}."
            )
        c, h, w = input_shape
        layers: list[nn.Module] = []
        self.sizes = [(h, w)]
        for c_out in channels:
            layers += [nn.Conv2d(c, c_out, 3, stride=2, padding=1), *_norm_2d(norm, c_out)]
            layers.append(ACTIVATIONS[activation]())
            c, h, w = c_out, _conv_out(h), _conv_out(w)
            self.sizes.append((h, w))
        self.body = nn.Sequential(*layers)
        self.out_features = c * h * w
        self.final_shape = (c, h, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).flatten(1)


class ConvDecoder(nn.Module):
    """Mirror of :class:`ConvEncoder`: linear to the smallest feature map, then
    transposed convolutions whose output sizes are pinned to the encoder's sizes,
    so the output is exactly ``(k * C, H, W)`` for any input size.

    With ``code_channels`` the code is a grid of that many channels on the smallest
    feature map (a VQ-VAE's, flattened channel-major) and a 1×1 convolution
    replaces the linear layer."""

    def __init__(
        self,
        latent_dim: int,
        encoder: ConvEncoder,
        output_channels: int,
        channels: Sequence[int],
        activation: str,
        norm: str,
        params_per_value: int = 1,
        code_channels: int | None = None,
    ) -> None:
        super().__init__()
        self.start_shape = c, h, w = encoder.final_shape
        if code_channels is None:
            first: list[nn.Module] = [nn.Linear(latent_dim, math.prod(self.start_shape))]
        else:
            first = [nn.Unflatten(1, (code_channels, h, w)), nn.Conv2d(code_channels, c, 1)]
        self.fc = nn.Sequential(*first, ACTIVATIONS[activation]())
        widths = [*reversed(channels), params_per_value * output_channels]
        self.targets = list(reversed(encoder.sizes[:-1]))
        self.deconvs = nn.ModuleList(
            nn.ConvTranspose2d(c_in, c_out, 3, stride=2, padding=1)
            for c_in, c_out in zip(widths[:-1], widths[1:], strict=True)
        )
        self.after = nn.ModuleList(
            nn.Sequential(*_norm_2d(norm, c_out), ACTIVATIONS[activation]())
            for c_out in widths[1:-1]
        )

    @property
    def output_layer(self) -> nn.Module:
        """The last layer (a linear path starts it at zero)."""
        return self.deconvs[-1]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(z).view(z.shape[0], *self.start_shape)
        for i, deconv in enumerate(self.deconvs):
            h = deconv(h, output_size=self.targets[i])
            if i < len(self.after):
                h = self.after[i](h)
        return h


def build_networks(
    architecture: str,
    input_shape: Sequence[int],
    latent_dim: int,
    hidden: Sequence[int],
    activation: str = "relu",
    norm: str = "none",
    params_per_value: int = 1,
) -> tuple[nn.Module, nn.Module]:
    """Return ``(encoder, decoder)`` for ``architecture`` in ``{"mlp", "conv", "linear"}``.

    ``"linear"`` is an MLP with no hidden layer: the encoder is the identity on the
    flattened input (the head adds the one linear map) and the decoder one linear map.
    """
    input_shape = tuple(int(s) for s in input_shape)
    if architecture == "linear":
        hidden = ()
        architecture = "mlp"
    if architecture == "mlp":
        encoder = MLPEncoder(input_shape, hidden, activation, norm)
        decoder = MLPDecoder(latent_dim, input_shape, hidden, activation, norm, params_per_value)
        return encoder, decoder
    if architecture == "conv":
        if not hidden:
            raise ValueError("architecture='conv' needs at least one channel count in hidden.")
        encoder = ConvEncoder(input_shape, hidden, activation, norm)
        decoder = ConvDecoder(
            latent_dim, encoder, input_shape[0], hidden, activation, norm, params_per_value
        )
        return encoder, decoder
    raise ValueError(f"architecture must be 'mlp', 'conv' or 'linear'; got {architecture!r}.")
