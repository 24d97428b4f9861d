"""aekit.OutlierDetector: why it holds where the autoencoders fail (a tight group of
contaminating rows), its explanations, its conformal p-values, saving and refusals."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.io
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from sklearn.utils.estimator_checks import check_estimator

import aekit
from aekit.models.code_densities import MixtureDensity
from aekit.models.outlier_parts import MixtureScore

ODDS = Path(os.environ.get("AEKIT_DATA", Path(__file__).parents[3] / "shared" / "data")) / "odds"


def correlated_table(n: int, seed: int, d: int = 8) -> np.ndarray:
    """Rows driven by 3 factors, plus noise: columns that predict each other."""
    rng = np.random.default_rng(seed)
    mixing = np.random.default_rng(100).normal(size=(3, d))
    return rng.normal(size=(n, 3)) @ mixing + 0.3 * rng.normal(size=(n, d))


def contaminated_by_a_group(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Musk's failure mode: 3% of the training rows are a tight group far from the
    bulk. Returns (train, test, test labels: 1 = outlier)."""
    rng = np.random.default_rng(seed)
    centre = np.full(8, 4.0)

    def group(n: int) -> np.ndarray:
        return centre + 0.1 * rng.normal(size=(n, 8))

    train = np.vstack([correlated_table(970, seed), group(30)])
    test = np.vstack([correlated_table(400, seed + 1), group(20)])
    return train, test, np.r_[np.zeros(400), np.ones(20)]


def test_a_tight_group_of_outliers_fools_a_mixture_but_not_the_detector():
    train, test, y = contaminated_by_a_group(0)
    detector = aekit.OutlierDetector(random_state=0).fit(train)
    assert roc_auc_score(y, -detector.score_samples(test)) > 0.99
    # a plain mixture gives the group a component of its own and scores it normal ...
    Z, train_Z = detector._standardised(test), detector._standardised(train)
    plain = MixtureDensity.fit(train_Z, 5, random_state=0, ridge=0.1)
    assert plain.weights.min() < 0.05 and roc_auc_score(y, -plain.log_prob(Z)) < 0.6
    # ... which the detector's mixture part drops
    assert roc_auc_score(y, MixtureScore(5, 0.1, 0).fit(train_Z).score(Z)) > 0.99
    assert (detector.predict(test[y == 1]) == -1).all()


@pytest.mark.skipif(not (ODDS / "musk.mat").exists(), reason=f"no ODDS tables in {ODDS}")
def test_musk_where_the_autoencoders_fall_below_chance():
    mat = scipy.io.loadmat(ODDS / "musk.mat")
    X, y = mat["X"].astype(np.float64), mat["y"].ravel()
    rng = np.random.default_rng(0)
    order = rng.permutation(len(X))
    train, test = order[: int(0.6 * len(X))], order[int(0.6 * len(X)) :]
    mean, std = X[train].mean(0), X[train].std(0)
    std[std == 0] = 1
    detector = aekit.OutlierDetector(random_state=0).fit((X[train] - mean) / std)
    assert roc_auc_score(y[test], -detector.score_samples((X[test] - mean) / std)) > 0.97


def test_the_corrupted_column_is_the_top_explanation():
    X = correlated_table(1000, 1)
    detector = aekit.OutlierDetector(random_state=0).fit(X)
    clean = correlated_table(200, 2)
    hits = 0
    for column in range(X.shape[1]):
        corrupted = clean[:10].copy()
        corrupted[:, column] += 3 * X[:, column].std()
        shares = detector.feature_scores(corrupted)
        np.testing.assert_allclose(shares.sum(axis=1), 1.0)
        hits += int((shares.argmax(axis=1) == column).sum())
    assert hits >= 0.8 * 10 * X.shape[1]


def test_feature_scores_are_named_by_the_columns_of_a_dataframe():
    columns = [f"c{j}" for j in range(8)]
    X = pd.DataFrame(correlated_table(300, 3), columns=columns)
    detector = aekit.OutlierDetector(random_state=0).fit(X)
    shares = detector.feature_scores(X.iloc[5:8])
    assert list(shares.columns) == columns and list(shares.index) == [5, 6, 7]
    pca = aekit.PCA(n_components=3).fit(X)
    assert list(pca.feature_scores(X.iloc[:2]).columns) == columns


def test_pca_blames_the_value_whose_best_fit_removes_the_most_error():
    """PCA's share of value j is the error removed by setting x_j alone to its best
    fit: checked against that minimum found from three reconstructions (the error is
    a parabola in x_j), and the corrupted value comes first."""
    X = correlated_table(500, 4)
    pca = aekit.PCA(n_components=3).fit(X)
    row = X[:1].copy()
    row[0, 5] += 4.0

    def error(x):
        return float(((x - pca.reconstruct(x)) ** 2).sum())

    removed = []
    for j in range(X.shape[1]):
        step = np.eye(X.shape[1])[j][None]
        c, up, down = error(row), error(row + step), error(row - step)
        a, b = (up + down) / 2 - c, (up - down) / 2
        removed.append(b**2 / (4 * a))
    shares = pca.feature_scores(row)
    np.testing.assert_allclose(shares[0], np.array(removed) / sum(removed), rtol=1e-4)
    assert shares.argmax() == 5


def test_a_neural_model_explains_by_its_squared_residuals():
    X = correlated_table(300, 4).astype(np.float32)
    model = aekit.Autoencoder(latent_dim=3, hidden=(16,), epochs=2, random_state=0).fit(X)
    residual = (X[:5] - model.reconstruct(X[:5])).astype(np.float64) ** 2
    shares = model.feature_scores(X[:5])
    np.testing.assert_allclose(shares, residual / residual.sum(1, keepdims=True), rtol=1e-5)


@pytest.mark.parametrize("alpha", [0.01, 0.05, 0.1, 0.2])
def test_conformal_p_values_hold_their_false_positive_rate(alpha):
    """P(p <= alpha) <= alpha for new inliers, averaged over 30 fits (the guarantee is
    over the draw of the held-out rows): within 3 standard errors."""
    rates = []
    for seed in range(30):
        X = correlated_table(300, 10 + seed)
        detector = aekit.OutlierDetector(calibration=0.2, random_state=seed).fit(X)
        p = detector.p_values(correlated_table(2000, 1000 + seed))
        assert ((p > 0) & (p <= 1)).all()
        rates.append(np.mean(p <= alpha))
    m = len(detector.calibration_scores_)
    spread = np.sqrt(alpha * (1 - alpha) / (m + 1) / 30)
    assert np.mean(rates) <= alpha + 3 * spread
    assert np.mean(rates) >= alpha - 1 / (m + 1) - 3 * spread  # and not far below it


def test_in_sample_p_values_would_break_the_guarantee():
    """Why rows are held out: the training rows' own scores are more normal than new
    inliers' on a small table, so p-values against them flag too many inliers."""
    rates = []
    for seed in range(10):
        X = correlated_table(150, 50 + seed)
        detector = aekit.OutlierDetector(calibration=0, random_state=seed).fit(X)
        own = np.sort(detector.score_samples(X))
        new = detector.score_samples(correlated_table(2000, 2000 + seed))
        p = (1 + np.searchsorted(own, new, side="right")) / (len(own) + 1)
        rates.append(np.mean(p <= 0.05))
    # 0.079 measured; the spread of a rate from 150 training scores, over 10 fits, is 0.0056
    assert np.mean(rates) > 0.05 + 3 * np.sqrt(0.05 * 0.95 / 150 / 10)


def test_predict_by_alpha_flags_what_the_p_values_flag():
    X = correlated_table(600, 5)
    detector = aekit.OutlierDetector(contamination=None, alpha=0.05, random_state=0).fit(X)
    new = np.vstack([correlated_table(500, 6), correlated_table(5, 7) + 6.0])
    flagged = detector.predict(new) == -1
    np.testing.assert_array_equal(flagged, detector.p_values(new) <= 0.05)
    assert flagged[-5:].all() and flagged[:500].mean() < 0.1


def test_rows_are_held_out_only_where_p_values_are_asked_for():
    X = correlated_table(300, 3)
    fitted_on_all = aekit.OutlierDetector(random_state=0).fit(X)
    assert fitted_on_all.calibration_scores_ is None
    np.testing.assert_allclose(fitted_on_all.mean_, X.mean(axis=0))  # every row fitted
    with pytest.raises(ValueError, match="no p-values"):
        fitted_on_all.p_values(X)
    by_alpha = aekit.OutlierDetector(contamination=None, alpha=0.05, random_state=0).fit(X)
    assert len(by_alpha.calibration_scores_) == 60  # "auto" holds out a fifth for alpha


def test_a_tight_contaminating_group_gets_no_mixture_component_of_its_own():
    """Eight rows in a tight group far from two clusters of 250: a mixture fitted with
    them gives them a component (weight 8/508) under which they look normal; the
    detector's mixture part drops it, so its score puts them above every inlier."""
    rng = np.random.default_rng(0)
    clusters = np.vstack([rng.normal(-3, 1, (250, 4)), rng.normal(3, 1, (250, 4))])
    group = rng.normal(0, 0.05, (8, 4)) + np.array([0.0, 9.0, -9.0, 0.0])
    detector = aekit.OutlierDetector(random_state=0).fit(np.vstack([clusters, group]))
    mixture = detector.parts_["mixture"]
    assert mixture.density.weights.min() >= 0.05
    Z = detector._standardised(np.vstack([clusters, group]))
    scores = mixture.score(Z)
    assert scores[500:].min() > scores[:500].max()


def table_with_levels(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Four correlated numeric columns and four columns of levels 0, 1, 2 where level 1,
    between the two common ones, is rare (2%). Returns (rows, which level column of each
    row holds a rare level, or -1)."""
    rng = np.random.default_rng(seed)
    numeric = correlated_table(n, seed, d=4)
    levels = rng.choice([0.0, 2.0], size=(n, 4))
    rare = np.where(rng.random(n) < 0.08, rng.integers(0, 4, n), -1)
    levels[rare >= 0, rare[rare >= 0]] = 1.0
    return np.hstack([numeric, levels]), np.where(rare >= 0, 4 + rare, -1)


def test_a_rare_level_between_common_ones_is_found_and_explained():
    """A column with few values is read as levels: a rare level is as unusual as its
    frequency says, though it lies at the column's mean in standardised units, where
    the Gaussian parts see nothing unusual (ROC-AUC about 0.5 with max_levels=0)."""
    X, _ = table_with_levels(1000, 0)
    new, rare = table_with_levels(500, 1)
    detector = aekit.OutlierDetector(random_state=0).fit(X)
    assert detector.level_columns_.tolist() == [False] * 4 + [True] * 4
    assert roc_auc_score(rare >= 0, -detector.score_samples(new)) > 0.9
    as_numbers = aekit.OutlierDetector(max_levels=0, random_state=0).fit(X)
    assert roc_auc_score(rare >= 0, -as_numbers.score_samples(new)) < 0.7
    shares = detector.feature_scores(new[rare >= 0])
    np.testing.assert_allclose(shares.sum(axis=1), 1.0)
    assert np.mean(shares.argmax(axis=1) == rare[rare >= 0]) > 0.9
    # a row the level part decides is split by each level's surprisal: no negative share
    by_levels = detector._weighted_part_scores(new).argmax(axis=0) == 3
    assert by_levels.sum() > 100 and (detector.feature_scores(new[by_levels]) >= 0).all()


def test_a_level_read_in_float32_is_the_same_level():
    """Body temperatures in tenths of a degree, fitted in float64 and scored as a CSV
    gives them (float32): the same levels, not levels never seen."""
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.normal(size=(300, 2)), rng.choice([1000.1, 1000.2, 1000.3], 300)])
    detector = aekit.OutlierDetector(random_state=0).fit(X)
    assert detector.level_columns_.tolist() == [False, False, True]
    np.testing.assert_allclose(
        detector.score_samples(X.astype(np.float32)), detector.score_samples(X), atol=1e-4
    )


def test_a_count_far_beyond_its_levels_is_more_unusual_than_one_just_beyond():
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.normal(size=(500, 3)), rng.poisson(1.0, 500).clip(0, 6)])
    detector = aekit.OutlierDetector(random_state=0).fit(X)
    assert detector.level_columns_[3]
    rows = np.zeros((3, 4))
    rows[:, 3] = [11, 1000, 1e6]
    scores = detector.score_samples(rows)
    assert scores[0] > scores[1] > scores[2]
    far_in_numbers = np.array([[4.0, 4.0, -4.0, 1.0]])  # six standard deviations off
    assert scores[2] < detector.score_samples(far_in_numbers)[0]


def test_a_near_even_split_does_not_blow_a_rare_flag_up():
    """The quartiles of the level part's surprisal nearly meet when its columns split
    almost evenly; a floor on its spread keeps a 2% flag less unusual than a row six
    standard deviations off in the numbers (without it: -533 against -77)."""
    rng = np.random.default_rng(0)
    binary = np.r_[np.zeros(498), np.ones(502)]
    flag = (rng.random(1000) < 0.02).astype(float)
    X = np.column_stack([rng.normal(size=(1000, 3)), rng.permutation(binary), flag])
    detector = aekit.OutlierDetector(random_state=0).fit(X)
    flagged = np.array([[0.0, 0.0, 0.0, 1.0, 1.0]])
    far = np.array([[6.0, 0.0, 0.0, 1.0, 0.0]])
    assert detector.score_samples(far)[0] < detector.score_samples(flagged)[0] < -1


def test_a_small_tables_numbers_are_not_read_as_levels():
    """On 8 rows every value is distinct: levels need each seen twice on average."""
    X = np.random.default_rng(0).normal(size=(8, 3))
    detector = aekit.OutlierDetector(calibration=0, random_state=0).fit(X)
    assert not detector.level_columns_.any()
    scores = detector.score_samples(np.array([[0.0, 0.0, 0.0], [100.0, 100.0, 100.0]]))
    assert scores[0] > scores[1]


def test_a_level_never_seen_in_training_is_more_unusual_than_a_rare_one():
    X, _ = table_with_levels(1000, 0)
    detector = aekit.OutlierDetector(random_state=0).fit(X)
    common, rare, unseen = X[:1].copy(), X[:1].copy(), X[:1].copy()
    common[0, 4], rare[0, 4], unseen[0, 4] = 0.0, 1.0, 0.5
    scores = detector.score_samples(np.vstack([common, rare, unseen]))
    assert scores[0] > scores[1] > scores[2]


def test_a_table_of_levels_only_is_scored_by_their_frequencies(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.choice([1.0, 2.0, 3.0], p=[0.6, 0.38, 0.02], size=(400, 5))
    detector = aekit.OutlierDetector(random_state=0).fit(X)
    assert list(detector.parts_) == ["levels"]
    rare_rows = (X == 3.0).any(axis=1)
    assert roc_auc_score(rare_rows, -detector.score_samples(X)) > 0.99
    loaded = aekit.load(detector.save(tmp_path / "levels"))
    np.testing.assert_array_equal(loaded.score_samples(X), detector.score_samples(X))


def test_save_and_load_give_the_same_scores(tmp_path):
    X = pd.DataFrame(table_with_levels(300, 8)[0], columns=[f"c{j}" for j in range(8)])
    detector = aekit.OutlierDetector(calibration=0.2, random_state=0).fit(X)
    assert list(detector.parts_) == ["gaussian", "isotropic", "mixture", "levels"]
    loaded = aekit.load(detector.save(tmp_path / "detector"))
    np.testing.assert_array_equal(loaded.score_samples(X), detector.score_samples(X))
    np.testing.assert_array_equal(loaded.feature_scores(X), detector.feature_scores(X))
    np.testing.assert_array_equal(loaded.p_values(X), detector.p_values(X))
    assert loaded.offset_ == detector.offset_
    assert list(loaded.feature_names_in_) == list(X.columns)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"alpha": 0.05}, "contamination=None with alpha"),
        ({"contamination": None}, "needs alpha"),
        ({"contamination": None, "alpha": 0.05, "calibration": 0}, "calibration > 0"),
        ({"calibration": 0.7}, "calibration must be a number in"),
        ({"shrinkage": -0.1}, "shrinkage must be"),
        ({"n_mixture_components": 0}, "n_mixture_components"),
        ({"max_levels": -1}, "max_levels"),
        ({"max_levels": 2.5}, "max_levels"),
        ({"contamination": 0.9}, "contamination must be"),
    ],
)
def test_bad_parameters_are_refused_in_one_sentence(params, message):
    with pytest.raises(ValueError, match=message):
        aekit.OutlierDetector(**params).fit(correlated_table(100, 0))


def test_no_p_values_without_held_out_rows():
    detector = aekit.OutlierDetector(calibration=0).fit(correlated_table(100, 0))
    with pytest.raises(ValueError, match="no p-values"):
        detector.p_values(correlated_table(3, 1))


def test_a_detector_saved_before_levels_loads_with_every_column_as_numbers(tmp_path):
    """A save without the level arrays (written before columns were read as levels)
    loads as a detector that reads none, and a clone refitted reads none either."""
    import json

    from aekit.storage.safe_files import load_tensors

    X = table_with_levels(300, 8)[0]
    as_numbers = aekit.OutlierDetector(max_levels=0, random_state=0).fit(X)
    as_numbers.save(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    params = {k: v for k, v in config["params"].items() if k != "max_levels"}
    tensors = load_tensors(tmp_path / "model.safetensors")[0]
    del tensors["level_columns_"]
    old = aekit.OutlierDetector(**params)
    old._restore(config["fitted"], tensors)
    assert not old.level_columns_.any() and old.max_levels == 0
    np.testing.assert_array_equal(old.score_samples(X), as_numbers.score_samples(X))
    assert not clone(old).fit(X).level_columns_.any()


def test_scikit_learn_conventions():
    expected = {  # the threshold comes from held-out rows, not the training rows' share
        "check_outliers_train": "offset_ is set on held-out rows",
        "check_outliers_fit_predict": "offset_ is set on held-out rows",
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_estimator(aekit.OutlierDetector(random_state=0), expected_failed_checks=expected)
        check_estimator(aekit.OutlierDetector(calibration=0, random_state=0))


def test_the_default_threshold_of_a_small_table_is_not_set_on_its_own_rows():
    """Every row is fitted by default, but the threshold comes from a second fit that
    holds a fifth out: on 150 rows, contamination=0.05 flags about 9% of new inliers
    (measured 8.5% over ten tables); set on the rows' own scores it flags 15.9%."""
    rates = {"auto": [], 0: []}
    for seed in range(6):
        rng = np.random.default_rng(seed)
        mixing = rng.normal(size=(10, 10))
        X, new = rng.normal(size=(150, 10)) @ mixing, rng.normal(size=(3000, 10)) @ mixing
        for calibration in rates:
            detector = aekit.OutlierDetector(0.05, calibration=calibration, random_state=seed)
            rates[calibration].append(np.mean(detector.fit(X).predict(new) == -1))
    assert np.mean(rates[0]) > 0.13  # the optimism this guards against
    assert np.mean(rates["auto"]) < 0.11


def test_the_mixture_runs_em_in_single_precision_and_scores_as_in_double(monkeypatch):
    """Its EM gets float32 rows (half the time on wide tables) where the ridge bounds
    the covariances' conditioning, and the scores are those of a float64 fit: the
    same ranking, the same log-densities to 1e-3 nats."""
    from sklearn.mixture import GaussianMixture

    seen = []
    fit = GaussianMixture.fit

    def recording_fit(self, X, y=None):
        seen.append(np.asarray(X).dtype)
        return fit(self, X, y)

    rows = correlated_table(600, 3, d=40)
    mean, std = rows.mean(0), rows.std(0)
    Z = (rows - mean) / std
    monkeypatch.setattr(GaussianMixture, "fit", recording_fit)
    single = MixtureScore(5, 0.1, 0).fit(Z)
    assert seen == [np.float32]
    double = MixtureDensity.fit(Z, 5, random_state=0, ridge=single.ridge_used)
    assert seen[-1] == np.float64
    new = (correlated_table(200, 4, d=40) - mean) / std
    np.testing.assert_allclose(single.score(new), -double.log_prob(new), atol=1e-3)
    # a small ridge keeps double precision
    MixtureScore(5, 0.0, 0).fit(Z[:, :2])
    assert seen[-1] == np.float64
