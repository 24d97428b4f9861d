"""The negative binomial count column (kind "count_nb"): its log-probability against
torch.distributions in nats, its masking, its mode, and its declaration."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import distributions as D

from aekit.core.tables import ColumnSpec, MixedLikelihood
from aekit.data.tables import Table

COLUMNS = (
    ColumnSpec("k", "count_nb", dtype="int64", center=1.0, scale=0.5),
    ColumnSpec("c", "categorical", dtype="object", levels=("a", "b")),
)


def example(n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    lik = MixedLikelihood(COLUMNS)
    with torch.no_grad():
        lik.raw_dispersion.fill_(0.7)
    counts = torch.randint(0, 40, (n,), generator=g).float()
    levels = torch.randint(0, 2, (n,), generator=g).float()
    values = torch.stack([counts, levels], 1)
    params = 2.0 * torch.randn(n, lik.n_params, generator=g)
    return lik, params, torch.cat([values, torch.ones_like(values)], 1)


def test_the_log_probability_is_torchs_negative_binomial_with_all_constants():
    lik, params, x = example()
    r = lik.nb_total_count()[0]
    mean = torch.exp(params[:, 0])
    expected = D.NegativeBinomial(r, logits=torch.log(mean / r)).log_prob(x[:, 0])
    torch.testing.assert_close(lik.log_prob_columns(params, x)[:, 0], expected)
    assert torch.all(expected < 0)  # a probability of an integer, not a density


def test_a_masked_count_changes_neither_the_loss_nor_its_gradient():
    lik, params, x = example()
    x[0, 2] = 0.0  # row 0's count missing
    seen = []
    for value in (0.0, 5.0, 1e6):
        x[0, 0] = value
        p = params.clone().requires_grad_(True)
        lik.zero_grad()
        loss = -lik.log_prob(p, x).sum()
        loss.backward()
        seen.append((loss.detach(), p.grad.clone(), lik.raw_dispersion.grad.clone()))
    for later in seen[1:]:
        assert all(torch.equal(a, b) for a, b in zip(seen[0], later, strict=True))
    assert lik.log_prob_columns(params, x)[0, 0] == 0


def test_the_mean_is_the_likeliest_count():
    lik, params, _ = example()
    params[:, 0] = torch.linspace(-1.0, 3.0, len(params))
    r = lik.nb_total_count()[0]
    ks = torch.arange(200.0)[:, None]
    pmf = D.NegativeBinomial(r, logits=params[:, 0] - torch.log(r)).log_prob(ks)
    assert torch.equal(lik.mean(params)[:, 0], pmf.argmax(0).float())
    assert (lik.sample(params)[:, 0] >= 0).all()


def test_a_column_declared_count_nb_keeps_its_kind_and_refuses_fractions():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"k": np.arange(20) % 7, "x": np.linspace(0.0, 1.0, 20)})
    table = Table.fit(df, {"k": "count_nb"})
    assert table.columns[0].kind == "count_nb" and "negative binomial" in table.summary()[0]
    with pytest.raises(Exception, match="not non-negative integers"):
        Table.fit(df.assign(k=df["k"] + 0.5), {"k": "count_nb"})


def test_an_autoencoder_fits_a_negative_binomial_column_and_saves_its_dispersion(tmp_path):
    pd = pytest.importorskip("pandas")
    import aekit

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"k": rng.negative_binomial(2, 0.2, 200), "x": rng.normal(size=200)})
    ae = aekit.Autoencoder(1, hidden=(8,), epochs=3, column_types={"k": "count_nb"},
                           random_state=0, n_threads=1).fit(df)  # fmt: skip
    again = aekit.load(ae.save(tmp_path / "m"))
    assert again.table_.columns[0].kind == "count_nb"
    torch.testing.assert_close(again.module_.likelihood.raw_dispersion,
                               ae.module_.likelihood.raw_dispersion)  # fmt: skip
    np.testing.assert_allclose(again.score_samples(df), ae.score_samples(df))
