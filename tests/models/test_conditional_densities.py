"""The code densities of a conditional model, one per class: sampling, log-density,
and the VAE's class-independent prior, against independent computations."""

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal
from sklearn.datasets import load_digits
from sklearn.mixture import GaussianMixture

from aekit import VAE, Autoencoder


@pytest.fixture(scope="module")
def data():
    X, y = load_digits(return_X_y=True)
    return (X / 16).astype(np.float32), y


@pytest.fixture(scope="module")
def cae(data):
    X, y = data
    return Autoencoder(latent_dim=3, hidden=(32,), epochs=5, conditional=True,
                       random_state=0).fit(X, y)  # fmt: skip


def _codes_of_class(model, k):
    return model.training_codes_[model.training_code_classes_ == k].astype(np.float64)


def test_code_log_density_is_each_classes_own_density(cae):
    for k in (3, 5):
        Zk = _codes_of_class(cae, k)
        assert len(Zk) > 100  # every training example's class is kept with its code
        ridge = 1e-6 * np.var(Zk, axis=0).mean() + 1e-12  # the densities' ridge
        gauss = multivariate_normal(Zk.mean(0), np.cov(Zk.T, bias=True) + ridge * np.eye(3))
        np.testing.assert_allclose(
            cae.code_log_density(Zk, y=k, method="gaussian"), gauss.logpdf(Zk), rtol=1e-6
        )
        n_components = cae.class_densities_[k]["gmm"].n_components  # chosen by BIC
        gm = GaussianMixture(n_components, covariance_type="full", reg_covar=ridge,
                             random_state=cae.seed_).fit(Zk)  # fmt: skip
        np.testing.assert_allclose(
            cae.code_log_density(Zk, y=k, method="gmm"), gm.score_samples(Zk), rtol=1e-5
        )
    # one class per row is each row at its own class
    Z = np.concatenate([_codes_of_class(cae, 3)[:4], _codes_of_class(cae, 5)[:4]])
    per_row = cae.code_log_density(Z, y=[3] * 4 + [5] * 4)
    np.testing.assert_allclose(per_row[:4], cae.code_log_density(Z[:4], y=3))
    np.testing.assert_allclose(per_row[4:], cae.code_log_density(Z[4:], y=5))
    assert (cae.code_log_density(Z[:4], y=3) > cae.code_log_density(Z[:4], y=5)).all()


def test_code_draws_at_a_class_follow_that_classes_codes(cae):
    Z3, Z5 = _codes_of_class(cae, 3), _codes_of_class(cae, 5)
    draws = cae.sample_codes(4000, y=3, method="gaussian", random_state=0)
    spread = Z3.std(0)
    np.testing.assert_allclose(draws.mean(0), Z3.mean(0), atol=0.1 * spread.max())
    np.testing.assert_allclose(draws.std(0), spread, rtol=0.1)
    assert np.abs(Z5.mean(0) - Z3.mean(0)).max() > 0.5 * spread.max()  # the test can tell
    # sample decodes exactly these codes at the class
    np.testing.assert_array_equal(
        cae.sample(6, y=3, method="gmm", random_state=1),
        cae.inverse_transform(cae.sample_codes(6, y=3, method="gmm", random_state=1), y=3),
    )


def test_fit_latent_density_takes_the_classes_and_refuses_a_thin_class(cae, data):
    X, y = data
    with pytest.raises(ValueError, match="is conditional: pass y"):
        cae.fit_latent_density(X[:50])
    thin = y[:60].copy()
    thin[0] = 99  # a class the model knows nothing of
    with pytest.raises(ValueError, match="not one of the classes"):
        cae.fit_latent_density(X[:60], y=thin)
    rows = np.concatenate([np.flatnonzero(y == 1)[:1], np.flatnonzero(y != 1)[:200]])
    with pytest.raises(ValueError, match="class 1 has fewer than 2 codes"):
        cae.fit_latent_density(X[rows], y=y[rows])


def test_the_conditional_vaes_prior_is_n01_at_every_class(data):
    X, y = data
    vae = VAE(latent_dim=2, hidden=(16,), epochs=1, conditional=True, random_state=0).fit(X, y)
    Z = np.random.default_rng(0).normal(size=(7, 2))
    expected = torch.distributions.Normal(0.0, 1.0).log_prob(torch.from_numpy(Z)).sum(1)
    for k in (0, 9):
        np.testing.assert_allclose(vae.code_log_density(Z, y=k), expected.numpy(), rtol=1e-6)
    # its code densities are per class too
    Z3 = _codes_of_class(vae, 3)
    np.testing.assert_allclose(
        vae.code_log_density(Z3, y=3, method="gaussian"),
        multivariate_normal(Z3.mean(0), np.cov(Z3.T, bias=True)).logpdf(Z3),
        atol=1e-4,  # the densities' ridge of 1e-6 of the code variance
    )
