"""Small tables (issue 32): the defaults are never worse than PCA, and the linear
autoencoder reaches PCA's optimum or says how far it stopped."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn import datasets
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from aekit import PCA, LinearAutoencoder
from aekit.models.registry import estimator_class

TABLES = {
    "breast_cancer": datasets.load_breast_cancer,
    "wine": datasets.load_wine,
    "diabetes": datasets.load_diabetes,
}


def standardised_split(name: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """70/30 split, standardised with the training split's statistics (the units of
    the issue's figures)."""
    X = TABLES[name]().data.astype(np.float32)
    train, test = train_test_split(X, test_size=0.3, random_state=seed)
    scaler = StandardScaler().fit(train)
    return scaler.transform(train).astype(np.float32), scaler.transform(test).astype(np.float32)


@pytest.mark.parametrize("name", list(TABLES))
@pytest.mark.parametrize("kind", ["ae", "dae", "vae"])
def test_defaults_are_at_most_pcas_test_error(name, kind):
    """Issue 32, before: AE and VAE test errors 0.317 / 0.304 against PCA's 0.224
    (breast cancer), 0.300 / 0.302 against 0.288 (wine), 0.304 / 0.345 against 0.214
    (diabetes); on this split 3% to 19% above PCA. Now the models start at PCA and
    early stopping on a held-out share keeps the best epoch, the start included. The
    1% allowed: that share (40 to 80 rows) picks the epoch, and on one split in three
    diabetes' pick is 0.3-0.5% worse on the test rows; over five splits every kind's
    mean is at or below PCA's (BENCHMARKS.md, "Small tables")."""
    train, test = standardised_split(name)
    pca = PCA(4).fit(train)
    model = estimator_class(kind)(latent_dim=4, random_state=0).fit(train)
    error, reference = model.reconstruction_error(test), pca.reconstruction_error(test)
    assert error <= 1.01 * reference, (kind, name, error, reference)


def test_the_linear_path_starts_at_pcas_solution():
    """Untrained (0 epochs) with start='pca', every model *is* PCA: its codes are PCA's
    whitened codes and its reconstructions PCA's."""
    train, test = standardised_split("wine")
    pca = PCA(4, whiten=True).fit(train)
    for kind in ("ae", "dae", "vae"):
        model = estimator_class(kind)(latent_dim=4, epochs=0, start="pca", random_state=0)
        model.fit(train, X_val=test)
        codes = model.transform(test)
        signs = np.sign(np.sum(codes * pca.transform(test), axis=0))  # axes up to sign
        np.testing.assert_allclose(codes * signs, pca.transform(test), atol=1e-3)
        np.testing.assert_allclose(
            model.reconstruct(test), pca.inverse_transform(pca.transform(test)), atol=1e-3
        )


@pytest.mark.parametrize("name", ["wine", "breast_cancer", "diabetes"])
@pytest.mark.parametrize("units", ["raw", "standardised"])
def test_the_linear_autoencoder_reaches_pca_or_warns(name, units):
    """Issue 32: on raw wine it stopped 51% above PCA's training error, silently. Now it
    reaches the optimum within 0.1% or warns, saying how far it is."""
    X = TABLES[name]().data
    if units == "standardised":
        X = StandardScaler().fit_transform(X)
    X = X.astype(np.float32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = LinearAutoencoder(4, random_state=0, validation_fraction=0.0).fit(X)
    optimum = PCA(4).fit(X).reconstruction_error(X)
    gap = model.reconstruction_error(X) / optimum - 1
    assert model.optimality_gap_ == pytest.approx(gap, rel=1e-2, abs=1e-5)
    messages = [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]
    if gap > 1e-3:
        assert len(messages) == 1 and f"{gap:.2%} above PCA's training error" in messages[0]
    else:
        assert messages == []


def test_early_stopping_keeps_the_start_when_no_epoch_beats_it():
    """A learning rate that only does harm: every epoch is worse on the held-out rows
    than PCA's start, so the fitted model is that start (the untrained weights are a
    candidate of early stopping)."""
    train, test = standardised_split("wine")
    model = estimator_class("ae")(latent_dim=4, lr=1.0, epochs=15, random_state=0).fit(train)
    pca = PCA(4).fit(train)
    np.testing.assert_allclose(
        model.reconstruct(test), pca.inverse_transform(pca.transform(test)), atol=1e-3
    )
