"""PCA on the one-hot table, the linear reference of a mixed table's evaluation."""

from __future__ import annotations

import numpy as np
import pytest

from aekit.data.tables import Table
from aekit.runs.table_reference import OneHotPCA, one_hot

pd = pytest.importorskip("pandas")


def frame(n: int = 120, seed: int = 0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "x": rng.normal(50.0, 8.0, n),
            "city": rng.choice(["Oslo", "Rome", "Lima", "Pune"], n).astype(object),
            "smoker": rng.choice(["yes", "no"], n).astype(object),
            "visits": rng.poisson(3.0, n),
        }
    )
    df.loc[rng.random(n) < 0.1, "city"] = None
    return df


def test_full_rank_pca_gives_the_training_rows_back():
    df = frame()
    table = Table.fit(df, {"visits": "count"})
    packed = table.encode(df)
    width = one_hot(table, packed).shape[1]
    back = OneHotPCA(table, width).fit(packed).reconstruct(packed)
    C, seen = len(table.columns), packed[:, len(table.columns) :] > 0.5
    np.testing.assert_allclose(back[:, :C][seen], packed[:, :C][seen], atol=1e-8)


def test_fewer_components_lose_something_and_a_level_is_read_back_as_the_largest():
    df = frame()
    table = Table.fit(df, {"visits": "count"})
    packed = table.encode(df)
    back = OneHotPCA(table, 2).fit(packed).reconstruct(packed)
    assert not np.allclose(back[:, 0], packed[:, 0])
    city = table.names.index("city")
    assert set(np.unique(back[:, city])) <= set(range(4))
