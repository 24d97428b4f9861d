"""Vector quantisation: the code head of a VQ-VAE (van den Oord et al. 2017).

At every code position the encoder's output ``z_e`` (a vector of ``code_dim``
values) is replaced by its nearest codebook vector ``e_k``, ``k = argmin_j ‖z_e − e_j‖²``;
the code of an example is the grid (conv) or vector (MLP) of the indices ``k``.

- Gradients pass the quantiser straight through: the decoder's input is
  ``z_e + sg(e_k − z_e)``, whose value is ``e_k`` and whose gradient is the identity.
- The commitment loss ``β ‖z_e − sg(e_k)‖²`` (summed over a code's values, like the
  likelihood's terms) keeps the encoder near its codes.
- The codebook learns by exponential moving averages, not by gradients (van den Oord
  et al., appendix A.1): with ``n_k`` the batch's vectors assigned to code ``k`` and
  ``s_k`` their sum, ``N_k ← γ N_k + (1 − γ) n_k``, ``m_k ← γ m_k + (1 − γ) s_k`` and
  ``e_k = m_k / Ñ_k``, where ``Ñ_k = (N_k + ε) / (N + K ε) · N`` (``N = Σ_k N_k``) is
  Laplace-smoothed so that no count is zero.
- A code whose share ``N_k / N`` of the assignments falls below
  ``restart_threshold / K`` is dead: it restarts at an encoder output of the batch
  drawn at random (Dhariwal et al. 2020), with the mean count. The codebook starts
  the same way, at encoder outputs of the first training batch.
- Residual quantisation (Zeghidour et al. 2021): ``levels`` codebooks in sequence,
  each quantising what the ones before it left; the code is their sum and each
  position has one index per level.

The codebooks are buffers: the optimiser never touches them, checkpoints and saved
models carry them, and under DDP rank 0's are broadcast every step.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from aekit.core.heads import CodeDistribution


@dataclass
class QuantisedCode(CodeDistribution):
    """The code of a batch: ``mean`` the quantised vectors, flattened (straight-through
    gradients); ``indices`` of shape (n, *grid, levels); ``penalty`` the weighted
    commitment loss; ``parts`` what it reports (``commitment``, ``perplexity``,
    ``codebook_usage``)."""

    indices: torch.Tensor | None = None


class Codebook(nn.Module):
    """One codebook of ``size`` vectors of ``dim`` values, updated by EMA (see module doc)."""

    def __init__(
        self, size: int, dim: int, decay: float, restart_threshold: float, eps: float = 1e-5
    ) -> None:
        super().__init__()
        self.size, self.dim = size, dim
        self.decay, self.restart_threshold, self.eps = decay, restart_threshold, eps
        self.register_buffer("vectors", torch.randn(size, dim))  # until the first batch
        self.register_buffer("counts", torch.zeros(size))  # N_k
        self.register_buffer("sums", torch.zeros(size, dim))  # m_k
        self.register_buffer("started", torch.zeros((), dtype=torch.bool))

    def nearest(self, z: torch.Tensor) -> torch.Tensor:
        """Index of the nearest code of each row of ``z`` (N, dim)."""
        v = self.vectors
        distances = (z * z).sum(1, keepdim=True) - 2 * z @ v.T + (v * v).sum(1)
        return distances.argmin(1)

    def alive(self) -> torch.Tensor:
        """Which codes get at least ``restart_threshold / K`` of the assignments."""
        total = self.counts.sum()
        return (self.counts > 0) & (self.counts >= self.restart_threshold * total / self.size)

    @torch.no_grad()
    def start(self, z: torch.Tensor) -> None:
        """Start every code at a random row of the first batch ``z``, counts fair."""
        self._restart(z, torch.ones_like(self.counts, dtype=torch.bool), len(z) / self.size)
        self.started.fill_(True)

    @torch.no_grad()
    def update(self, z: torch.Tensor, indices: torch.Tensor) -> None:
        """One EMA step on the batch ``z`` (N, dim) assigned to ``indices``; then the
        restart of dead codes."""
        one_hot = F.one_hot(indices, self.size).to(z.dtype)  # (N, K)
        gamma = self.decay
        self.counts.mul_(gamma).add_(one_hot.sum(0), alpha=1 - gamma)
        self.sums.mul_(gamma).add_(one_hot.T @ z, alpha=1 - gamma)
        total = self.counts.sum()
        smoothed = (self.counts + self.eps) / (total + self.size * self.eps) * total
        self.vectors.copy_(self.sums / smoothed.unsqueeze(1))
        self._restart(z, ~self.alive(), total / self.size)

    def _restart(self, z: torch.Tensor, dead: torch.Tensor, count: float | torch.Tensor) -> None:
        """Move the ``dead`` codes to random rows of ``z`` with EMA count ``count``."""
        picks = z[torch.randint(len(z), (self.size,), device=z.device)]
        mask = dead.unsqueeze(1)
        self.vectors.copy_(torch.where(mask, picks, self.vectors))
        self.sums.copy_(torch.where(mask, picks * count, self.sums))
        self.counts.copy_(torch.where(dead, count, self.counts))


class VectorQuantiser(nn.Module):
    """``levels`` codebooks of ``size`` vectors of ``dim`` values, in sequence (residual
    quantisation when ``levels > 1``)."""

    def __init__(
        self,
        size: int,
        dim: int,
        *,
        levels: int = 1,
        decay: float = 0.99,
        restart_threshold: float = 0.03,
    ) -> None:
        super().__init__()
        if size < 2:
            raise ValueError(f"codebook_size must be at least 2; got {size}.")
        self.books = nn.ModuleList(
            Codebook(size, dim, decay, restart_threshold) for _ in range(levels)
        )

    def forward(
        self, z: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """Quantise the rows of ``z`` (N, dim): the quantised rows (no gradient), the
        indices (N, levels), and statistics of the assignments, each the mean over
        levels: ``perplexity`` (``exp`` of the entropy of the codes' frequencies, at
        most K) and ``codebook_usage`` (the share of codes assigned at least once,
        at most N / K)."""
        learn = self.training and torch.is_grad_enabled()
        residual = z.detach()
        quantised = torch.zeros_like(residual)
        indices, perplexities, usages = [], [], []
        for book in self.books:
            starts = learn and not bool(book.started)
            if starts:
                book.start(residual)
            k = book.nearest(residual)
            q = book.vectors[k]  # a copy: the update below does not change it
            if learn and not starts:
                book.update(residual, k)
            quantised, residual = quantised + q, residual - q
            indices.append(k)
            p = torch.bincount(k, minlength=book.size).float() / len(k)
            perplexities.append(torch.exp(-(p * torch.log(p.clamp(min=1e-12))).sum()))
            usages.append((p > 0).float().mean())
        stats = {
            "perplexity": torch.stack(perplexities).mean(),
            "codebook_usage": torch.stack(usages).mean(),
        }
        return quantised, torch.stack(indices, -1), stats

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        """The quantised vectors of ``indices`` (..., levels): (..., dim)."""
        return sum(book.vectors[indices[..., i]] for i, book in enumerate(self.books))


class QuantisingHead(nn.Module):
    """Encoder features → a grid of quantised code vectors, flattened for the decoder.

    Parameters
    ----------
    in_features : int
        Width of the encoder's (flattened) features.
    grid : sequence of int
        The code positions: ``(m,)`` for an MLP's vector of ``m`` indices, ``(h, w)``
        for a conv encoder's last feature map (then ``feature_shape`` is its
        ``(c, h, w)`` and a 1×1 convolution maps its channels to ``code_dim``).
    code_dim : int
        Values per code vector.
    codebook_size, levels, decay, restart_threshold, commitment
        Of the :class:`VectorQuantiser` and the commitment weight β.
    """

    stochastic = False
    log_var_layer = None  # a point mass has no variance

    def __init__(
        self,
        in_features: int,
        grid: Sequence[int],
        code_dim: int,
        codebook_size: int,
        *,
        feature_shape: Sequence[int] | None = None,
        levels: int = 1,
        decay: float = 0.99,
        restart_threshold: float = 0.03,
        commitment: float = 0.25,
    ) -> None:
        super().__init__()
        self.grid, self.code_dim = tuple(grid), code_dim
        self.latent_dim = code_dim * math.prod(self.grid)  # the decoder's input width
        self.feature_shape = None if feature_shape is None else tuple(feature_shape)
        if self.feature_shape is None:
            self.project: nn.Module = nn.Linear(in_features, self.latent_dim)
        else:
            self.project = nn.Conv2d(self.feature_shape[0], code_dim, 1)
        self.quantiser = VectorQuantiser(
            codebook_size,
            code_dim,
            levels=levels,
            decay=decay,
            restart_threshold=restart_threshold,
        )
        self.commitment = commitment

    def continuous(self, h: torch.Tensor) -> torch.Tensor:
        """The encoder outputs ``z_e``, one row per code position: (n · positions, dim)."""
        if self.feature_shape is None:
            return self.project(h).float().reshape(-1, self.code_dim)
        z = self.project(h.view(h.shape[0], *self.feature_shape)).float()  # (n, dim, h, w)
        return z.permute(0, 2, 3, 1).reshape(-1, self.code_dim)

    def flatten(self, rows: torch.Tensor, n: int) -> torch.Tensor:
        """Rows (n · positions, dim) as the decoder's input (n, latent_dim): position-
        major for an MLP, channel-major (``(dim, h, w)`` flattened) for a grid."""
        grid = rows.reshape(n, *self.grid, self.code_dim)
        if self.feature_shape is not None:
            grid = grid.permute(0, 3, 1, 2)
        return grid.reshape(n, self.latent_dim)

    def forward(self, h: torch.Tensor) -> QuantisedCode:
        n = len(h)
        z_e = self.continuous(h)
        quantised, indices, stats = self.quantiser(z_e)
        commitment = (z_e - quantised).square().sum() / n  # per example
        straight_through = z_e + (quantised - z_e).detach()
        parts = {"commitment": commitment.detach(), **stats}
        return QuantisedCode(
            self.flatten(straight_through, n),
            penalty=self.commitment * commitment,
            parts=parts,
            indices=indices.reshape(n, *self.grid, -1),
        )

    def decode_indices(self, indices: torch.Tensor) -> torch.Tensor:
        """The decoder's input (n, latent_dim) for ``indices`` of shape (n, *grid, levels)."""
        n = indices.shape[0]  # not len(): a traced export keeps the batch size free
        return self.flatten(self.quantiser.lookup(indices).reshape(-1, self.code_dim), n)


def code_counts(indices: np.ndarray, codebook_size: int, levels: int = 1) -> np.ndarray:
    """How often each code is used in ``indices`` (n, *code_shape), levels last when
    ``levels > 1``, per level: shape (levels, K)."""
    flat = np.asarray(indices).reshape(-1, levels)
    return np.stack([np.bincount(flat[:, j], minlength=codebook_size) for j in range(levels)])


def usage_and_perplexity(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per level of ``counts`` (levels, K): the share of codes used at least once, and
    the perplexity ``exp`` of the entropy of the codes' frequencies (at most K)."""
    usage = np.mean(counts > 0, axis=1)
    perplexity = []
    for row in counts:
        p = row[row > 0] / row.sum()
        perplexity.append(np.exp(-np.sum(p * np.log(p))))
    return usage, np.asarray(perplexity)
