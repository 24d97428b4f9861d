"""Autoencoder, DenoisingAutoencoder and VAE on mixed tables: DataFrames in and out,
missing cells imputed, types and levels through save and load."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import aekit
from aekit.core.tables import TableCorruption
from aekit.errors import DataError

pd = pytest.importorskip("pandas")

SMALL = {"hidden": (16,), "batch_size": 64, "random_state": 0, "n_threads": 1}


def mixed(n=300, seed=0):
    """A city decides the mean of x and the smoker flag: each column predicts others."""
    rng = np.random.default_rng(seed)
    city = rng.choice(["Oslo", "Rome", "Lima"], n)
    offset = pd.Series(city).map({"Oslo": -2.0, "Rome": 0.0, "Lima": 2.0}).to_numpy()
    df = pd.DataFrame(
        {
            "x": offset + 0.3 * rng.normal(size=n),
            "city": city.astype(object),
            "smoker": np.where(city == "Rome", "yes", "no").astype(object),
            "visits": rng.poisson(np.exp(offset / 2)),
        }
    )
    df.loc[rng.random(n) < 0.1, "city"] = "?"
    return df


@pytest.fixture(scope="module")
def fitted():
    return aekit.Autoencoder(2, epochs=30, lr=1e-2, **SMALL).fit(mixed())


def test_reconstruct_returns_the_table_with_its_columns_dtypes_and_levels(fitted):
    df = mixed(seed=1)
    out = fitted.reconstruct(df)
    assert list(out.columns) == list(df.columns) and out.index.equals(df.index)
    assert out.dtypes.equals(df.dtypes) and not out.isna().any().any()
    assert set(out["city"]) <= {"Oslo", "Rome", "Lima"} and set(out["smoker"]) <= {"yes", "no"}
    assert [c.kind for c in fitted.table_.columns] == ["numeric", "categorical", "binary", "count"]
    assert list(fitted.feature_names_in_) == list(df.columns)


def test_the_model_imputes_hidden_levels_better_than_the_majority(fitted):
    df = mixed(seed=2)
    seen = df["city"] != "?"
    hidden = df.copy()
    hidden["city"] = "?"
    filled = fitted.impute(hidden)
    accuracy = (filled["city"][seen] == df["city"][seen]).mean()
    majority = df["city"][seen].value_counts(normalize=True).iloc[0]
    assert accuracy > majority + 0.3, (accuracy, majority)
    observed = hidden.drop(columns="city")
    pd.testing.assert_frame_equal(filled.drop(columns="city"), observed, check_exact=False)


def test_the_outlier_score_is_the_total_log_likelihood(fitted):
    df = mixed(seed=3).head(20)
    per_column = fitted.column_log_likelihoods(df)
    np.testing.assert_allclose(fitted.score_samples(df), per_column.sum(axis=1), rtol=1e-6)
    assert (per_column["city"][df["city"] == "?"] == 0).all()
    odd = df.copy()
    odd["smoker"] = np.where(odd["smoker"] == "yes", "no", "yes")  # against the city
    assert (fitted.score_samples(odd) < fitted.score_samples(df)).mean() > 0.8


def corrupt_one_cell(df, rows, seed=0):
    """``df`` with one cell of each row in ``rows`` replaced (columns in turn): a
    level by another row's different level, a number shifted; and the columns hit."""
    rng = np.random.default_rng(seed)
    bad, hit = df.copy(), []
    for i, row in enumerate(rows):
        column = df.columns[i % len(df.columns)]
        if column == "x":
            bad.loc[row, column] += 4.0
        elif column == "visits":
            bad.loc[row, column] += 8
        else:
            others = df[column][(df[column] != df.loc[row, column]) & (df[column] != "?")]
            bad.loc[row, column] = others.iloc[rng.integers(len(others))]
        hit.append(column)
    return bad, np.array(hit)


def test_feature_scores_name_the_corrupted_column(fitted):
    df = mixed(seed=5).head(200)
    df = df[df["city"] != "?"].reset_index(drop=True)
    rows = np.random.default_rng(0).choice(len(df), 40, replace=False)
    bad, hit = corrupt_one_cell(df, rows)
    shares = fitted.feature_scores(bad)
    assert list(shares.columns) == list(df.columns) and shares.index.equals(bad.index)
    sums = shares.to_numpy().sum(1)  # 0 where no one cell's change makes the row likelier
    assert np.allclose(sums[rows], 1.0, rtol=1e-9) and np.isclose(sums, 1.0).mean() > 0.5
    assert set(np.round(sums, 9)) <= {0.0, 1.0} and (shares.to_numpy() >= 0).all()
    top = shares.to_numpy()[rows].argmax(1)
    assert (df.columns[top] == hit).mean() >= 0.8, list(zip(df.columns[top], hit, strict=True))
    gap = mixed(seed=5).head(5).assign(city="?")  # a missing cell explains nothing
    assert (fitted.feature_scores(gap)["city"] == 0).all()


def with_flag_and_tier(df):
    """``df`` with a bool column and a pandas ``category`` column."""
    levels = np.select([df["x"] < -1, df["x"] > 1], ["basic", "gold"], "silver")
    tier = pd.Categorical(levels, categories=["basic", "silver", "gold"])
    return df.assign(member=df["smoker"] == "yes", tier=tier)


def test_types_and_levels_survive_save_and_load(fitted, tmp_path):
    df = mixed(seed=4).head(30)
    again = aekit.load(fitted.save(tmp_path / "m"))
    assert again.table_.columns == fitted.table_.columns
    pd.testing.assert_frame_equal(again.reconstruct(df), fitted.reconstruct(df))
    np.testing.assert_allclose(again.score_samples(df), fitted.score_samples(df))
    typed = with_flag_and_tier(mixed(100))
    model = aekit.Autoencoder(2, epochs=2, **SMALL).fit(typed)
    again = aekit.load(model.save(tmp_path / "typed"))
    out = again.reconstruct(typed.head(20))
    pd.testing.assert_frame_equal(out, model.reconstruct(typed.head(20)))
    assert out.dtypes.equals(typed.dtypes)
    assert out["tier"].cat.categories.tolist() == ["basic", "silver", "gold"]
    assert [c.kind for c in again.table_.columns][-2:] == ["binary", "categorical"]


def test_fit_shows_the_inferred_columns_unless_told_not_to(capsys):
    df = mixed(60)
    aekit.Autoencoder(2, epochs=1, **SMALL).fit(df)
    shown = capsys.readouterr().err.splitlines()
    assert [line.split(":")[0] for line in shown] == list(df.columns), shown
    assert "city: categorical, 3 levels" in shown[1]
    aekit.VAE(2, epochs=1, verbose=False, **SMALL).fit(df)
    assert capsys.readouterr().err == ""


def test_the_denoising_autoencoder_swaps_levels_and_the_vae_bounds_log_p():
    df = mixed(200)
    dae = aekit.DenoisingAutoencoder(2, epochs=3, **SMALL).fit(df)
    assert isinstance(dae.module_.corruption, TableCorruption)
    assert dae.reconstruct(df).dtypes.equals(df.dtypes)
    vae = aekit.VAE(2, epochs=3, **SMALL).fit(df)
    elbo = vae.score_samples(df.head(20))
    log_p = vae.log_likelihood(df.head(20), n_samples=200)
    assert np.all(np.isfinite(log_p)) and log_p.mean() >= elbo.mean() - 0.5
    assert vae.sample(5, random_state=0).dtypes.equals(df.dtypes)
    assert list(vae.inverse_transform(vae.transform(df.head(3))).columns) == list(df.columns)


def test_a_numeric_frame_without_gaps_stays_an_array_of_numbers():
    df = mixed(100)[["x"]].assign(y=lambda d: d["x"] * 2)
    ae = aekit.Autoencoder(1, epochs=1, **SMALL).fit(df)
    assert ae.table_ is None and isinstance(ae.reconstruct(df), np.ndarray)
    typed = aekit.Autoencoder(1, epochs=1, column_types={}, **SMALL).fit(df)
    assert typed.table_ is not None


def test_unusable_tables_are_refused_in_one_sentence():
    df = mixed(50).assign(const="same")
    with pytest.raises(DataError, match="'const' has a single level"):
        aekit.VAE(2, epochs=1, **SMALL).fit(df)
    with pytest.raises(ValueError, match="column_types must be a dict"):
        aekit.Autoencoder(2, epochs=1, column_types=["x"], **SMALL).fit(mixed(50))
    ae = aekit.Autoencoder(2, epochs=1, **SMALL).fit(mixed(50))
    with pytest.raises(DataError, match="lacks the column"):
        ae.reconstruct(mixed(5).drop(columns="city"))
    with pytest.raises(DataError, match="fitted on a table: pass a DataFrame"):
        ae.transform(np.zeros((3, 4)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = ae.impute(mixed(5).assign(city="Paris"))
    assert "not seen in training" in str(caught[0].message)
    assert set(out["city"]) <= {"Oslo", "Rome", "Lima"}
