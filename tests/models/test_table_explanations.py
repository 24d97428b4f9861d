"""feature_scores on a mixed table name the corrupted cell of a row, even where the
autoencoder can copy the corrupted value through its code (the reason the shares of
each cell's own excess NLL did not: aekit.models.table_explanations)."""

from __future__ import annotations

import numpy as np
import pytest

import aekit

pd = pytest.importorskip("pandas")


def linked(n: int, seed: int):
    """Four columns decided by one hidden group, and a fifth column of noise."""
    rng = np.random.default_rng(seed)
    group = rng.integers(0, 4, n)
    return pd.DataFrame(
        {
            "region": np.array(["north", "south", "east", "west"], dtype=object)[group],
            "lang": np.array(["no", "it", "fi", "pt"], dtype=object)[group],
            "income": 10.0 * group + rng.normal(size=n),
            "coast": np.array(["yes", "no", "no", "yes"], dtype=object)[group],
            "height": rng.normal(170.0, 10.0, n),
        }
    )


def swap_cells(df, rows, seed: int):
    """``df`` with one cell of each row in ``rows`` (the linked columns in turn)
    replaced by another row's different value in that column; the columns hit."""
    rng = np.random.default_rng(seed)
    bad, hit = df.copy(), []
    names = ["region", "lang", "income", "coast"]
    for i, row in enumerate(rows):
        name = names[i % len(names)]
        donors = np.flatnonzero(df[name].to_numpy() != df.loc[row, name])
        bad.loc[row, name] = df.loc[rng.choice(donors), name]
        hit.append(df.columns.get_loc(name))
    return bad, np.array(hit)


def test_the_corrupted_column_is_the_top_share_though_the_code_could_copy_it():
    # a code of 8 numbers for 4 linked columns: room to copy a corrupted cell through
    # (shares of each cell's own excess NLL named the corrupted column in 26 of 40)
    ae = aekit.Autoencoder(
        8, hidden=(64, 32), epochs=60, lr=1e-2, batch_size=64, random_state=0, n_threads=1
    ).fit(linked(600, 0))
    test = linked(200, 1)
    rows = np.random.default_rng(2).choice(len(test), 40, replace=False)
    bad, hit = swap_cells(test, rows, 3)
    shares = ae.feature_scores(bad).to_numpy()
    top1 = float((shares[rows].argmax(1) == hit).mean())
    assert top1 >= 0.9, top1
    np.testing.assert_allclose(shares[rows].sum(1), 1.0)


def test_a_vae_explains_its_own_score_the_elbo_over_seeded_draws():
    # the gain of repair is in the score the VAE ranks rows by, minus its ELBO (the
    # mean over the same seeded code draws for a row and each repair), not the NLL
    # at the mean code that leaves out the KL term and the code's spread
    import torch

    from aekit.models.table_explanations import ELBO_DRAWS, repair_gains, tried_values

    df = linked(200, 0)
    vae = aekit.VAE(2, hidden=(16,), epochs=3, random_state=0, n_threads=1).fit(df)
    module, table = vae.module_, vae.table_
    x = torch.as_tensor(table.encode(df.head(20)))
    with torch.no_grad():
        gains = repair_gains(module, tried_values(table.columns), x)
        draws = torch.randn(
            ELBO_DRAWS, module.code_draws, generator=torch.Generator().manual_seed(0)
        )

        def minus_elbo(rows):
            return -torch.stack([module.elbo(rows, eps)[1] for eps in draws]).mean(0)

        j = table.names.index("region")
        repaired = []
        for level in range(len(table.columns[j].levels)):
            rows = x.clone()
            rows[:, j] = level
            repaired.append(minus_elbo(rows))
        base = minus_elbo(x)
        expected = (base - torch.minimum(base, torch.stack(repaired).amin(0))).double()
    np.testing.assert_allclose(gains[:, j].numpy(), expected.numpy(), rtol=1e-4, atol=1e-4)
