"""The evaluation protocol compares a model with PCA under the same preprocessing."""

from __future__ import annotations

import numpy as np
import pytest

import aekit
from aekit.data.sources import DataBundle, Split
from aekit.runs.evaluation import evaluate


def _table_bundle() -> DataBundle:
    """A table whose features differ in scale by 10^4 (grams beside kilometres)."""
    rng = np.random.default_rng(0)
    latent = rng.normal(size=(400, 2))
    X = latent @ rng.normal(size=(2, 6)) + 0.3 * rng.normal(size=(400, 6))
    X = (X * [1e-2, 1.0, 10.0, 100.0, 1.0, 0.1]).astype(np.float32)
    splits = [Split(part, None) for part in (X[:300], X[300:350], X[350:])]
    return DataBundle("table", *splits, sample_shape=(6,), is_image=False)


def test_pca_reference_uses_the_models_preprocessing_and_units():
    bundle = _table_bundle()
    model = aekit.Autoencoder(2, hidden=(16,), epochs=30, random_state=0).fit(bundle.train.X)
    metrics = evaluate(model, bundle, "test")
    # PCA of the standardised training data, reconstructions back in the table's units
    scaling = model.scaling_
    reference = aekit.PCA(2).fit(scaling.apply(bundle.train.X))
    X = bundle.test.X
    X_hat = scaling.undo(reference.inverse_transform(reference.transform(scaling.apply(X))))
    assert metrics["pca_mse"] == pytest.approx(np.mean((X_hat - X) ** 2, dtype=np.float64))
    # not PCA of the raw table, which spends its code on the feature of the largest scale
    raw = aekit.PCA(2).fit(bundle.train.X).reconstruction_error(X)
    assert abs(metrics["pca_mse"] - raw) > 0.01 * raw
    assert metrics["eckart_young_bound_mse"] <= metrics["pca_mse"]


def test_no_psnr_for_values_without_a_peak_of_one():
    bundle = _table_bundle()
    model = aekit.PCA(2).fit(bundle.train.X)
    assert "psnr_db" not in evaluate(model, bundle, "test")
    images = aekit.data.load_data("digits")
    pca = aekit.PCA(4).fit(images.train.X)
    metrics = evaluate(pca, images, "test")
    assert metrics["psnr_db"] == pytest.approx(10 * np.log10(1 / metrics["mse"]))
