"""The user's own encoder and decoder, checked and fitted into aekit's parts.

An encoder may return features of any shape ``(n, ...)``: they are flattened, and
the code layer (the head) is built on their width. A decoder must return the
likelihood's parameters for a batch of codes ``(n, d)`` in the shape aekit's own
decoders return (see :mod:`aekit.core.networks`): ``(n, k * C, H, W)`` for images,
``(n, k * D)`` for vectors, ``k`` the parameters per value. Both are checked on a
batch of two before training, and a mismatch is one sentence.

The parameters are those the likelihood takes, not the reconstruction: a Bernoulli
decoder returns logits (any real number; the mean is their sigmoid), so it must not
end in ``nn.Sigmoid()``. A user decoder whose outputs all lie in [0, 1] under a
Bernoulli likelihood is warned about in one line (:func:`warn_if_probabilities`).

aekit trains deep copies: the modules passed in are left untouched, and saving
stores the trained weights only, never code, so loading takes the same modules
again (``aekit.load(path, encoder=..., decoder=...)``).
"""

from __future__ import annotations

import copy
import warnings

import torch
from torch import nn


class FlatFeatures(nn.Module):
    """A user's encoder whose output is flattened to ``(n, out_features)``."""

    def __init__(self, net: nn.Module, out_features: int) -> None:
        super().__init__()
        self.net, self.out_features = net, out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten(1)


def _probe(net: nn.Module, x: torch.Tensor, what: str) -> torch.Tensor:
    """``net(x)`` on a throwaway batch, with any failure as one sentence."""
    try:
        with torch.no_grad():
            out = net.eval()(x)
    except Exception as exc:  # the user's code may raise anything
        message = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise ValueError(
            f"the {what} failed on a batch of shape {tuple(x.shape)}: {message}."
        ) from None
    finally:
        net.train()
    if not isinstance(out, torch.Tensor) or out.ndim < 2 or out.shape[0] != len(x):
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(
            f"the {what} must return one row per example for a batch of shape "
            f"{tuple(x.shape)}, but it returned {got}."
        )
    return out


def user_networks(
    encoder: nn.Module | None,
    decoder: nn.Module | None,
    model_shape: tuple[int, ...],
    latent_dim: int,
    params_per_value: int,
) -> tuple[nn.Module, nn.Module]:
    """Checked copies of the user's ``(encoder, decoder)`` for examples of
    ``model_shape`` and codes of size ``latent_dim``."""
    if encoder is None or decoder is None:
        raise ValueError("give both encoder and decoder (nn.Module), or neither.")
    for name, net in (("encoder", encoder), ("decoder", decoder)):
        if not isinstance(net, nn.Module):
            raise ValueError(f"{name} must be a torch.nn.Module; got {type(net).__name__}.")
    encoder, decoder = copy.deepcopy(encoder), copy.deepcopy(decoder)
    device = next((p.device for p in encoder.parameters()), torch.device("cpu"))
    features = _probe(encoder, torch.zeros((2, *model_shape), device=device), "encoder")
    device = next((p.device for p in decoder.parameters()), torch.device("cpu"))
    params = _probe(decoder, torch.zeros((2, latent_dim), device=device), "decoder")
    expected = (2, params_per_value * model_shape[0], *model_shape[1:])
    if tuple(params.shape) != expected:
        k = f"{params_per_value} parameters" if params_per_value > 1 else "one parameter"
        raise ValueError(
            f"the decoder returned shape {tuple(params.shape)} for 2 codes of size "
            f"{latent_dim}, but the likelihood needs {expected}: {k} per value of "
            f"examples of shape {model_shape}."
        )
    return FlatFeatures(encoder, features[0].numel()), decoder


def warn_if_probabilities(decoder: nn.Module, latent_dim: int) -> None:
    """Warn in one line when the decoder's outputs for a few random codes all lie in
    [0, 1]: under a Bernoulli likelihood they are logits, and a decoder that ends in
    a sigmoid trains silently to a poor likelihood."""
    if torch.empty(()).is_meta:  # a module built for its shapes only (no values to see)
        return
    device = next((p.device for p in decoder.parameters()), torch.device("cpu"))
    codes = torch.randn((8, latent_dim), generator=torch.Generator().manual_seed(0))
    was_training = decoder.training
    try:
        with torch.no_grad():
            out = decoder.eval()(codes.to(device))
    finally:
        decoder.train(was_training)
    if bool(((out >= 0) & (out <= 1)).all()):
        warnings.warn(
            "the decoder's outputs all lie in [0, 1], but a Bernoulli likelihood takes "
            "logits (its mean is their sigmoid): remove a final nn.Sigmoid().",
            UserWarning,
            stacklevel=5,  # the caller of fit
        )
