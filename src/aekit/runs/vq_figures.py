"""The report figures of a VQ-VAE run: how it uses its codebook, and samples of its
code prior. Its codes are indices, which have no paths or traversals between them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from aekit.core.quantisation import code_counts, usage_and_perplexity
from aekit.runs import figures as F


def vq_figures(model: Any, X: np.ndarray, folder: Path, seed: int) -> list[tuple[str, Path, str]]:
    """``(title, path, caption)`` of each figure, drawn into ``folder``."""
    counts = code_counts(model.transform(X), model.codebook_size, model.levels)
    usage, perplexity = usage_and_perplexity(counts)
    path = F.codebook_usage(counts, usage, perplexity, folder / "codebook_usage.png")
    caption = (
        f"How many of the {counts[0].sum()} code positions of {len(X)} examples each code "
        "takes, codes sorted by use; a codebook used evenly is flat."
    )
    out = [("Codebook usage", path, caption)]
    if model.prior_ is not None:
        samples = model.sample(64, random_state=seed)
        path = F.sample_grid(samples, folder / "samples_prior.png", data=X[:2000])
        caption = (
            "Codes drawn index by index from the autoregressive code prior fitted to the "
            "training codes, decoded (temperature 1)."
        )
        out.append(("Samples: code prior", path, caption))
    return out
