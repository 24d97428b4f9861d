"""Your own encoder and decoder inside aekit's models."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

import aekit
from aekit.errors import RunFileError


def conv_encoder() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, stride=2, padding=1),
        nn.ReLU(),
    )  # (n, 16, 4, 4): 256 features, flattened by aekit  # fmt: skip


def conv_decoder(latent: int, channels_out: int = 1) -> nn.Module:
    return nn.Sequential(
        nn.Linear(latent, 16 * 4 * 4), nn.ReLU(), nn.Unflatten(1, (16, 4, 4)),
        nn.ConvTranspose2d(16, 8, 4, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(8, channels_out, 3, padding=1),
    )  # fmt: skip


@pytest.fixture(scope="module")
def digits():
    return (load_digits().images[:, None] / 16.0).astype(np.float32)


def test_a_user_conv_net_trains_and_round_trips(digits, tmp_path):
    torch.manual_seed(0)
    encoder, decoder = conv_encoder(), conv_decoder(8)
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    model = aekit.Autoencoder(8, encoder=encoder, decoder=decoder, epochs=40, random_state=0)
    model.fit(digits[:1500])
    assert all(torch.equal(v, encoder.state_dict()[k]) for k, v in before.items())  # copies
    assert model.module_.head.linear.in_features == 256  # built on the encoder's width
    test = digits[1500:]
    mean_image = ((test - digits[:1500].mean(0)) ** 2).mean()  # what no code at all gives
    assert model.reconstruction_error(test) < 0.4 * mean_image  # it learned
    model.save(tmp_path / "m")
    again = aekit.load(tmp_path / "m", encoder=conv_encoder(), decoder=conv_decoder(8))
    np.testing.assert_array_equal(again.transform(test), model.transform(test))
    with pytest.raises(RunFileError, match=r"your own networks.*aekit.load\(path, encoder="):
        aekit.load(tmp_path / "m")
    with pytest.raises(
        RunFileError, match="not hold a consistent Autoencoder: the decoder returned"
    ):
        aekit.load(tmp_path / "m", encoder=conv_encoder(), decoder=conv_decoder(8, 2))


def test_a_vae_with_user_networks(digits):
    encoder, decoder = conv_encoder(), conv_decoder(4)
    vae = aekit.VAE(4, encoder=encoder, decoder=decoder, epochs=5, random_state=0)
    vae.fit(digits[:500])
    assert vae.module_.head.mean.in_features == 256
    assert vae.score_samples(digits[:10]).shape == (10,)
    learned = aekit.VAE(4, likelihood="gaussian", shared_variance=False, sigma=0.1)
    assert learned.get_params()["encoder"] is None


@pytest.mark.parametrize(
    "encoder, decoder, message",
    [
        (conv_encoder(), None, "give both encoder and decoder"),
        (conv_encoder(), conv_decoder(3), r"the decoder failed on a batch of shape \(2, 4\)"),
        (conv_encoder(), nn.Linear(4, 10), r"returned shape \(2, 10\).*needs \(2, 1, 8, 8\)"),
        (nn.Linear(3, 3), conv_decoder(4), r"encoder failed on a batch of shape \(2, 1, 8, 8\)"),
        ("not a module", conv_decoder(4), "encoder must be a torch.nn.Module"),
    ],
)  # fmt: skip
def test_unfit_networks_get_one_sentence(digits, encoder, decoder, message):
    model = aekit.Autoencoder(4, encoder=encoder, decoder=decoder, epochs=1)
    with pytest.raises(ValueError, match=message):
        model.fit(digits[:20])


def test_loading_a_plain_model_with_modules_is_refused(digits, tmp_path):
    aekit.PCA(2).fit(digits[:50].reshape(50, -1)).save(tmp_path / "p")
    with pytest.raises(RunFileError, match="not trained with your own encoder"):
        aekit.load(tmp_path / "p", encoder=conv_encoder())
