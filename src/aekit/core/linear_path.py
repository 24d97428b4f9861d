"""A linear path beside the deep networks, started at PCA's solution.

On small tables a deep autoencoder trained from a random start ends worse than PCA
at the same code size (issue 32: breast cancer 0.32 against 0.22). With a linear
path the model is

    z = A x + b + g(x),        x̂ = μ + B z + h(z),

where ``g`` and ``h`` are the deep networks' contributions. :func:`start_at_pca`
sets ``A``, ``b``, ``B`` to PCA's solution (whitened: the codes start with unit
variance, as the VAE's prior asks) and the deep contributions to zero, so the
untrained model *is* PCA and training can only move it where the loss improves;
early stopping on held-out data keeps the best of those moves. The deep parts
learn the nonlinear residual (as ReZero / zero-initialised residual blocks do).

``LinearPathEncoder`` hands the head the deep features *and* the flattened input,
so the head's linear map contains ``A``; ``LinearPathDecoder`` adds ``B z + μ`` to
the deep decoder's output.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

MIN_POSTERIOR_VARIANCE = 1e-6  # whitened units; log-variance heads start no lower


class LinearPathEncoder(nn.Module):
    """The deep encoder's features followed by the flattened input itself (and zeros
    up to a width that is a multiple of 8: CPU matrix products round a row alike
    wherever it sits in the batch only for such widths, and codes must not depend
    on the order of the examples)."""

    def __init__(self, deep: nn.Module, input_size: int) -> None:
        super().__init__()
        self.deep = deep
        self.input_size = input_size
        self.out_features = -(-(deep.out_features + input_size) // 8) * 8
        self.padding = self.out_features - deep.out_features - input_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.deep(x)
        parts = [features, x.flatten(1).to(features.dtype)]
        if self.padding:
            parts.append(features.new_zeros(len(features), self.padding))
        return torch.cat(parts, dim=1)


class LinearPathDecoder(nn.Module):
    """The deep decoder's output plus a linear map of the code (``B z + μ``)."""

    def __init__(self, deep: nn.Module, latent_dim: int, output_size: int) -> None:
        super().__init__()
        self.deep = deep
        self.linear = nn.Linear(latent_dim, output_size)

    @property
    def output_layer(self) -> nn.Module:
        return self.deep.output_layer

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = self.deep(z)
        return out + self.linear(z).view(out.shape).to(out.dtype)


def with_linear_path(
    encoder: nn.Module,
    decoder: nn.Module,
    input_shape: Sequence[int],
    latent_dim: int,
    params_per_value: int,
) -> tuple[LinearPathEncoder, LinearPathDecoder]:
    """Wrap aekit's own ``encoder`` and ``decoder`` with the linear path."""
    size = math.prod(input_shape)
    return (
        LinearPathEncoder(encoder, size),
        LinearPathDecoder(decoder, latent_dim, params_per_value * size),
    )


@torch.no_grad()
def start_at_pca(
    encoder: LinearPathEncoder,
    head: nn.Module,
    decoder: LinearPathDecoder,
    mean: np.ndarray,
    components: np.ndarray,
    variances: np.ndarray,
    noise_variance: float,
) -> None:
    """Set the parts so that the module computes PCA's codes and reconstructions.

    Parameters
    ----------
    encoder, head, decoder : the module's parts (the head's ``mean_layer`` and
        ``log_var_layer`` are set; the latter is None for a point mass).
    mean : (D,) the data mean, in the module's units.
    components : (k, D) principal axes, ``k <= latent_dim``; code dimensions past
        ``k`` start at zero (and, in a VAE, at the prior).
    variances : (k,) their eigenvalues λ.
    noise_variance : PCA's residual variance σ² per discarded direction: a VAE's
        posterior variance starts at probabilistic PCA's, σ²/λ in whitened units.
    """
    size = components.shape[1]
    # directions without variance (constant data) have no whitened code: left at 0
    k = int(np.sum(variances > max(1e-7 * float(variances.max(initial=0.0)), 1e-20)))
    components, variances = components[:k], variances[:k]
    scale = np.sqrt(variances)
    W = _float32(components)  # (k, D)
    mu = _float32(mean)
    s = _float32(scale)

    layer = head.mean_layer
    layer.weight.zero_()
    layer.bias.zero_()
    A = W / s[:, None]  # whitened projection
    inputs = slice(encoder.deep.out_features, encoder.deep.out_features + size)
    layer.weight[:k, inputs] = A
    layer.bias[:k] = -(A @ mu)
    log_var = head.log_var_layer
    if log_var is not None:
        log_var.weight.zero_()
        log_var.bias.zero_()  # dimensions past k: the prior's variance
        ratio = np.clip(noise_variance / scale**2, MIN_POSTERIOR_VARIANCE, 1.0)
        log_var.bias[:k] = _float32(np.log(ratio))

    out = decoder.output_layer
    out.weight.zero_()
    if out.bias is not None:
        out.bias.zero_()
    decoder.linear.weight.zero_()
    decoder.linear.bias.zero_()
    decoder.linear.weight[:size, :k] = (W * s[:, None]).T  # means first, other parameters after
    decoder.linear.bias[:size] = mu


def _float32(values: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.asarray(values, dtype=np.float64), dtype=torch.float32)
