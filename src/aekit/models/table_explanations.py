"""Which column makes a row of a mixed table an outlier: the gain of repairing it.

The outlier score of a row is its NLL at its mean code. Asking each column's share of
that NLL, or of its excess over the likeliest value of the reconstruction, asks the
reconstruction what the cell should be; but the reconstruction has seen the cell. An
autoencoder copies part of a corrupted value through, so the corrupted cell looks
fine and the columns it drags off look wrong (on Adult, the corrupted column came
first in 30-42% of corrupted rows). Hiding the cell instead (encoding the row with
it missing) asks a model trained on complete columns about inputs it never saw,
and did worse (14-33%).

A column's part here is what the row's score would lose if that one cell were set to
its best value: ``NLL(x) − min_v NLL(x with x_j = v) ≥ 0``, each ``x`` encoded and
decoded afresh, ``v`` running over every level of a categorical or binary column and,
for a numeric or count column, over its training quantiles
(:data:`aekit.data.tables.TRIED_AT`) and the cell's reconstruction. A corrupted cell
is the one whose repair makes the whole row plausible again.

The NLL is the model's own outlier score: at the mean code for an autoencoder; for a
VAE, whose score is its ELBO, minus the ELBO averaged over :data:`ELBO_DRAWS` code
draws, the same draws for a row and each of its repairs (common random numbers, so
that a gain is not the noise between two draws). At the mean code alone, the VAE's
gains left out the KL term and the code's spread, and named the corrupted Adult
column first in 48.0% of corrupted rows, against 51.4% so (BENCHMARKS.md); the cost
is one forward per draw.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from aekit.core.tables import ColumnSpec, MixedLikelihood

FALLBACK_GRID = tuple(x / 4 for x in range(-8, 9))  # standardised, for models saved without
ELBO_DRAWS = 8  # a VAE's ELBO per row and repair: the mean over this many seeded code draws


def tried_values(columns: Sequence[ColumnSpec]) -> list[torch.Tensor]:
    """The values each column's cell is tried at (besides its reconstruction)."""
    out = []
    for col in columns:
        if col.kind in ("categorical", "binary"):
            out.append(torch.arange(len(col.levels), dtype=torch.float32))
        elif col.quantiles:
            out.append(torch.tensor(col.quantiles, dtype=torch.float32))
        else:
            out.append(torch.tensor(FALLBACK_GRID if col.kind == "numeric" else ()))
    return out


def repair_gains(
    module: torch.nn.Module, tried: list[torch.Tensor], x: torch.Tensor
) -> torch.Tensor:
    """``NLL(x) − min_v NLL(x with x_j = v)`` per row and column of the table tensor
    ``x`` (n, 2C), float64, 0 at a missing cell; the NLL at the mean code, or for a
    stochastic code minus the ELBO over :data:`ELBO_DRAWS` seeded draws."""
    likelihood: MixedLikelihood = module.likelihood
    C = len(likelihood.columns)
    draws = None
    if module.encode(x[:1]).stochastic:
        seeded = torch.Generator().manual_seed(0)
        draws = torch.randn(ELBO_DRAWS, module.code_draws, generator=seeded).to(x)

    def nll(rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        params = module.decode(module.encode(rows).mean)
        if draws is None:
            return -likelihood.log_prob(params, rows), params
        return -torch.stack([module.elbo(rows, eps)[1] for eps in draws]).mean(0), params

    base, params = nll(x)
    fitted = likelihood.mean(params)[:, :C]
    gains = torch.zeros(len(x), C, dtype=torch.float64, device=x.device)
    for j in range(C):
        values = tried[j].to(x)
        candidates = torch.cat([values[:, None].expand(-1, len(x)), fitted[None, :, j]])
        repaired = x.repeat(len(candidates), 1)
        repaired[:, j] = candidates.reshape(-1)
        best = nll(repaired)[0].reshape(len(candidates), len(x)).amin(0)
        gain = (base - torch.minimum(base, best)).double()
        gains[:, j] = torch.where(x[:, C + j] > 0.5, gain, torch.zeros_like(gain))
    return gains
