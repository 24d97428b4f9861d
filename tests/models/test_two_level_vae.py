"""The two-level VAE (issue 29, item 2): its ELBO and IWAE bound against a
computation written out by hand, its importance-sampled log p(x) against the exact
marginal likelihood of a linear-Gaussian hierarchy, and a fitted model that saves,
loads, samples, interpolates and trains from the command line."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.distributions import Bernoulli, Normal

from aekit import VAE, load
from aekit.cli.main import main
from aekit.core.hierarchy import TwoLevelPrior
from aekit.core.priors import MixturePrior, VampPrior
from aekit.data import load_data
from aekit.runs.folder import open_run

TINY = dict(levels=2, hidden=(), epochs=0, start="random", random_state=0, device="cpu")


def tiny_bernoulli_vae() -> VAE:
    """3 binary values, z1 of 2 dimensions, z2 of 1, with seeded fixed weights."""
    X = (np.random.default_rng(0).random((8, 3)) > 0.5).astype(np.float32)
    return VAE(2, likelihood="bernoulli", **TINY).fit(X)


def gaussian(layer, v):
    """A GaussianLayer computed by hand: tanh layers, then mean and log-variance."""
    h = v
    for linear in layer.body[::2]:
        h = torch.tanh(h @ linear.weight.T + linear.bias)
    head = layer.head
    mean = h @ head.mean.weight.T + head.mean.bias
    return Normal(mean, torch.exp(0.5 * (h @ head.log_var.weight.T + head.log_var.bias)))


def hand_log_weight(module, x, eps1, eps2):
    """``log p(x|z1) + log p(z1|z2) + log p(z2) − log q(z1|x) − log q(z2|z1)`` at the
    reparametrised ``z1 = μ1 + σ1 ε1``, ``z2 = μ2(z1) + σ2(z1) ε2``, from the weights."""
    head = module.head
    q1 = Normal(x @ head.mean.weight.T + head.mean.bias,
                torch.exp(0.5 * (x @ head.log_var.weight.T + head.log_var.bias)))  # fmt: skip
    z1 = q1.loc + q1.scale * eps1
    q2 = gaussian(module.prior.inference, z1)
    z2 = q2.loc + q2.scale * eps2
    p1 = gaussian(module.prior.conditional, z2)
    logits = z1 @ module.decoder.out.weight.T + module.decoder.out.bias
    log_px = Bernoulli(logits=logits).log_prob(x).sum(-1)
    log_joint = log_px + p1.log_prob(z1).sum(-1) + Normal(0.0, 1.0).log_prob(z2).sum(-1)
    return log_joint - q1.log_prob(z1).sum(-1) - q2.log_prob(z2).sum(-1)


def test_two_level_elbo_matches_a_hand_written_one():
    vae = tiny_bernoulli_vae()
    module = vae.module_.eval()
    assert isinstance(module.prior, TwoLevelPrior) and module.code_draws == 3
    x = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0], [1.0, 1.0, 1.0]])
    with torch.no_grad():
        # the ELBO of the training loop: z1's draws, then z2's, from torch's generator
        torch.manual_seed(5)
        parts = module(x)
        torch.manual_seed(5)
        eps1, eps2 = torch.randn(3, 2), torch.randn(3, 1)
        expected = hand_log_weight(module, x, eps1, eps2)
        torch.testing.assert_close(parts["elbo"], expected.mean(), rtol=1e-5, atol=1e-5)
        # the per-example ELBO of score_samples: common draws for every example
        eps = torch.tensor([0.3, -1.2, 0.8])
        _, elbo = module.elbo(x, eps)
        expected = hand_log_weight(module, x, eps[:2], eps[2:])
        torch.testing.assert_close(elbo, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        vae.score_samples(x.numpy()), vae.score_samples(x.numpy()[::-1])[::-1]
    )


def test_two_level_iwae_bound_matches_a_hand_written_one():
    vae = tiny_bernoulli_vae()
    vae.module_.objective, vae.module_.iwae_k = "iwae", 4
    module = vae.module_.eval()
    x = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    with torch.no_grad():
        torch.manual_seed(7)
        loss = module(x)["loss"]
        torch.manual_seed(7)
        eps1, eps2 = torch.randn(4, 2, 2), torch.randn(4, 2, 1)  # (k, n, d)
        log_w = hand_log_weight(module, x, eps1, eps2)
    expected = -(torch.logsumexp(log_w, 0) - math.log(4)).mean()
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-5)


def set_linear(layer, weight, bias):
    with torch.no_grad():
        layer.weight.copy_(torch.as_tensor(weight, dtype=torch.float32))
        layer.bias.copy_(torch.as_tensor(bias, dtype=torch.float32))


def set_variance(layer, variance):
    """A log-variance layer that does not depend on its input."""
    set_linear(layer, np.zeros(layer.weight.shape), np.log(variance))


def test_linear_gaussian_two_level_log_likelihood_matches_the_exact_marginal():
    """x = W1 z1 + b + N(0, σ² I), z1 = W2 z2 + c + N(0, diag s²), z2 ~ N(0, I): x is
    Gaussian, N(W1 c + b, W1 (W2 W2ᵀ + diag s²) W1ᵀ + σ² I). The proposals are the
    exact posteriors' diagonals, widened, so the importance sampling has work to do."""
    rng = np.random.default_rng(1)
    D, d1, d2, sigma = 4, 2, 1, 0.5
    W1, b = rng.normal(size=(D, d1)), rng.normal(size=D)
    W2, c, s2 = rng.normal(size=(d1, d2)), rng.normal(size=d1), np.array([0.3, 0.6])
    cov1 = W2 @ W2.T + np.diag(s2)
    mean_x, cov_x = W1 @ c + b, W1 @ cov1 @ W1.T + sigma**2 * np.eye(D)
    X = rng.multivariate_normal(mean_x, cov_x, size=20).astype(np.float32)
    # exact p(z1 | x): precision W1ᵀW1/σ² + cov1⁻¹, mean linear in x
    post_cov = np.linalg.inv(W1.T @ W1 / sigma**2 + np.linalg.inv(cov1))
    A = post_cov @ W1.T / sigma**2
    a = post_cov @ (np.linalg.inv(cov1) @ c - W1.T @ b / sigma**2)
    # exact p(z2 | z1) (x adds nothing given z1): precision 1 + W2ᵀ diag(s²)⁻¹ W2
    prec2 = 1 + W2.T @ np.diag(1 / s2) @ W2
    B = np.linalg.solve(prec2, W2.T @ np.diag(1 / s2))

    vae = VAE(d1, likelihood="gaussian", sigma=sigma, scale="none", **TINY).fit(X)
    module = vae.module_
    module.prior = TwoLevelPrior(d1, d2, hidden=())
    set_linear(module.decoder.out, W1, b)
    set_linear(module.head.mean, A, a)
    set_variance(module.head.log_var, 1.5 * np.diag(post_cov))
    set_linear(module.prior.conditional.head.mean, W2, c)
    set_variance(module.prior.conditional.head.log_var, s2)
    set_linear(module.prior.inference.head.mean, B, -B @ c)
    set_variance(module.prior.inference.head.log_var, 1.5 / prec2[0])

    diff = X - mean_x
    maha = np.einsum("ni,ij,nj->n", diff, np.linalg.inv(cov_x), diff)
    exact = -0.5 * (D * np.log(2 * np.pi) + np.linalg.slogdet(cov_x)[1] + maha)
    estimate = vae.log_likelihood(X, n_samples=20000, random_state=0)
    assert np.abs(estimate - exact).max() < 0.05, np.abs(estimate - exact).max()
    elbo = vae.log_likelihood(np.repeat(X, 100, 0), n_samples=1).reshape(20, 100).mean(1)
    assert (exact - elbo).mean() > 0.1  # the ELBO's gap (about 0.14), which K = 20000 closed


@pytest.fixture(scope="module")
def digits():
    data = load_data("digits")
    return data.train.X.reshape(-1, 64), data.test.X.reshape(-1, 64)


@pytest.fixture(scope="module")
def two_level(digits):
    X, _ = digits
    small = dict(likelihood="bernoulli", hidden=(32,), epochs=3, random_state=0, device="cpu")
    return VAE(4, levels=2, **small).fit(X)


def test_a_two_level_vae_trains_and_its_bounds_are_in_order(two_level, digits):
    _, T = digits
    elbo = two_level.log_likelihood(T[:100], n_samples=1, random_state=1)
    iwae = two_level.log_likelihood(T[:100], n_samples=200, random_state=2)
    assert np.isfinite(elbo).all() and iwae.mean() > elbo.mean()
    X, _ = digits
    iwae_fit = VAE(4, levels=2, objective="iwae", k=3, likelihood="bernoulli", hidden=(32,),
                   epochs=2, random_state=0, device="cpu").fit(X)  # fmt: skip
    assert np.isfinite(iwae_fit.score(T[:50]))


def test_a_two_level_vae_saves_loads_and_samples(two_level, digits, tmp_path):
    _, T = digits
    two_level.save(tmp_path / "m")
    again = load(tmp_path / "m")
    assert isinstance(again.module_.prior, TwoLevelPrior) and again.levels == 2
    np.testing.assert_array_equal(
        again.sample(6, random_state=3), two_level.sample(6, random_state=3)
    )
    np.testing.assert_array_equal(
        again.log_likelihood(T[:10], n_samples=20), two_level.log_likelihood(T[:10], n_samples=20)
    )
    images = two_level.sample(5, random_state=1)
    assert images.shape == (5, 64) and np.isfinite(images).all()
    strips = two_level.interpolate_prior(2, 4, random_state=0)
    assert np.isfinite(np.asarray(strips)).all()


def test_sampling_draws_z1_from_the_hierarchy(two_level):
    prior = two_level.module_.prior
    z1 = prior.sample(20000, torch.Generator().manual_seed(0))
    # the same two-step draw written out: z2 ~ N(0, I), z1 ~ p(z1 | z2)
    gen = torch.Generator().manual_seed(0)
    z2 = torch.randn(20000, prior.top_dim, generator=gen)
    with torch.no_grad():
        p1 = prior.conditional(z2)
    eps = torch.randn(20000, prior.latent_dim, generator=gen)
    torch.testing.assert_close(z1, p1.mean + torch.exp(0.5 * p1.log_var) * eps)


def test_train_takes_levels_2_and_evaluates_and_reports(tmp_path, capsys):
    run = tmp_path / "two"
    args = ["train", "vae", "--data", "digits", "--likelihood", "bernoulli", "-d", "2"]
    args += ["--hidden", "16", "--epochs", "1", "--levels", "2"]
    assert main([*args, "--quiet", "--out", str(run)]) == 0
    capsys.readouterr()
    model = open_run(str(run))[2]
    assert isinstance(model.module_.prior, TwoLevelPrior)
    assert main(["evaluate", str(run), "--nll-samples", "10"]) == 0
    assert main(["report", str(run)]) == 0
    assert "two-level hierarchy" in (run / "report.html").read_text()


@pytest.fixture(scope="module")
def vamp_top(digits):
    X, _ = digits
    small = dict(likelihood="bernoulli", hidden=(32,), epochs=2, random_state=0, device="cpu")
    return VAE(4, levels=2, prior="vamp", pseudo_inputs=12, **small).fit(X)


def test_a_vamp_prior_over_z2_is_the_mean_of_q_z2_at_the_pseudo_inputs(vamp_top):
    prior = vamp_top.module_.prior
    assert isinstance(prior.top, VampPrior) and "VampPrior" in prior.description
    u = prior.top.pseudo_inputs.detach()
    z2 = torch.randn(7, prior.top_dim, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        q1 = vamp_top.module_.encode(u)  # by hand: q(z2 | u_k) through q(z1 | u_k)'s mean
        q2 = gaussian(prior.inference, q1.mean)
        by_hand = q2.log_prob(z2.unsqueeze(1)).sum(-1).logsumexp(-1) - math.log(len(u))
        torch.testing.assert_close(prior.top.log_prob(z2), by_hand, rtol=1e-4, atol=1e-4)


def test_a_two_level_vae_with_a_vamp_or_mixture_top_trains_saves_and_loads(
    vamp_top, digits, tmp_path
):
    X, T = digits
    elbo = vamp_top.log_likelihood(T[:100], n_samples=1, random_state=1)
    iwae = vamp_top.log_likelihood(T[:100], n_samples=100, random_state=2)
    assert np.isfinite(elbo).all() and iwae.mean() > elbo.mean()
    before = vamp_top.module_.prior.top.pseudo_inputs.detach().numpy()
    assert not np.isin(before.round(6), X.round(6)).all(axis=1).any()  # learned, moved
    vamp_top.save(tmp_path / "m")
    again = load(tmp_path / "m")
    np.testing.assert_array_equal(
        again.sample(6, random_state=3), vamp_top.sample(6, random_state=3)
    )
    np.testing.assert_array_equal(
        again.log_likelihood(T[:10], n_samples=20), vamp_top.log_likelihood(T[:10], n_samples=20)
    )
    mixture = VAE(4, levels=2, prior="mixture", prior_components=3, likelihood="bernoulli",
                  hidden=(32,), epochs=1, random_state=0, device="cpu").fit(X)  # fmt: skip
    assert isinstance(mixture.module_.prior.top, MixturePrior)
    assert np.isfinite(mixture.score(T[:50])) and mixture.sample(3).shape == (3, 64)


def test_train_takes_levels_2_with_prior_vamp(tmp_path, capsys):
    run = tmp_path / "two"
    args = ["train", "vae", "--data", "digits", "--likelihood", "bernoulli", "-d", "2"]
    args += ["--hidden", "16", "--epochs", "1", "--levels", "2", "--prior", "vamp"]
    assert main([*args, "--pseudo-inputs", "5", "--quiet", "--out", str(run)]) == 0
    capsys.readouterr()
    prior = open_run(str(run))[2].module_.prior
    assert isinstance(prior.top, VampPrior) and prior.top.pseudo_inputs.shape[0] == 5


def test_two_levels_refuse_free_bits():
    X = np.random.default_rng(0).random((40, 6), dtype=np.float32)
    with pytest.raises(ValueError, match="free_bits needs"):
        VAE(2, levels=2, free_bits=0.5, epochs=1).fit(X)
    with pytest.raises(ValueError, match="levels must be"):
        VAE(2, levels=3, epochs=1).fit(X)
