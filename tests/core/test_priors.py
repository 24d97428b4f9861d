"""The learned mixture prior against torch.distributions, the standard normal it
contains, and the VAE bounds (SPEC §1, VAE part)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal

from aekit import VAE
from aekit.core.gaussian import diagonal_log_density, diagonal_mixture_log_density
from aekit.core.priors import MixturePrior, StandardNormalPrior
from aekit.data import load_data


def reference_mixture(prior: MixturePrior) -> MixtureSameFamily:
    components = Independent(Normal(prior.means, torch.exp(0.5 * prior.log_vars)), 1)
    return MixtureSameFamily(Categorical(logits=prior.logits), components)


def test_mixture_log_prob_is_torch_distributions():
    torch.manual_seed(0)
    prior = MixturePrior(latent_dim=3, n_components=4)
    with torch.no_grad():
        prior.log_vars.normal_(0.0, 0.5)
        prior.logits.normal_()
    z = torch.randn(7, 5, 3) * 2
    expected = reference_mixture(prior).log_prob(z)
    torch.testing.assert_close(prior.log_prob(z), expected, rtol=1e-5, atol=1e-5)


def test_mixture_draws_follow_weights_means_and_temperature():
    prior = MixturePrior(latent_dim=1, n_components=2)
    with torch.no_grad():
        prior.means.copy_(torch.tensor([[-10.0], [10.0]]))
        prior.log_vars.copy_(torch.log(torch.tensor([[1.0], [4.0]])))
        prior.logits.copy_(torch.log(torch.tensor([0.25, 0.75])))
    z = prior.sample(100_000, torch.Generator().manual_seed(0))[:, 0]
    left, right = z[z < 0], z[z > 0]
    assert len(left) / len(z) == pytest.approx(0.25, abs=0.01)
    assert float(left.std()) == pytest.approx(1.0, abs=0.03)
    assert float(right.std()) == pytest.approx(2.0, abs=0.03)
    cold = prior.sample(100_000, torch.Generator().manual_seed(0), temperature=0.5)[:, 0]
    assert float(cold[cold > 0].std()) == pytest.approx(1.0, abs=0.03)
    assert float(cold[cold > 0].mean()) == pytest.approx(10.0, abs=0.02)


def test_a_one_component_standard_mixture_is_the_standard_normal():
    prior = MixturePrior(latent_dim=3, n_components=1)
    with torch.no_grad():
        prior.means.zero_()
    z = torch.randn(50, 3)
    torch.testing.assert_close(prior.log_prob(z), StandardNormalPrior(3).log_prob(z))


def digits():
    data = load_data("digits")
    return data.train.X.reshape(-1, 64), data.test.X.reshape(-1, 64)


SMALL = dict(likelihood="bernoulli", hidden=(64,), epochs=15, random_state=0, device="cpu")


def test_monte_carlo_kl_of_a_standard_mixture_is_the_closed_form_kl():
    X, T = digits()
    standard = VAE(4, **SMALL).fit(X)
    mixture = VAE(4, prior="mixture", prior_components=1, **{**SMALL, "epochs": 0}).fit(X)
    state = {k: v for k, v in standard.module_.state_dict().items()}
    mixture.module_.load_state_dict({**mixture.module_.state_dict(), **state})
    with torch.no_grad():
        mixture.module_.prior.means.zero_()
        mixture.module_.prior.log_vars.zero_()
    # the same networks and, in effect, the same prior: the one-sample KL is an
    # unbiased estimate of the closed form, and log p(x) is the same estimator
    draws = [mixture.elbo_parts(T, random_state=s)["kl"] for s in range(20)]
    closed = standard.elbo_parts(T)["kl"]
    assert np.mean(draws) == pytest.approx(closed, abs=4 * np.std(draws) / np.sqrt(20) + 1e-3)
    np.testing.assert_allclose(
        mixture.log_likelihood(T[:50], n_samples=100, random_state=1),
        standard.log_likelihood(T[:50], n_samples=100, random_state=1),
        rtol=1e-5,
    )


def test_mixture_prior_vae_trains_its_prior_bounds_in_order_and_round_trips(tmp_path):
    X, T = digits()
    vae = VAE(4, prior="mixture", prior_components=5, **SMALL)
    initial = MixturePrior(4, 5)
    vae.fit(X)
    prior = vae.module_.prior
    assert prior.means.shape == (5, 4)
    assert not torch.allclose(prior.logits, initial.logits)  # the weights were learned
    elbo = vae.log_likelihood(T, n_samples=1, random_state=1)
    iwae = vae.log_likelihood(T, n_samples=200, random_state=2)
    margin = 3 * np.std(iwae - elbo, ddof=1) / np.sqrt(len(T))
    assert iwae.mean() > elbo.mean() + margin
    # prior samples come from the learned mixture, not N(0, I)
    z = prior.sample(4000, torch.Generator().manual_seed(0))
    with torch.no_grad():
        centre = torch.softmax(prior.logits, 0) @ prior.means
    torch.testing.assert_close(z.mean(0), centre, atol=0.15, rtol=0)
    vae.save(tmp_path / "m")
    from aekit import load

    again = load(tmp_path / "m")
    np.testing.assert_array_equal(again.sample(6, random_state=3), vae.sample(6, random_state=3))


def test_mixture_prior_parameters_are_checked():
    X = np.random.default_rng(0).random((40, 6), dtype=np.float32)
    with pytest.raises(ValueError, match="prior must be one of 'standard', 'mixture', 'vamp'"):
        VAE(2, prior="flat", epochs=1).fit(X)
    with pytest.raises(ValueError, match="prior_components must be"):
        VAE(2, prior="mixture", prior_components=0, epochs=1).fit(X)
    with pytest.raises(ValueError, match="free_bits needs the per-dimension KL"):
        VAE(2, prior="mixture", free_bits=0.5, epochs=1).fit(X)


def test_the_mixture_density_by_matrix_products_matches_the_direct_one_far_from_zero():
    # codes far from the origin with narrow components: the expanded squares must not
    # cancel away the distances (the terms are centred first)
    gen = torch.Generator().manual_seed(0)
    means = 40 + torch.randn(50, 16, generator=gen)
    log_vars = torch.full((50, 16), -6.0) + torch.randn(50, 16, generator=gen)
    z = means[:8] + 0.01 * torch.randn(8, 16, generator=gen)
    direct = diagonal_log_density(z.unsqueeze(-2).double(), means.double(), log_vars.double())
    fast = diagonal_mixture_log_density(z, means, log_vars)
    torch.testing.assert_close(fast.double(), direct.sum(-1), rtol=1e-5, atol=0.05)
    assert fast.diagonal().min() > 20  # each code under its own component: high density
