"""An autoregressive prior over a VQ-VAE's discrete codes: a small causal transformer.

A code is a sequence of ``L`` indices into codebooks of ``K`` vectors: the (h, w)
grid of a conv model read in raster order, the vector of an MLP model, and with
residual quantisation each position's ``levels`` indices in turn (coarse level
first). The prior factorises it exactly,

    p(c) = Π_t p(c_t | c_<t),

each conditional a softmax over the ``K`` codes, so ``log p(c)`` is a normalised
log-probability in nats.

Why a causal transformer rather than a PixelCNN: one network serves all three code
layouts (grids, vectors, residual levels are all sequences of length ``L``), its
receptive field is the whole past with no blind spot (a plain masked-conv PixelCNN
misses the pixels up and right of each position, which gated PixelCNN fixes with
two stacks), and the codes are short (49 positions for a 7×7 grid), so attention
over all of them costs little and sampling ``L`` steps is quick without a cache.
The layers are PyTorch's own (``nn.TransformerEncoderLayer``, pre-norm, no
dropout); a learned embedding per sequence position tells it where in the grid and
at which level each index sits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class CodePrior(nn.Module):
    """``p(c) = Π_t p(c_t | c_<t)`` over sequences of ``length`` indices in ``0..K−1``.

    Parameters
    ----------
    length : int
        Indices per code ``L`` (positions × levels).
    codebook_size : int
        ``K``.
    levels : int, default=1
        Codebooks in sequence: index ``t`` belongs to level ``t % levels``, whose
        codes get embeddings of their own.
    width, layers, heads : int
        The transformer's model width, its number of layers and attention heads.

    Examples
    --------
    >>> import torch
    >>> prior = CodePrior(length=4, codebook_size=3, width=8, layers=1, heads=2)
    >>> codes = prior.sample(5, torch.Generator().manual_seed(0))
    >>> codes.shape, prior.log_prob(codes).shape
    (torch.Size([5, 4]), torch.Size([5]))
    """

    def __init__(
        self,
        length: int,
        codebook_size: int,
        *,
        levels: int = 1,
        width: int = 64,
        layers: int = 2,
        heads: int = 4,
    ) -> None:
        super().__init__()
        self.length, self.codebook_size, self.levels = length, codebook_size, levels
        # one embedding per (level, code), and a start token that begins every sequence
        self.tokens = nn.Embedding(levels * codebook_size + 1, width)
        self.positions = nn.Parameter(0.02 * torch.randn(length, width))
        layer = nn.TransformerEncoderLayer(
            width, heads, 4 * width, dropout=0.0, batch_first=True, norm_first=True
        )
        self.body = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.out = nn.Linear(width, codebook_size)
        offsets = (torch.arange(length) % levels) * codebook_size
        self.register_buffer("offsets", offsets, persistent=False)
        causal = nn.Transformer.generate_square_subsequent_mask(length)
        self.register_buffer("causal", causal, persistent=False)

    def logits(self, codes: torch.Tensor) -> torch.Tensor:
        """The logits of every conditional ``p(c_t | c_<t)``: shape (n, L, K) for codes
        (n, L); position ``t`` reads only ``c_<t``."""
        n = len(codes)
        start = torch.full((n, 1), self.levels * self.codebook_size, device=codes.device)
        shifted = torch.cat([start, (codes + self.offsets)[:, :-1]], dim=1)
        h = self.tokens(shifted) + self.positions
        h = self.body(h, mask=self.causal, is_causal=True)
        return self.out(self.norm(h)).float()

    def log_prob(self, codes: torch.Tensor) -> torch.Tensor:
        """``log p(c)`` of each code (n, L) in nats: shape (n,)."""
        log_p = F.log_softmax(self.logits(codes), dim=-1)
        return log_p.gather(-1, codes.unsqueeze(-1)).squeeze(-1).sum(-1)

    def forward(self, codes: torch.Tensor) -> dict[str, torch.Tensor]:
        """The training loop's parts for a batch of codes: ``loss`` and ``nll``, the
        mean ``−log p(c)`` per code in nats."""
        nll = -self.log_prob(codes).mean()
        return {"loss": nll, "nll": nll}

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator, temperature: float = 1.0) -> torch.Tensor:
        """``n`` codes (n, L) drawn index by index from ``p(c_t | c_<t)^(1/T)``,
        renormalised (``T = temperature > 0``; as ``T → 0`` each draw is the most
        likely index). The draws use ``generator`` (a CPU generator) alone."""
        device = self.offsets.device
        codes = torch.zeros((n, self.length), dtype=torch.long, device=device)
        for t in range(self.length):  # position t reads codes < t: later zeros are unseen
            probs = F.softmax(self.logits(codes)[:, t] / temperature, dim=-1).cpu()
            codes[:, t] = torch.multinomial(probs, 1, generator=generator).squeeze(1).to(device)
        return codes
