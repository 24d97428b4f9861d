"""The VAE's bounds and log-likelihoods against theory (SPEC §1, VAE part)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.stats import multivariate_normal

from aekit import PCA, VAE
from aekit.data import load_data


@pytest.fixture(scope="module")
def digits_vae():
    X = load_data("digits").train.X.reshape(-1, 64)
    T = load_data("digits").test.X.reshape(-1, 64)
    vae = VAE(4, likelihood="bernoulli", hidden=(64,), epochs=15, random_state=0, device="cpu")
    return vae.fit(X), T


def paired_margin(a: np.ndarray, b: np.ndarray) -> float:
    """Three standard errors of the mean of the paired difference ``a - b``."""
    return 3 * float(np.std(a - b, ddof=1) / np.sqrt(len(a)))


def test_elbo_below_iwae10_below_iwae1000(digits_vae):
    vae, T = digits_vae
    elbo = vae.log_likelihood(T, n_samples=1, random_state=1)  # K = 1 is the ELBO
    iwae10 = vae.log_likelihood(T, n_samples=10, random_state=2)
    iwae1000 = vae.log_likelihood(T, n_samples=1000, random_state=3)
    # the bound tightens with K: beyond Monte-Carlo error from 1 to 10 and to 1000
    assert iwae10.mean() > elbo.mean() + paired_margin(iwae10, elbo)
    assert iwae1000.mean() > elbo.mean() + paired_margin(iwae1000, elbo)
    # from 10 to 1000 the gain is small for a good encoder: no decrease beyond MC error
    assert iwae1000.mean() > iwae10.mean() - paired_margin(iwae1000, iwae10)
    # score() is the ELBO with the closed-form KL: same expectation as K = 1
    assert abs(vae.score(T) - elbo.mean()) < paired_margin(elbo, 0 * elbo) + 0.5


def test_log_likelihood_is_chunked_without_changing_the_estimate(digits_vae):
    vae, T = digits_vae
    whole = vae.log_likelihood(T[:20], n_samples=300, random_state=0)
    # tiny chunks over examples and over K: same estimator, other random draws
    chunked = vae.log_likelihood(T[:20], n_samples=300, random_state=0, max_elements=64 * 7)
    assert whole.shape == chunked.shape == (20,)
    assert abs(whole.mean() - chunked.mean()) < 0.5
    again = vae.log_likelihood(T[:20], n_samples=300, random_state=0, max_elements=64 * 7)
    np.testing.assert_array_equal(chunked, again)  # seeded: repeatable


def planted_gaussian(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draws of x = W z + mu + 0.3 e in 8 dimensions with a 2-D latent: a known density."""
    rng = np.random.default_rng(0)
    W = rng.normal(size=(8, 2)) * [2.0, 1.0]
    mu = rng.normal(size=8)
    cov = W @ W.T + 0.09 * np.eye(8)
    X = np.random.default_rng(seed).multivariate_normal(mu, cov, size=n)
    return X.astype(np.float32), mu, cov


def test_linear_vae_reaches_the_probabilistic_pca_likelihood():
    X, _, _ = planted_gaussian(3000, seed=1)
    ppca = PCA(2).fit(X).score(X)
    vae = VAE(
        2,
        architecture="linear",
        likelihood="gaussian-learned",
        shared_variance=True,
        epochs=600,  # 0.0007 nats from PPCA at 600 (8.7 s); 150 epochs left 0.1-0.5
        batch_size=256,
        lr=1e-2,
        lr_schedule="cosine",
        scale="none",  # PPCA's noise is isotropic in the data's own units, not scaled ones
        random_state=0,
        device="cpu",
    ).fit(X)
    ll = vae.log_likelihood(X, n_samples=200, random_state=0).mean()
    assert abs(ll - ppca) < 0.05, (ll, ppca)
    # a linear Gaussian VAE has an exact posterior family: its ELBO nearly closes the gap
    assert abs(vae.score(X) - ppca) < 0.05


def test_reported_log_likelihood_is_never_better_than_the_true_density():
    X, mu, cov = planted_gaussian(3000, seed=1)
    T, _, _ = planted_gaussian(1000, seed=2)
    truth = multivariate_normal(mu, cov).logpdf(T)
    vae = VAE(
        2,
        likelihood="gaussian-learned",
        hidden=(32,),
        epochs=60,
        lr=3e-3,
        random_state=0,
        device="cpu",
    ).fit(X)
    ll = vae.log_likelihood(T, n_samples=500, random_state=0)
    # a too-good number (a lost constant, a collapsed variance) would break this
    assert ll.mean() <= truth.mean() + paired_margin(ll, truth), (ll.mean(), truth.mean())
    # and the model is not trivially bad: within a few nats of the truth
    assert ll.mean() > truth.mean() - 3.0, (ll.mean(), truth.mean())


def test_every_objective_reports_the_same_parts_and_a_iwae_model_evaluates():
    """The IWAE objective's parts are the ELBO's, with the IWAE bound as the loss."""
    X = load_data("digits").train.X.reshape(-1, 64)[:400]
    common = dict(likelihood="bernoulli", hidden=(32,), epochs=2, random_state=0, device="cpu")
    elbo = VAE(4, **common).fit(X)
    iwae = VAE(4, objective="iwae", k=8, **common).fit(X)
    assert elbo.history_[0].keys() == iwae.history_[0].keys()
    iwae.module_.eval()
    parts = iwae.module_(torch.from_numpy(X[:200]))
    assert set(parts) == {"loss", "nll", "mse", "kl", "elbo"}
    # the IWAE bound (−loss) is at least the ELBO of the same samples
    assert -parts["loss"] >= parts["elbo"] - 1e-4
    assert np.isfinite(iwae.score(X)) and set(iwae.elbo_parts(X)) == {
        "elbo",
        "reconstruction",
        "kl",
    }


def test_evaluate_says_what_score_measures_and_flags_bernoulli_on_grey_levels():
    from aekit.runs.evaluation import evaluate

    data = load_data("digits")
    vae = VAE(2, likelihood="bernoulli", hidden=(16,), epochs=1, random_state=0).fit(data.train.X)
    grey = evaluate(vae, data)
    assert grey["score_measures"].startswith("ELBO") and "not log-probabilities" in grey["note"]
    assert "note" not in evaluate(vae, data, binarized=True)
    assert evaluate(PCA(2).fit(data.train.X), data)["score_measures"].startswith("prob")


@pytest.mark.parametrize("grey", [False, True])
def test_bernoulli_log_prob_of_k_samples_equals_the_per_value_sum(grey):
    """The fast path (one matrix-vector product per example) is the same function as
    the binary cross-entropy summed over values, for binary and grey-level x."""
    from aekit.core.likelihoods import Bernoulli

    g = torch.Generator().manual_seed(0)
    k, n, d = 7, 5, 30
    logits = torch.randn(k * n, d, generator=g, dtype=torch.float64) * 6
    x = torch.rand(n, d, generator=g, dtype=torch.float64)
    x = x if grey else (x < 0.3).double()
    fast = Bernoulli().log_prob_samples(logits, x, k)
    p = torch.sigmoid(logits).view(k, n, d)
    slow = (x * torch.log(p) + (1 - x) * torch.log1p(-p)).sum(-1)
    torch.testing.assert_close(fast, slow, rtol=1e-9, atol=1e-9)


def test_bernoulli_log_prob_of_k_samples_is_exact_for_very_negative_logits():
    """A trained MNIST decoder gives the border pixels logits of −50 to −260; the fast
    path clamps them before softplus, which must not move log p beyond 1e-8 nats."""
    from aekit.core.likelihoods import Bernoulli

    g = torch.Generator().manual_seed(1)
    k, n, d = 4, 3, 784
    logits = torch.randn(k * n, d, generator=g, dtype=torch.float64) * 60 - 30
    x = (torch.rand(n, d, generator=g, dtype=torch.float64) < 0.2).double()
    fast = Bernoulli().log_prob_samples(logits, x, k)
    exact = (x * logits.view(k, n, d) - F.softplus(logits.view(k, n, d))).sum(-1)
    torch.testing.assert_close(fast, exact, rtol=0, atol=1e-8)


def test_log_likelihood_agrees_with_an_independent_importance_sampler(digits_vae):
    """log p(x) against the IWAE estimate written from scratch in numpy from the
    model's encoder and decoder outputs: equal within Monte-Carlo error."""
    vae, T = digits_vae
    x = T[:40].astype(np.float64)
    ours = vae.log_likelihood(x, n_samples=2000, random_state=5)
    m = vae.module_
    with torch.no_grad():
        q = m.encode(torch.as_tensor(x, dtype=torch.float32))
        mu, log_var = q.mean.double().numpy(), q.log_var.double().numpy()
        rng = np.random.default_rng(11)
        ref = np.empty(len(x))
        for i in range(len(x)):
            z = mu[i] + np.exp(0.5 * log_var[i]) * rng.standard_normal((2000, mu.shape[1]))
            logits = m.decode(torch.as_tensor(z, dtype=torch.float32)).double().numpy()
            log_px = (x[i] * logits - np.logaddexp(0, logits)).sum(-1)
            log_pz = multivariate_normal(np.zeros(mu.shape[1])).logpdf(z)
            log_q = multivariate_normal(mu[i], np.diag(np.exp(log_var[i]))).logpdf(z)
            w = log_px + log_pz - log_q
            ref[i] = np.logaddexp.reduce(w) - np.log(len(w))
    margin = paired_margin(ours, ref) + 0.02
    assert abs(ours.mean() - ref.mean()) < margin, (ours.mean(), ref.mean())


def test_monte_carlo_stderr_matches_the_spread_over_seeds(digits_vae):
    """The delta-method standard error of each estimate predicts how much the
    estimate moves between independent draws of its K samples."""
    vae, T = digits_vae
    x = T[:8]
    runs = [vae.log_likelihood(x, n_samples=20, random_state=s) for s in range(40)]
    spread = np.std(np.stack(runs), axis=0, ddof=1)
    _, predicted = vae.log_likelihood(x, n_samples=20, random_state=99, return_mc_stderr=True)
    ratio = spread.mean() / predicted.mean()
    assert 0.6 < ratio < 1.6, ratio
    more = vae.log_likelihood(x, n_samples=2000, random_state=1, return_mc_stderr=True)[1]
    assert more.mean() < predicted.mean() / 5  # shrinks as 1/sqrt(K)
