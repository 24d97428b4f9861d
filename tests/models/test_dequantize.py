"""Densities of 8-bit data: uniform dequantisation and bits per dimension (issue 16, item 4)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from aekit import VAE
from aekit.cli.main import main
from aekit.data import dequantize
from aekit.errors import DataError
from aekit.runs.evaluation import bits_per_dim

LOG_256 = np.log(256)


def test_dequantize_adds_fixed_noise_within_each_values_bin():
    X = np.tile(np.arange(256, dtype=np.float32) / 255, (40, 1))
    Y = dequantize(X, seed=3)
    noise = Y - X
    assert noise.min() >= 0 and noise.max() < 1 / 256
    assert abs(noise.mean() - 1 / 512) < 1e-4  # uniform on [0, 1/256)
    np.testing.assert_array_equal(Y, dequantize(X, seed=3))
    # bins of neighbouring levels do not overlap: the level is recovered exactly
    np.testing.assert_array_equal(np.floor(Y * 255 + 1e-4), X * 255)


def test_bits_per_dim_counts_the_bins_width():
    D = 10
    # a uniform density on [0, 1]^D spreads over 256 bins per value: 8 bits each
    assert bits_per_dim(0.0, D) == pytest.approx(8.0)
    # a uniform density on one bin per value, (1/256)^-D: the values cost nothing
    assert bits_per_dim(D * LOG_256, D) == pytest.approx(0.0, abs=1e-12)


def test_the_model_trains_on_fresh_noise_each_batch():
    vae = VAE(2, likelihood="gaussian-learned", dequantize=True, hidden=(8,), epochs=1)
    vae.fit(np.zeros((20, 6), dtype=np.uint8))
    resample = vae.module_.resample
    x = torch.zeros(5000, 6)
    a, b = resample(x), resample(x)
    assert not torch.equal(a, b)
    assert 0 <= a.min() and a.max() < 1 / 256 and abs(a.mean().item() - 1 / 512) < 2e-5


def constant_image_bits(dequantize_training: bool) -> float:
    """Bits/dim on dequantised test data of a VAE trained on all-zero 8-bit data."""
    X = np.zeros((1000, 16), dtype=np.uint8)
    vae = VAE(
        2,
        likelihood="gaussian-learned",
        shared_variance=True,
        dequantize=dequantize_training,
        hidden=(16,),
        epochs=100,
        batch_size=50,
        lr=1e-2,
        random_state=0,
        device="cpu",
        n_threads=1,
    ).fit(X)
    ll = vae.log_likelihood(dequantize(X[:300] / 255.0, seed=2), n_samples=50, random_state=0)
    return bits_per_dim(float(ll.mean()), 16)


def test_dequantised_training_gives_an_honest_code_length():
    """All-zero data carry 0 bits. A density of their dequantisation cannot go below
    that (bits/dim ≥ 0) and here, trained on the noise, comes within 1 bit of it (the
    best Gaussian on a bin costs 0.25). Trained on the raw values, σ shrinks to its
    floor and the same evaluation costs about 2.5 bits/dim."""
    honest = constant_image_bits(True)
    assert 0.0 <= honest < 1.0, honest
    assert constant_image_bits(False) > honest + 1.0


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"likelihood": "bernoulli"}, ValueError),
        ({"likelihood": "gaussian", "binarize": "dynamic"}, ValueError),
        ({"likelihood": "gaussian", "scale": "standard"}, ValueError),
    ],
)
def test_dequantize_refuses_what_it_does_not_suit(params, error):
    X = np.random.default_rng(0).integers(0, 256, (30, 5)).astype(np.uint8)
    with pytest.raises(error, match="dequantize"):
        VAE(2, dequantize=True, hidden=(8,), epochs=1, **params).fit(X)


def test_dequantize_refuses_values_off_the_8bit_grid():
    X = np.random.default_rng(0).random((30, 5), dtype=np.float32)
    with pytest.raises(DataError, match="8-bit"):
        VAE(2, dequantize=True, hidden=(8,), epochs=1).fit(X)


def test_evaluate_reports_bits_per_dim_beside_nats(tmp_path, capsys):
    X = np.random.default_rng(0).integers(0, 256, (200, 12)).astype(np.uint8)
    np.save(tmp_path / "levels.npy", X)
    common = [
        "train",
        "vae",
        "--data",
        tmp_path / "levels.npy",
        "--likelihood",
        "gaussian-learned",
        "--epochs",
        "2",
        "--hidden",
        "16",
        "-d",
        "2",
        "--quiet",
    ]
    run = tmp_path / "dq"
    assert main([str(a) for a in [*common, "--dequantize", "--out", run]]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(run), "--nll-samples", "20"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    for nats, bits in (("log_likelihood_nats", "bits_per_dim"), ("elbo_nats", "elbo_bits_per_dim")):
        assert metrics[bits] == pytest.approx((-metrics[nats] + 12 * LOG_256) / (12 * np.log(2)))
    assert "dequantis" in metrics["bits_per_dim_note"]
    # the same data under a density without dequantisation: nats only, and why
    raw = tmp_path / "raw"
    assert main([str(a) for a in [*common, "--out", raw]]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert "bits_per_dim" not in metrics and "dequantize" in metrics["bits_per_dim_note"]
    # the Bernoulli likelihood is refused in one sentence, exit code 2
    code = main(
        [
            str(a)
            for a in [
                *common[:4],
                "--likelihood",
                "bernoulli",
                "--dequantize",
                "--out",
                tmp_path / "b",
            ]
        ]
    )
    assert code == 2 and "dequantize applies to the Gaussian" in capsys.readouterr().err
