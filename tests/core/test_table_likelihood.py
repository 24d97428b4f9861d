"""The mixed-table likelihood against torch.distributions, its masking, and the
encoder input and corruption of a table tensor."""

from __future__ import annotations

import math

import pytest
import torch
from torch import distributions as D

from aekit.core.tables import (
    ColumnSpec,
    MixedLikelihood,
    TableCorruption,
    TableInput,
)

COLUMNS = (
    ColumnSpec("x", "numeric", center=3.0, scale=2.0),
    ColumnSpec("c", "categorical", dtype="object", levels=("a", "b", "c")),
    ColumnSpec("b", "binary", dtype="object", levels=("no", "yes")),
    ColumnSpec("k", "count", dtype="int64", center=1.0, scale=0.5),
)


def table(values, observed=None):
    values = torch.tensor(values, dtype=torch.float32)
    observed = torch.ones_like(values) if observed is None else torch.tensor(observed).float()
    return torch.cat([values, observed], 1)


def example(n=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    values = torch.stack(
        [
            torch.randn(n, generator=g),
            torch.randint(0, 3, (n,), generator=g).float(),
            torch.randint(0, 2, (n,), generator=g).float(),
            torch.randint(0, 7, (n,), generator=g).float(),
        ],
        1,
    )
    lik = MixedLikelihood(COLUMNS)
    with torch.no_grad():
        lik.raw_log_var.fill_(math.log(0.3))
    params = torch.randn(n, lik.n_params, generator=g)
    return lik, params, torch.cat([values, torch.ones_like(values)], 1)


def test_each_column_kind_is_its_torch_distribution_in_nats():
    lik, params, x = example()
    got = lik.log_prob_columns(params, x)
    sigma = torch.exp(0.5 * lik.numeric_log_var())[0]
    # numeric: a Gaussian in the user's units, x = center + scale * standardised value
    user_x, user_mean = 3.0 + 2.0 * x[:, 0], 3.0 + 2.0 * params[:, 0]
    expected = D.Normal(user_mean, 2.0 * sigma).log_prob(user_x)
    torch.testing.assert_close(got[:, 0], expected)
    expected = D.Categorical(logits=params[:, 1:4]).log_prob(x[:, 1].long())
    torch.testing.assert_close(got[:, 1], expected)
    torch.testing.assert_close(got[:, 2], D.Bernoulli(logits=params[:, 4]).log_prob(x[:, 2]))
    rate = torch.exp(params[:, 5])
    torch.testing.assert_close(got[:, 3], D.Poisson(rate).log_prob(x[:, 3]))
    torch.testing.assert_close(lik.log_prob(params, x), got.sum(1))


@pytest.mark.parametrize("column", range(4))
def test_a_masked_cell_changes_neither_the_loss_nor_its_gradient(column):
    lik, params, x = example()
    x[0, 4 + column] = 0.0  # row 0's cell missing
    grads, losses = [], []
    for value in (0.0, 2.0, 1e6):
        x[0, column] = value
        p = params.clone().requires_grad_(True)
        lik.zero_grad()
        loss = -lik.log_prob(p, x).sum()
        loss.backward()
        losses.append(loss.detach())
        grads.append((p.grad.clone(), lik.raw_log_var.grad.clone()))
    assert losses[0] == losses[1] == losses[2]
    for g in grads[1:]:
        assert torch.equal(g[0], grads[0][0]) and torch.equal(g[1], grads[0][1])
    assert lik.log_prob_columns(params, x)[0, column] == 0


def test_the_mean_is_each_cells_most_likely_value():
    lik, params, _ = example()
    out = lik.mean(params)
    torch.testing.assert_close(out[:, 0], params[:, 0])
    assert torch.equal(out[:, 1], params[:, 1:4].argmax(1).float())
    assert torch.equal(out[:, 2], (params[:, 4] > 0).float())
    assert torch.equal(out[:, 3], torch.floor(torch.exp(params[:, 5])))
    assert torch.equal(out[:, 4:], torch.ones(len(out), 4))
    draws = lik.sample(params)
    assert set(draws[:, 1].tolist()) <= {0.0, 1.0, 2.0}


def test_the_excess_nll_is_the_cells_nats_above_its_likeliest_value():
    lik, params, x = example(n=50)
    excess = lik.excess_nll_columns(params, x)
    best = lik.log_prob_columns(params, lik.mean(params))
    torch.testing.assert_close(excess, best - lik.log_prob_columns(params, x))
    assert (excess >= 0).all() and excess.sum() > 0
    assert torch.equal(lik.excess_nll_columns(params, lik.mean(params)), torch.zeros(50, 4))
    x[:, 4:] = 0.0  # every cell missing: nothing to explain
    assert torch.equal(lik.excess_nll_columns(params, x), torch.zeros(50, 4))


def test_the_encoder_input_is_one_hot_with_missing_indicators():
    x = table([[1.5, 2.0, 1.0, 3.0], [0.0, 1.0, 0.0, 0.0]], [[1, 1, 1, 1], [0, 0, 1, 0]])
    inp = TableInput(COLUMNS)
    out = inp(x)
    assert inp.out_features == out.shape[1] == 1 + 3 + 1 + 1 + 4
    count = (math.log1p(3.0) - 1.0) / 0.5
    expected = [[1.5, 0, 0, 1, 1, count, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 1, 1, 0, 1]]
    torch.testing.assert_close(out, torch.tensor(expected))


def test_the_corruption_swaps_levels_and_keeps_missing_cells_missing():
    torch.manual_seed(0)
    x = table([[0.0, 1.0, 1.0, 2.0]] * 2000, [[1, 1, 1, 0]] * 2000)
    out = TableCorruption(COLUMNS, 0.3)(x)
    assert torch.equal(out[:, 4:], x[:, 4:])
    changed = (out[:, 1] != 1.0).float().mean()  # redrawn with p 0.3, to another level 2/3
    assert abs(float(changed) - 0.2) < 0.03
    assert set(out[:, 1].tolist()) <= {0.0, 1.0, 2.0} and set(out[:, 2].tolist()) <= {0.0, 1.0}
    assert 0.25 < float(out[:, 0].std()) < 0.35 and (out[:, 3] >= 0).all()
    assert torch.equal(TableCorruption(COLUMNS, 0.0)(x), x)
