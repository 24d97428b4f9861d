"""Column kinds inferred from DataFrames and CSVs, their refusals, and the table
encoding round trip."""

from __future__ import annotations

import numpy as np
import pytest

from aekit.data.tables import Table, is_table
from aekit.errors import DataError

pd = pytest.importorskip("pandas")


def frame(n=40, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "height": rng.normal(170, 10, n),
            "city": rng.choice(["Oslo", "Rome", "Lima"], n).astype(object),
            "smoker": rng.choice(["no", "yes"], n).astype(object),
            "flag": rng.random(n) < 0.5,
            "visits": rng.poisson(2.0, n),
            "age": rng.integers(20, 90, n),
            "grade": pd.Categorical(rng.choice(["A", "B", "C"], n)),
        }
    )


def kinds(table):
    return {c.name: c.kind for c in table.columns}


def test_kinds_are_inferred_per_column():
    table = Table.fit(frame())
    assert kinds(table) == {
        "height": "numeric",
        "city": "categorical",
        "smoker": "binary",
        "flag": "binary",
        "visits": "count",  # Poisson draws: a Poisson fits them better than a Gaussian
        "age": "numeric",  # uniform integers 20..89: a Gaussian fits them better
        "grade": "categorical",
    }
    assert table.columns[1].levels == ("Lima", "Oslo", "Rome")
    lines = table.summary()
    assert len(lines) == 7 and lines[1].startswith("city: categorical, 3 levels (Lima, Oslo")


def test_question_marks_empty_cells_none_and_nan_are_missing():
    df = pd.DataFrame(
        {"c": ["a", "?", "", None, " b ", np.nan, "a"], "x": [1.0, np.nan, 2, 3, 4, 5, 6]}
    )
    table = Table.fit(df)
    assert table.columns[0].levels == ("a", "b") and table.columns[0].n_missing == 4
    packed = table.encode(df)
    assert packed[:, 2].tolist() == [1, 0, 0, 0, 1, 0, 1]  # observed mask of c
    assert packed[:, 3].tolist() == [1, 0, 1, 1, 1, 1, 1]
    assert is_table(df) and not is_table(df[["x"]].fillna(0)) and not is_table(np.zeros((3, 2)))


def test_column_types_override_inference_and_round_trip_dtypes_and_levels():
    df = frame()
    table = Table.fit(df, {"age": "categorical", "visits": "numeric"})
    assert kinds(table)["age"] == "categorical" and kinds(table)["visits"] == "numeric"
    back = table.decode(table.encode(df), index=df.index)
    assert list(back.columns) == list(df.columns)
    assert back.dtypes.equals(df.dtypes)
    np.testing.assert_allclose(back["height"], df["height"], rtol=1e-5)
    for name in ("city", "smoker", "flag", "visits", "age", "grade"):
        assert back[name].tolist() == df[name].tolist(), name


def test_a_saved_table_reads_back_the_same():
    table = Table.fit(frame())
    again = Table.from_dict(table.to_dict())
    assert again.columns == table.columns


@pytest.mark.parametrize(
    ("df", "types", "message"),
    [
        (pd.DataFrame({"c": ["a"] * 5, "x": range(5)}), None, "single level"),
        (pd.DataFrame({"c": ["?"] * 5, "x": range(5)}), None, "no observed value"),
        (pd.DataFrame({"id": [f"u{i}" for i in range(6)], "x": range(6)}), None, "identifier"),
        (pd.DataFrame({"x": [-1, 2, 3]}), {"x": "count"}, "not non-negative integers"),
        (pd.DataFrame({"c": ["a", "b", "c"]}), {"c": "numeric"}, "holds text"),
        (pd.DataFrame({"c": ["a", "b", "c"]}), {"c": "ordinal"}, "must be one of"),
        (pd.DataFrame({"c": ["a", "b", "c"]}), {"d": "numeric"}, "not in the table"),
    ],
)
def test_unusable_columns_are_refused_in_one_sentence(df, types, message):
    with pytest.raises(DataError, match=message) as info:
        Table.fit(df, types)
    assert str(info.value).count(". ") == 0 and str(info.value).endswith(".")


def test_an_unseen_level_is_taken_as_missing_with_a_warning():
    table = Table.fit(pd.DataFrame({"c": ["a", "b", "a"], "x": [1.0, 2.0, 3.0]}))
    with pytest.warns(UserWarning, match="'c' has 1 cell.* not seen in training"):
        packed = table.encode(pd.DataFrame({"c": ["a", "z"], "x": [1.0, 2.0]}))
    assert packed[:, 2].tolist() == [1, 0]
    with pytest.raises(DataError, match="lacks the column"):
        table.encode(pd.DataFrame({"c": ["a"]}))


def test_the_adult_csv_read_with_pandas_has_the_kinds_its_readme_gives(adult_csv):
    df = pd.read_csv(adult_csv, nrows=2000).drop(columns="class")
    table = Table.fit(df)
    numeric = ["age", "fnlwgt", "education-num", "capital-gain", "capital-loss", "hours-per-week"]
    assert [c.name for c in table.columns if c.kind == "numeric"] == numeric
    assert kinds(table)["sex"] == "binary" and kinds(table)["workclass"] == "categorical"
    assert table.columns[1].n_missing > 0 and "?" not in table.columns[1].levels
