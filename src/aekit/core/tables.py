"""Mixed tables in torch: one likelihood part whose decoder output is split per column.

A table of ``C`` columns reaches the model as one float tensor of shape ``(n, 2C)``:
each column's value in the first ``C`` entries and whether it was observed (1) or
missing (0) in the last ``C``. A value is, by the column's kind:

=============  =====================  ==========================  ===================
kind           value                  decoder output              likelihood
=============  =====================  ==========================  ===================
numeric        ``(x − center)/scale``  1 (the mean)               Gaussian, a learned
                                                                  σ per column
categorical    level index 0..K−1     K (logits)                  softmax
binary         level index 0 or 1     1 (logit)                   Bernoulli
count          the count itself       1 (log-rate)                Poisson
count_nb       the count itself       1 (log-mean)                negative binomial,
                                                                  a learned dispersion
                                                                  per column
=============  =====================  ==========================  ===================

:class:`MixedLikelihood` sums the log-probabilities of the observed cells, in nats
with every constant (the numeric columns in the user's units: the ``−log scale`` of
the standardisation is included); a missing cell contributes nothing, to the value
or to the gradient. :class:`TableInput` turns the same tensor into the encoder's
input (standardised numbers, one-hot levels, zero for a missing cell and one
missing-indicator per column); :class:`TableCorruption` is the denoising
corruption that suits each kind.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from aekit.core.gaussian import diagonal_log_density
from aekit.core.likelihoods import Likelihood

COLUMN_KINDS = ("numeric", "categorical", "binary", "count", "count_nb")
COUNT_KINDS = ("count", "count_nb")  # the encoder sees log(1 + k), standardised
MAX_LOG_RATE = 30.0  # a Poisson log-rate above this (a rate of 1e13) is clamped
SWAP_CAP = 0.5  # the largest share of levels the denoising corruption redraws


@dataclass(frozen=True)
class ColumnSpec:
    """One column of a table: its name, kind and what encodes it.

    ``levels``: the level strings of a categorical or binary column (index order);
    ``center``, ``scale``: a numeric column's standardisation, or for a count column
    that of ``log(1 + count)`` in the encoder's input; ``dtype``: the column's pandas
    dtype, restored in outputs; ``quantiles``: a numeric or count column's training
    quantiles in the model's units (standardised numbers, counts as they are), the
    values a cell is tried at when explaining a row (models saved before them have
    none).
    """

    name: str
    kind: str
    dtype: str = "float64"
    levels: tuple[str, ...] = ()
    center: float = 0.0
    scale: float = 1.0
    n_missing: int = 0
    quantiles: tuple[float, ...] = ()

    @property
    def n_params(self) -> int:
        """Decoder outputs of this column (also its width in the encoder's input)."""
        return len(self.levels) if self.kind == "categorical" else 1

    def to_dict(self) -> dict:
        return {**asdict(self), "levels": list(self.levels), "quantiles": list(self.quantiles)}

    @classmethod
    def from_dict(cls, d: dict) -> ColumnSpec:
        levels = tuple(str(v) for v in d.get("levels", ()))
        return cls(**{**d, "levels": levels, "quantiles": tuple(d.get("quantiles", ()))})


@dataclass
class _Layout:
    """Index tensors of each kind's columns (in the value block) and decoder outputs."""

    columns: Sequence[ColumnSpec]
    starts: list[int] = field(init=False)

    def __post_init__(self) -> None:
        self.starts, start = [], 0
        for col in self.columns:
            self.starts.append(start)
            start += col.n_params
        self.n_params = start

    def of(self, kind: str) -> tuple[list[int], list[int]]:
        cols = [i for i, c in enumerate(self.columns) if c.kind == kind]
        return cols, [self.starts[i] for i in cols]


def split_table(x: torch.Tensor, n_columns: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Values (zero where missing) and the observed mask (bool) of a table tensor."""
    values, observed = x[:, :n_columns], x[:, n_columns:] > 0.5
    return torch.where(observed, values, torch.zeros_like(values)), observed


class MixedLikelihood(Likelihood):
    """``log p(x|z) = Σ over observed cells of the column's log-probability``.

    The decoder outputs ``n_params`` values per example (see the module's table);
    ``params_per_value`` stays 1 because the split is by column, not by value. The
    Gaussian columns share one learned σ per column over the rows, bounded below
    by ``min_sigma`` (in standardised units), as in :class:`GaussianLearned`.
    """

    support = "table"

    def __init__(self, columns: Sequence[ColumnSpec], min_sigma: float = 1e-2) -> None:
        super().__init__()
        self.columns = tuple(columns)
        self.layout = _Layout(self.columns)
        self.n_params = self.layout.n_params
        self.min_log_var = 2.0 * math.log(min_sigma)
        num, _ = self.layout.of("numeric")
        self.raw_log_var = nn.Parameter(torch.zeros(len(num)))
        log_scale = [math.log(self.columns[i].scale) for i in num]
        self.register_buffer("log_scale", torch.tensor(log_scale, dtype=torch.float32))
        nb, _ = self.layout.of("count_nb")
        self.raw_dispersion = nn.Parameter(torch.zeros(len(nb)))  # r = softplus(raw)

    def nb_total_count(self) -> torch.Tensor:
        """The negative binomial columns' ``r`` (variance ``μ + μ²/r``), above 1e-4."""
        return F.softplus(self.raw_dispersion) + 1e-4

    def numeric_log_var(self) -> torch.Tensor:
        """The numeric columns' log σ² in standardised units, bounded below."""
        return self.min_log_var + F.softplus(self.raw_log_var - self.min_log_var)

    def log_prob_columns(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``log p(x_j | z)`` of every cell, shape (n, C); 0 at a missing cell."""
        C = len(self.columns)
        values, observed = split_table(x, C)
        out: list[torch.Tensor] = [values.new_zeros(len(x))] * C
        cols, at = self.layout.of("numeric")
        if cols:
            mean = params[:, at]
            log_var = self.numeric_log_var().expand_as(mean)
            lp = diagonal_log_density(values[:, cols], mean, log_var) - self.log_scale
            for j, c in enumerate(cols):
                out[c] = lp[:, j]
        cols, at = self.layout.of("binary")
        if cols:
            lp = -F.binary_cross_entropy_with_logits(
                params[:, at], values[:, cols], reduction="none"
            )
            for j, c in enumerate(cols):
                out[c] = lp[:, j]
        cols, at = self.layout.of("count")
        if cols:
            log_rate = params[:, at].clamp(max=MAX_LOG_RATE)
            k = values[:, cols]
            lp = k * log_rate - torch.exp(log_rate) - torch.lgamma(k + 1)
            for j, c in enumerate(cols):
                out[c] = lp[:, j]
        cols, at = self.layout.of("count_nb")
        if cols:
            log_mean, k = params[:, at].clamp(max=MAX_LOG_RATE), values[:, cols]
            r = self.nb_total_count().expand_as(log_mean)
            log_total = torch.logaddexp(torch.log(r), log_mean)  # log(r + μ)
            lp = (
                torch.lgamma(k + r) - torch.lgamma(r) - torch.lgamma(k + 1)
                + r * (torch.log(r) - log_total) + k * (log_mean - log_total)
            )  # fmt: skip
            for j, c in enumerate(cols):
                out[c] = lp[:, j]
        for c, start in zip(*self.layout.of("categorical"), strict=True):
            logits = params[:, start : start + self.columns[c].n_params]
            chosen = logits.gather(1, values[:, c : c + 1].long()).squeeze(1)
            out[c] = chosen - torch.logsumexp(logits, 1)
        lp = torch.stack(out, 1)
        # where(), not a product: a masked cell's gradient is exactly 0, never 0 · inf
        return torch.where(observed, lp, torch.zeros_like(lp))

    def log_prob(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.log_prob_columns(params, x).sum(-1)

    def excess_nll_columns(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """How many nats less likely each observed cell is than the likeliest value of
        its column (:meth:`mean`) under the same ``params``: ``log p(x̂_j) − log p(x_j)``,
        shape (n, C), at least 0, 0 at a missing cell. Free of the constants that
        make a column's NLL large however well it is predicted (``log scale`` of a
        wide numeric column, a spread of many levels)."""
        C = len(self.columns)
        best = self.log_prob_columns(params, self.mean(params))
        excess = best - self.log_prob_columns(params, x)
        observed = x[:, C:] > 0.5
        return torch.where(observed, excess.clamp(min=0.0), torch.zeros_like(excess))

    def squared_error(self, params: torch.Tensor, x: torch.Tensor) -> None:
        """No MSE over a mixed table: its values are level indices and standardised
        numbers side by side (training watches the NLL instead)."""
        return None

    def _complete(self, values: torch.Tensor) -> torch.Tensor:
        return torch.cat([values, torch.ones_like(values)], 1)

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        """The most likely value of every cell, as a complete table tensor: the mean of
        a numeric column (a Gaussian's mode), the likeliest level, the Poisson mode
        ``floor(rate)``, the negative binomial's ``floor(μ (r − 1) / r)`` (0 for r ≤ 1)."""
        C = len(self.columns)
        values = params.new_zeros(len(params), C)
        cols, at = self.layout.of("numeric")
        values[:, cols] = params[:, at]
        cols, at = self.layout.of("binary")
        values[:, cols] = (params[:, at] > 0).to(params.dtype)
        cols, at = self.layout.of("count")
        values[:, cols] = torch.floor(torch.exp(params[:, at].clamp(max=MAX_LOG_RATE)))
        cols, at = self.layout.of("count_nb")
        r = self.nb_total_count()
        mu = torch.exp(params[:, at].clamp(max=MAX_LOG_RATE))
        values[:, cols] = torch.floor((mu * (r - 1) / r).clamp(min=0.0))  # the mode
        for c, start in zip(*self.layout.of("categorical"), strict=True):
            logits = params[:, start : start + self.columns[c].n_params]
            values[:, c] = logits.argmax(1).to(params.dtype)
        return self._complete(values)

    def sample(self, params: torch.Tensor) -> torch.Tensor:
        """A draw of every cell from p(x|z), as a complete table tensor."""
        C = len(self.columns)
        values = params.new_zeros(len(params), C)
        cols, at = self.layout.of("numeric")
        sigma = torch.exp(0.5 * self.numeric_log_var())
        values[:, cols] = params[:, at] + sigma * torch.randn_like(params[:, at])
        cols, at = self.layout.of("binary")
        values[:, cols] = torch.bernoulli(torch.sigmoid(params[:, at]))
        cols, at = self.layout.of("count")
        values[:, cols] = torch.poisson(torch.exp(params[:, at].clamp(max=MAX_LOG_RATE)))
        cols, at = self.layout.of("count_nb")
        if cols:
            r = self.nb_total_count().expand_as(params[:, at])
            logits = params[:, at].clamp(max=MAX_LOG_RATE) - torch.log(r)
            values[:, cols] = torch.distributions.NegativeBinomial(r, logits=logits).sample()
        for c, start in zip(*self.layout.of("categorical"), strict=True):
            logits = params[:, start : start + self.columns[c].n_params]
            values[:, c] = torch.multinomial(torch.softmax(logits, 1), 1).squeeze(1).float()
        return self._complete(values)


class TableInput(nn.Module):
    """The encoder's input from a table tensor: per column its standardised number
    (counts as ``log(1 + k)``, standardised), its one-hot level, or its 0/1 flag, 0
    where missing, then one missing-indicator per column. Width ``out_features``."""

    def __init__(self, columns: Sequence[ColumnSpec]) -> None:
        super().__init__()
        self.columns = tuple(columns)
        self.out_features = _Layout(self.columns).n_params + len(self.columns)
        center = [c.center if c.kind in ("numeric", *COUNT_KINDS) else 0.0 for c in self.columns]
        scale = [c.scale if c.kind in ("numeric", *COUNT_KINDS) else 1.0 for c in self.columns]
        self.register_buffer("count_center", torch.tensor(center, dtype=torch.float32))
        self.register_buffer("count_scale", torch.tensor(scale, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values, observed = split_table(x.flatten(1), len(self.columns))
        pieces = []
        for j, col in enumerate(self.columns):
            v, seen = values[:, j], observed[:, j].to(values.dtype)
            if col.kind == "categorical":
                pieces.append(F.one_hot(v.long(), col.n_params).to(v.dtype) * seen[:, None])
            elif col.kind in COUNT_KINDS:
                scaled = (torch.log1p(v) - self.count_center[j]) / self.count_scale[j]
                pieces.append((scaled * seen)[:, None])
            else:  # numeric values come standardised; binary ones as 0 / 1
                pieces.append(v[:, None])
        pieces.append(1.0 - observed.to(values.dtype))
        return torch.cat(pieces, 1)


class TableEncoder(nn.Module):
    """:class:`TableInput` followed by an encoder network (``out_features`` its own)."""

    def __init__(self, table_input: TableInput, body: nn.Module) -> None:
        super().__init__()
        self.table_input, self.body = table_input, body
        self.out_features = body.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.table_input(x))


class TableCorruption(nn.Module):
    """Denoising corruption by kind, drawn afresh at every call (missing cells stay so):
    Gaussian noise of σ on the standardised numbers (on ``log(1 + k)`` for counts, in
    its standardised units, and back); categorical and binary cells redrawn uniformly
    from their levels with probability ``min(σ, 0.5)``."""

    def __init__(self, columns: Sequence[ColumnSpec], std: float = 0.0) -> None:
        super().__init__()
        self.columns = tuple(columns)
        self.std = float(std)

    def forward(self, x: torch.Tensor, std: float | None = None) -> torch.Tensor:
        std = self.std if std is None else float(std)
        if std <= 0:
            return x
        C = len(self.columns)
        values = x[:, :C].clone()
        swap = min(std, SWAP_CAP)
        for j, col in enumerate(self.columns):
            v = values[:, j]
            if col.kind == "numeric":
                values[:, j] = v + std * torch.randn_like(v)
            elif col.kind in COUNT_KINDS:
                noisy = torch.log1p(v) + std * col.scale * torch.randn_like(v)
                values[:, j] = torch.expm1(noisy).clamp(min=0.0)
            else:
                redraw = torch.rand_like(v) < swap
                drawn = torch.randint_like(v, len(col.levels))
                values[:, j] = torch.where(redraw, drawn, v)
        return torch.cat([values, x[:, C:]], 1)

    def extra_repr(self) -> str:
        return f"std={self.std}"
