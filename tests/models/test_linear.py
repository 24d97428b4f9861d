"""The linear autoencoder trained by gradient descent reaches PCA's subspace (SPEC §1)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.linalg import subspace_angles

from aekit import PCA, LinearAutoencoder
from aekit.cli.main import main
from aekit.data import load_idx_dataset


def largest_angle_degrees(A: np.ndarray, B: np.ndarray) -> float:
    """Largest principal angle between the row spaces of A and B."""
    return float(np.degrees(subspace_angles(A.T, B.T).max()))


@pytest.fixture(scope="module")
def mnist_train(mnist_dir):
    X, _ = load_idx_dataset("mnist", "train", data_dir=mnist_dir, download=False)
    return X.reshape(len(X), -1)


def test_mnist_linear_autoencoder_reaches_the_principal_subspace(mnist_train):
    X = mnist_train
    pca = PCA(16).fit(X)
    lin = LinearAutoencoder(16, random_state=0, device="cpu").fit(X)
    bound = pca.reconstruction_error_bound()
    error = lin.reconstruction_error(X)
    assert bound <= error * (1 + 1e-6)  # nothing linear beats Eckart–Young
    assert error < 1.01 * bound, (error, bound)
    assert largest_angle_degrees(lin.components_, pca.components_) < 2.0
    # the subspace, not the axes: codes are PCA's codes up to an invertible linear map ...
    Z_lin, Z_pca = lin.transform(X[:5000]), pca.transform(X[:5000])
    Z_pca1 = np.c_[Z_pca, np.ones(len(Z_pca))]
    A, *_ = np.linalg.lstsq(Z_pca1, Z_lin, rcond=None)
    residual = np.sum((Z_pca1 @ A - Z_lin) ** 2) / np.sum((Z_lin - Z_lin.mean(0)) ** 2)
    assert residual < 0.02
    # ... which is not a signed permutation: the code axes mix the principal axes
    raw = lin.module_.decoder.out.weight.detach().double().numpy()
    cosines = np.abs(pca.components_ @ (raw / np.linalg.norm(raw, axis=0)))
    assert cosines.max(axis=0).min() < 0.9


def test_planted_subspace_is_recovered_by_both():
    rng = np.random.default_rng(0)
    basis, _ = np.linalg.qr(rng.normal(size=(30, 3)))
    codes = rng.normal(size=(2000, 3)) * [5.0, 3.0, 2.0]
    X = (codes @ basis.T + 0.05 * rng.normal(size=(2000, 30)) + 1.0).astype(np.float32)
    pca = PCA(3).fit(X)
    # Well-separated eigenvalues: the case full-batch L-BFGS is kept for (5 s here
    # against 44 s for the default Adam schedule; the MNIST test above runs Adam).
    lin = LinearAutoencoder(3, solver="lbfgs", random_state=0, device="cpu").fit(X)
    assert largest_angle_degrees(pca.components_, basis.T) < 0.5
    assert largest_angle_degrees(lin.components_, basis.T) < 0.5
    np.testing.assert_allclose(pca.explained_variance_, [25, 9, 4], rtol=0.1)
    assert lin.reconstruction_error(X) < 1.01 * pca.reconstruction_error_bound()


@pytest.mark.parametrize("kind", ["pca", "linear"])
def test_cli_train_and_evaluate_report_the_eckart_young_bound(kind, tmp_path, capsys):
    run = tmp_path / kind
    args = ["train", kind, "--out", str(run), "--latent-dim", "5", "--quiet"]
    if kind == "linear":
        args += ["--seed", "0", "--epochs", "100", "--batch-size", "32", "--lr", "3e-3"]
    assert main(args) == 0
    capsys.readouterr()
    assert main(["evaluate", str(run), "--split", "train"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["latent_dim"] == 5
    bound = metrics["eckart_young_bound_mse"]
    assert bound <= metrics["mse"] * (1 + 1e-6)
    if kind == "pca":  # PCA fitted on the training split sits on the bound
        assert metrics["mse"] == pytest.approx(bound, rel=1e-5)
    else:
        assert metrics["mse"] < 1.02 * bound
