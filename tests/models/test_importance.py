"""The importance-sampled log-likelihood's diagnostics (issue 29, item 3): the
estimate from the first K/10 samples beside the one at K, so that a reader sees how
far the lower bound still rises."""

from __future__ import annotations

import json

import numpy as np
import pytest

from aekit import VAE
from aekit.cli.main import main
from aekit.data import load_data


@pytest.fixture(scope="module")
def digits_vae():
    data = load_data("digits")
    X, T = data.train.X.reshape(-1, 64), data.test.X.reshape(-1, 64)
    vae = VAE(4, likelihood="bernoulli", hidden=(64,), epochs=15, random_state=0, device="cpu")
    return vae.fit(X), T


def test_the_bound_rises_from_a_tenth_of_the_samples_to_all_of_them(digits_vae):
    vae, T = digits_vae
    runs = [vae.importance_estimate(T, n_samples=20, random_state=s) for s in range(3)]
    rise = np.concatenate([e.log_p - e.log_p_tenth for e in runs])
    assert runs[0].tenth_samples == 2
    # Jensen: E log p̂_K rises with K; the mean rise stands well above its own noise
    # (0.12 nats from K = 2 to 20 on this model, 0.01 from 30 to 300)
    assert rise.mean() > 3 * rise.std(ddof=1) / np.sqrt(len(rise)), rise.mean()
    estimate = runs[0]
    rise = estimate.log_p - estimate.log_p_tenth
    metrics = estimate.metrics()
    assert metrics["log_likelihood_rise_nats"] == pytest.approx(rise.mean())
    assert metrics["log_likelihood_tenth_nats"] < metrics["log_likelihood_nats"]
    assert "lower bound" in metrics["log_likelihood_note"]


def test_the_tenth_is_the_estimate_from_the_first_tenth_of_the_same_samples(digits_vae):
    vae, T = digits_vae
    one_at_a_time = {"batch_size": 16, "max_elements": 64 * 16}  # one sample per chunk
    estimate = vae.importance_estimate(T[:16], n_samples=100, random_state=3, **one_at_a_time)
    tenth = vae.log_likelihood(T[:16], n_samples=10, random_state=3, **one_at_a_time)
    np.testing.assert_allclose(estimate.log_p_tenth, tenth, rtol=1e-12)
    whole = vae.log_likelihood(T[:16], n_samples=100, random_state=3, **one_at_a_time)
    np.testing.assert_array_equal(estimate.log_p, whole)


def test_evaluate_prints_the_estimate_at_a_tenth_of_k(tmp_path, capsys):
    run = tmp_path / "vae"
    train = ["train", "vae", "--data", "digits", "--likelihood", "bernoulli", "-d", "2"]
    train += ["--hidden", "16", "--epochs", "2", "--quiet", "--out", str(run)]
    assert main(train) == 0
    capsys.readouterr()
    assert main(["evaluate", str(run), "--nll-samples", "40"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["log_likelihood_tenth_samples"] == 4
    rise = metrics["log_likelihood_nats"] - metrics["log_likelihood_tenth_nats"]
    assert metrics["log_likelihood_rise_nats"] == pytest.approx(rise)
    assert "not an error bar" in metrics["log_likelihood_note"]
