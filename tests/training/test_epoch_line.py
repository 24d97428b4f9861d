"""The epoch lines: an autoencoder's progress shows in its MSE, and the VAE's
reconstruction term is named for what it is."""

from __future__ import annotations

import numpy as np

import aekit

X = np.random.default_rng(0).random((64, 6), dtype=np.float32)


def lines(model, capsys) -> list[str]:
    model.fit(X)
    return [line for line in capsys.readouterr().err.splitlines() if line.startswith("epoch")]


def test_an_autoencoder_shows_its_mse_first_and_names_its_nll(capsys):
    ae = aekit.Autoencoder(2, hidden=(8,), epochs=2, verbose=True, random_state=0)
    first, *_ = lines(ae, capsys)
    assert first.split("train: ")[1].startswith("mse ")
    assert "recon_nll" in first and " loss " not in first and " nll " not in first


def test_a_vae_names_the_terms_of_its_elbo(capsys):
    vae = aekit.VAE(2, hidden=(8,), epochs=2, verbose=True, random_state=0)
    first, *_ = lines(vae, capsys)
    for name in ("elbo", "recon_nll", "kl", "mse"):
        assert f" {name} " in first, name
    assert " loss " not in first  # with β = 1 the loss is −ELBO, shown once


def test_a_loss_that_is_none_of_the_terms_is_shown():
    from aekit.training.epoch_log import epoch_line

    record = {"epoch": 1, "train_loss": 5.0, "train_nll": 6.0, "train_kl": 1.0,
              "train_elbo": -7.0, "train_mse": 0.1, "seconds": 1.0}  # fmt: skip
    assert "loss 5" in epoch_line(record, 3)
