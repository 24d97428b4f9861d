"""Outlier detection with scikit-learn's conventions on every model."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import aekit
from aekit.cli.main import main
from aekit.models.outliers import offset_from
from aekit.models.registry import KINDS, estimator_class

FAST = {
    "pca": {"n_components": 4},
    "linear": {"latent_dim": 4},
    "ae": {"latent_dim": 4, "hidden": (32,), "epochs": 30},
    "dae": {"latent_dim": 4, "hidden": (32,), "epochs": 30},
    "vae": {"latent_dim": 4, "hidden": (32,), "epochs": 30},
    "vqvae": {"codebook_size": 32, "latent_dim": 4, "hidden": (32,), "epochs": 30},
}


@pytest.fixture(scope="module")
def digits():
    data = load_digits()
    return (data.data / 16).astype(np.float32), data.target


def model(kind: str, **extra):
    return estimator_class(kind)(**FAST[kind], **extra, random_state=0)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("contamination", [0.05, 0.2])
def test_without_a_held_out_share_contamination_is_the_share_flagged_in_training(
    digits, kind, contamination
):
    X = digits[0][:600]
    fitted = model(kind, contamination=contamination, validation_fraction=0.0).fit(X)
    labels = fitted.predict(X)
    assert set(np.unique(labels)) == {-1, 1}
    assert abs((labels == -1).sum() - contamination * len(X)) <= 1
    np.testing.assert_allclose(
        fitted.decision_function(X), fitted.score_samples(X) - fitted.offset_, rtol=1e-12
    )
    assert np.array_equal(labels, np.where(fitted.decision_function(X) < 0, -1, 1))
    again = model(kind, contamination=contamination, validation_fraction=0.0)
    assert np.array_equal(again.fit_predict(X), labels)


@pytest.mark.parametrize("kind", KINDS)
def test_the_threshold_holds_on_new_inliers(digits, kind):
    """Issue 32: each model with its defaults (d = 4), fitted on 1200 digits, flags
    about the share asked for of 597 new ones. The tolerance, ±0.08 around 0.1, is
    about three standard deviations: a 10% quantile of 120 held-out scores (0.027)
    and a binomial share of 597 (0.012)."""
    X = digits[0]
    order = np.random.default_rng(0).permutation(len(X))
    train, new = X[order[:1200]], X[order[1200:]]
    fitted = estimator_class(kind)(latent_dim=4, contamination=0.1, random_state=0).fit(train)
    flagged = float(np.mean(fitted.predict(new) == -1))
    assert abs(flagged - 0.1) <= 0.08, (kind, flagged)


@pytest.mark.parametrize("kind", KINDS)
def test_a_small_table_does_not_flag_every_new_row(kind):
    """Issue 32's case: fitted with its defaults on 249 benign breast-cancer rows, the
    AE, DAE and VAE flagged all 108 new benign rows (Isolation Forest: 4). With 49
    held-out scores the share flagged at contamination 0.1 varies from 0.05 to 0.3
    over splits (6 seeds, every kind); this split and seed are one of them."""
    data = load_breast_cancer()
    benign = data.data[data.target == 1].astype(np.float32)
    order = np.random.default_rng(0).permutation(len(benign))
    train, new = benign[order[:249]], benign[order[249:]]
    fitted = estimator_class(kind)(latent_dim=4, contamination=0.1, random_state=0).fit(train)
    flagged = float(np.mean(fitted.predict(new) == -1))
    assert flagged <= 0.35, (kind, flagged)


@pytest.mark.parametrize("kind", ["ae", "linear", "dae"])
def test_score_samples_is_minus_the_reconstruction_error_of_each_example(digits, kind):
    X = digits[0][:300]
    fitted = model(kind).fit(X)
    by_hand = ((X.astype(np.float64) - fitted.reconstruct(X)) ** 2).mean(axis=1)
    np.testing.assert_allclose(fitted.score_samples(X), -by_hand, rtol=1e-4)
    assert fitted.score(X) == pytest.approx(-fitted.reconstruction_error(X))


def test_the_vae_scores_are_the_elbo_of_each_example_whatever_its_position(digits):
    X = digits[0][:300]
    vae = model("vae").fit(X)
    scores = vae.score_samples(X)
    order = np.random.default_rng(0).permutation(len(X))
    np.testing.assert_allclose(vae.score_samples(X[order]), scores[order], rtol=1e-6)
    np.testing.assert_allclose(vae.score_samples(X[:7]), scores[:7], rtol=1e-6)  # any batch
    # an unbiased one-sample ELBO per example: its mean is the ELBO within its spread
    spread = np.std(scores) / np.sqrt(len(X))
    assert abs(scores.mean() - vae.score(X)) < 4 * spread + 1.0
    assert len(np.unique(scores)) == len(X)


def test_auto_contamination_is_tukeys_lower_fence(digits):
    X = digits[0][:500]
    pca = aekit.PCA(4, validation_fraction=0.0).fit(X)
    scores = pca.score_samples(X)
    q1, q3 = np.percentile(scores, [25, 75])
    assert pca.offset_ == pytest.approx(q1 - 1.5 * (q3 - q1))
    assert offset_from(scores, "auto") == pca.offset_


@pytest.mark.parametrize("kind", ["pca", "ae", "vae"])
def test_one_class_digits_are_told_from_the_rest(digits, kind):
    """Trained on zeros only, every model scores held-out zeros above other digits."""
    X, y = digits
    rng = np.random.default_rng(0)
    zeros = rng.permutation(np.flatnonzero(y == 0))
    train, held_out = zeros[:120], np.concatenate([zeros[120:], np.flatnonzero(y != 0)])
    params = {**FAST[kind], "epochs": 300} if kind != "pca" else FAST[kind]
    fitted = estimator_class(kind)(**params, random_state=0).fit(X[train])
    auroc = roc_auc_score(y[held_out] == 0, fitted.score_samples(X[held_out]))
    assert auroc > 0.99, auroc


def test_outliers_inside_a_pipeline_and_after_save(digits, tmp_path):
    X = digits[0][:400]
    pca = aekit.PCA(3, contamination=0.1, validation_fraction=0.0)
    pipeline = make_pipeline(StandardScaler(), pca).fit(X)
    labels = pipeline.predict(X)
    assert abs((labels == -1).mean() - 0.1) < 0.01
    assert pipeline.decision_function(X).shape == (400,)
    ae = model("ae", contamination=0.1).fit(X)
    ae.save(tmp_path / "ae")
    again = aekit.load(tmp_path / "ae")
    assert again.offset_ == ae.offset_
    assert np.array_equal(again.predict(X), ae.predict(X))


@pytest.mark.parametrize("bad", [0, 0.7, -0.1, "most", True, float("nan")])
def test_bad_contamination_is_refused(digits, bad):
    with pytest.raises(ValueError, match="contamination must be 'auto' or a fraction"):
        aekit.PCA(2, contamination=bad).fit(digits[0][:50])


def test_cli_score_writes_one_row_per_example(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "pca", "-d", "4", "--contamination", "0.1", "--out", str(run)]) == 0
    assert main(["score", str(run)]) == 0
    err = capsys.readouterr().err
    assert "1797 examples scored" in err and "scores.csv" in err
    rows = list(csv.DictReader((run / "scores.csv").open()))
    assert len(rows) == 1797 and [int(r["index"]) for r in rows] == list(range(1797))
    scores = np.array([float(r["score"]) for r in rows])
    X = digits_images()
    np.testing.assert_allclose(scores, aekit.load(run).score_samples(X), rtol=1e-6)
    assert main(["score", str(run), "--split", "val", "--out", str(tmp_path / "v.csv")]) == 0
    flags = [int(r["flag"]) for r in csv.DictReader((tmp_path / "v.csv").open())]
    assert abs(flags.count(-1) - 0.1 * len(flags)) <= 1  # the threshold's own examples
    assert main(["score", str(run), "--split", "test", "--out", str(tmp_path / "t.csv")]) == 0
    flags = [int(r["flag"]) for r in csv.DictReader((tmp_path / "t.csv").open())]
    assert 0.04 <= flags.count(-1) / len(flags) <= 0.18  # new examples: about 10%
    assert main(["train", "pca", "--contamination", "0.9", "--out", str(tmp_path / "x")]) == 2
    assert "contamination" in capsys.readouterr().err


def digits_images() -> np.ndarray:
    return (load_digits().images / 16.0).astype(np.float32)[:, None]
