"""A user's decoder under a Bernoulli likelihood returns logits: one that ends in a
sigmoid is warned about in one line."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from torch import nn

import aekit

X = np.random.default_rng(0).random((40, 6), dtype=np.float32)


def networks(*last: nn.Module) -> dict:
    encoder = nn.Sequential(nn.Linear(6, 8), nn.ReLU())
    return {"encoder": encoder, "decoder": nn.Sequential(nn.Linear(2, 6), *last)}


def test_a_sigmoid_decoder_under_a_bernoulli_likelihood_is_warned_about():
    vae = aekit.VAE(2, likelihood="bernoulli", epochs=1, **networks(nn.Sigmoid()))
    with pytest.warns(UserWarning, match="logits") as caught:
        vae.fit(X)
    assert len([w for w in caught if "logits" in str(w.message)]) == 1
    assert "\\n" not in str(caught[0].message)


def test_a_decoder_of_logits_is_not():
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        aekit.VAE(2, likelihood="bernoulli", epochs=1, **networks()).fit(X)
        aekit.VAE(2, epochs=1, **networks(nn.Sigmoid())).fit(X)  # Gaussian: a mean
