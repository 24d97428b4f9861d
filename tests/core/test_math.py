"""The formulas against independent computations: torch.distributions, Monte Carlo,
closed forms."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Bernoulli, Independent, Normal, kl_divergence

from aekit.core.heads import CodeDistribution, standard_normal_log_prob
from aekit.core.likelihoods import (
    GaussianFixed,
    GaussianLearned,
    gaussian_log_prob,
    make_likelihood,
)


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(0)


def test_closed_form_kl_equals_torch_distributions(gen):
    mean = torch.randn(7, 5, generator=gen)
    log_var = torch.randn(7, 5, generator=gen)
    q = CodeDistribution(mean, log_var)
    ours = q.kl_to_standard_normal().sum(-1)
    ref = kl_divergence(
        Independent(Normal(mean, torch.exp(0.5 * log_var)), 1),
        Independent(Normal(torch.zeros(5), torch.ones(5)), 1),
    )
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-6)


def test_closed_form_kl_agrees_with_monte_carlo(gen):
    mean = torch.tensor([[0.5, -1.0, 2.0]])
    log_var = torch.tensor([[-1.0, 0.3, 0.0]])
    q = CodeDistribution(mean, log_var)
    torch.manual_seed(1)
    z = q.rsample(200_000)  # (K, 1, d)
    samples = (q.log_prob(z) - standard_normal_log_prob(z))[:, 0]
    estimate = samples.mean()
    stderr = samples.std() / math.sqrt(len(samples))
    exact = q.kl_to_standard_normal().sum()
    assert abs(estimate - exact) < 4 * stderr


def test_code_log_prob_equals_torch(gen):
    mean, log_var = torch.randn(4, 3, generator=gen), torch.randn(4, 3, generator=gen)
    z = torch.randn(4, 3, generator=gen)
    ref = Independent(Normal(mean, torch.exp(0.5 * log_var)), 1).log_prob(z)
    torch.testing.assert_close(CodeDistribution(mean, log_var).log_prob(z), ref)
    torch.testing.assert_close(
        standard_normal_log_prob(z), Independent(Normal(0.0, torch.ones(3)), 1).log_prob(z)
    )


@pytest.mark.parametrize("sigma", [1.0, 0.3, 2.5])
def test_fixed_gaussian_log_density_includes_every_constant(gen, sigma):
    x, mu = torch.rand(6, 1, 4, 4, generator=gen), torch.rand(6, 1, 4, 4, generator=gen)
    ours = GaussianFixed(sigma).log_prob(mu, x)
    ref = Normal(mu, sigma).log_prob(x).flatten(1).sum(-1)
    torch.testing.assert_close(ours, ref)
    if sigma == 1.0:  # the notes' case: ½‖x − μ‖² + (D/2) log 2π
        D = 16
        expected = -(0.5 * ((x - mu) ** 2).flatten(1).sum(-1) + D / 2 * math.log(2 * math.pi))
        torch.testing.assert_close(ours, expected)


def test_learned_gaussian_per_value_and_shared(gen):
    x = torch.rand(5, 8, generator=gen)
    params = torch.randn(5, 16, generator=gen)
    lik = GaussianLearned(shared=False)
    mean, raw = params.chunk(2, dim=1)
    _, log_var = lik.split(params)
    ref = Normal(mean, torch.exp(0.5 * log_var)).log_prob(x).sum(-1)
    torch.testing.assert_close(lik.log_prob(params, x), ref)
    shared = GaussianLearned(shared=True)
    with torch.no_grad():
        shared.raw_log_var.fill_(math.log(0.04))
    _, lv = shared.split(mean)
    torch.testing.assert_close(
        shared.log_prob(mean, x), Normal(mean, torch.exp(0.5 * lv)).log_prob(x).sum(-1)
    )


def test_learned_variance_is_bounded_below():
    lik = GaussianLearned(shared=False, min_sigma=1e-3)
    params = torch.cat([torch.zeros(1, 4), torch.full((1, 4), -1e4)], dim=1)
    _, log_var = lik.split(params)
    assert torch.all(log_var >= 2 * math.log(1e-3) - 1e-6)
    x = torch.zeros(1, 4)
    # an exact reconstruction cannot make the density infinite
    assert torch.isfinite(lik.log_prob(params, x)).all()


def test_bernoulli_log_density_equals_torch(gen):
    logits = torch.randn(6, 10, generator=gen) * 3
    x = torch.bernoulli(torch.full((6, 10), 0.4), generator=gen)
    ours = make_likelihood("bernoulli").log_prob(logits, x)
    torch.testing.assert_close(ours, Bernoulli(logits=logits).log_prob(x).sum(-1))


def test_gaussian_log_prob_has_minus_sign_on_quadratic_term():
    # the notes drop the sign in one line: the density must fall away from the mean
    x = torch.tensor([[0.0]])
    near = gaussian_log_prob(x, torch.tensor([[0.1]]), torch.zeros(1, 1))
    far = gaussian_log_prob(x, torch.tensor([[2.0]]), torch.zeros(1, 1))
    assert near > far


def test_reparametrised_gradient_matches_closed_form():
    # f(z) = ‖z − c‖²; E_q f = ‖μ − c‖² + Σ v²; ∂/∂μ = 2(μ − c), ∂/∂log v² = v²
    torch.manual_seed(0)
    mean = torch.tensor([[0.3, -0.7]], requires_grad=True)
    log_var = torch.tensor([[-0.5, 0.4]], requires_grad=True)
    c = torch.tensor([1.0, 2.0])
    z = CodeDistribution(mean, log_var).rsample(400_000)
    ((z - c) ** 2).sum(-1).mean().backward()
    torch.testing.assert_close(mean.grad, 2 * (mean.detach() - c), rtol=0, atol=0.01)
    torch.testing.assert_close(log_var.grad, torch.exp(log_var.detach()), rtol=0, atol=0.01)
