"""The VampPrior (issue 29, item 1) against a direct mixture of the encoder's
Gaussians at the pseudo-inputs (torch.distributions), its start from training
examples, its save/load round trip and a short fit that samples through it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal

from aekit import VAE, load
from aekit.cli.main import main
from aekit.core.priors import VampPrior
from aekit.data import load_data
from aekit.runs.folder import open_run

SMALL = dict(likelihood="bernoulli", hidden=(32,), epochs=3, random_state=0, device="cpu")


@pytest.fixture(scope="module")
def digits():
    data = load_data("digits")
    return data.train.X.reshape(-1, 64), data.test.X.reshape(-1, 64)


@pytest.fixture(scope="module")
def vamp_vae(digits):
    X, _ = digits
    return VAE(3, prior="vamp", pseudo_inputs=20, **SMALL).fit(X)


def reference_mixture(vae: VAE) -> MixtureSameFamily:
    """The mean of the encoder's Gaussians at the pseudo-inputs, computed apart."""
    module = vae.module_
    with torch.no_grad():
        h = module.encoder(module.prior.pseudo_inputs)
        means, log_vars = module.head.mean(h), module.head.log_var(h)
    components = Independent(Normal(means, torch.exp(0.5 * log_vars)), 1)
    return MixtureSameFamily(Categorical(logits=torch.zeros(len(means))), components)


def test_vamp_log_prob_is_the_mixture_of_the_encoders_posteriors(vamp_vae):
    prior = vamp_vae.module_.prior
    assert isinstance(prior, VampPrior) and prior.pseudo_inputs.shape == (20, 64)
    z = torch.randn(7, 5, 3, generator=torch.Generator().manual_seed(0)) * 2
    with torch.no_grad():
        got = prior.log_prob(z)
    torch.testing.assert_close(got, reference_mixture(vamp_vae).log_prob(z), rtol=1e-5, atol=1e-5)


def test_vamp_pseudo_inputs_start_as_training_examples_and_are_learned(digits):
    X, _ = digits
    start = VAE(3, prior="vamp", pseudo_inputs=20, **{**SMALL, "epochs": 0}).fit(X)
    u = start.module_.prior.pseudo_inputs.detach().numpy()
    scaled = start._scaled(X).reshape(len(X), -1)  # the model's units (here: X itself)
    distances = ((u[:, None, :] - scaled[None]) ** 2).sum(-1)
    assert distances.min(1).max() == 0.0  # every pseudo-input is a training example
    assert len({tuple(row) for row in u}) == 20  # drawn without replacement
    trained = VAE(3, prior="vamp", pseudo_inputs=20, **SMALL).fit(X)
    assert not np.allclose(trained.module_.prior.pseudo_inputs.detach().numpy(), u)


def test_vamp_kl_is_monte_carlo_and_the_bounds_are_in_order(vamp_vae, digits):
    _, T = digits
    elbo = vamp_vae.log_likelihood(T[:100], n_samples=1, random_state=1)
    iwae = vamp_vae.log_likelihood(T[:100], n_samples=100, random_state=2)
    assert np.isfinite(elbo).all() and iwae.mean() > elbo.mean()
    # the one-sample KL of the ELBO averages to E_q[log q − log p] over many draws
    draws = [vamp_vae.elbo_parts(T[:50], random_state=s)["kl"] for s in range(5)]
    assert np.std(draws) > 0  # a Monte-Carlo estimate, not a closed form


def test_vamp_draws_come_from_the_pseudo_inputs_posteriors(vamp_vae):
    prior = vamp_vae.module_.prior
    z = prior.sample(20000, torch.Generator().manual_seed(0))
    expected = reference_mixture(vamp_vae)
    torch.testing.assert_close(z.mean(0), expected.mean, atol=0.05, rtol=0)
    torch.testing.assert_close(z.var(0), expected.variance, atol=0.05, rtol=0.05)
    images = vamp_vae.sample(4, random_state=1)
    assert images.shape == (4, 64) and np.isfinite(images).all()


def test_a_vamp_vae_saves_and_loads_to_the_same_prior_and_samples(vamp_vae, digits, tmp_path):
    _, T = digits
    vamp_vae.save(tmp_path / "m")
    again = load(tmp_path / "m")
    torch.testing.assert_close(
        again.module_.prior.pseudo_inputs, vamp_vae.module_.prior.pseudo_inputs
    )
    np.testing.assert_array_equal(
        again.sample(6, random_state=3), vamp_vae.sample(6, random_state=3)
    )
    np.testing.assert_array_equal(
        again.log_likelihood(T[:10], n_samples=20), vamp_vae.log_likelihood(T[:10], n_samples=20)
    )


def test_train_takes_prior_vamp_and_pseudo_inputs(tmp_path, capsys):
    run = tmp_path / "vamp"
    args = ["train", "vae", "--data", "digits", "--likelihood", "bernoulli", "-d", "2"]
    args += ["--hidden", "16", "--epochs", "1", "--prior", "vamp", "--pseudo-inputs", "7"]
    assert main([*args, "--quiet", "--out", str(run)]) == 0
    capsys.readouterr()
    model = open_run(str(run))[2]
    assert model.module_.prior.pseudo_inputs.shape[0] == 7
    assert main(["evaluate", str(run), "--nll-samples", "10"]) == 0
    assert main(["report", str(run)]) == 0  # its prior's draws and paths, named as such
    assert "a VampPrior" in (run / "report.html").read_text()


def test_vamp_refuses_free_bits():
    X = np.random.default_rng(0).random((40, 6), dtype=np.float32)
    with pytest.raises(ValueError, match="free_bits needs the per-dimension KL"):
        VAE(2, prior="vamp", free_bits=0.5, epochs=1).fit(X)
    with pytest.raises(ValueError, match="pseudo_inputs must be"):
        VAE(2, prior="vamp", pseudo_inputs=0, epochs=1).fit(X)
