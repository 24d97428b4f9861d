"""Figures, saved as PNG with matplotlib's Agg backend (imported only when drawing)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def as_images(X: np.ndarray) -> np.ndarray | None:
    """Examples as displayable images (n, H, W) or (n, H, W, 3); None for vectors."""
    if X.ndim == 3:
        return X
    if X.ndim == 4 and X.shape[1] == 1:
        return X[:, 0]
    if X.ndim == 4 and X.shape[1] == 3:
        return X.transpose(0, 2, 3, 1)
    if X.ndim == 4:
        return X[:, 0]
    return None


def image_rows(
    rows: Sequence[np.ndarray],
    labels: Sequence[str],
    path: str | Path,
    *,
    title: str | None = None,
) -> Path:
    """Draw each array of ``rows`` as one row of a grid, labelled on the left.

    Images are shown in grey (or colour) clipped to [0, 1]; vectors are shown as
    heat-map strips, one example per row of the strip, on a shared colour scale.
    """
    plt = _pyplot()
    path = Path(path)
    images = [as_images(np.asarray(r)) for r in rows]
    if all(im is not None for im in images):
        n = max(len(im) for im in images)
        fig, axes = plt.subplots(
            len(rows), n, figsize=(0.9 * n + 1.2, 0.95 * len(rows) + 0.4), squeeze=False
        )
        for r, (im_row, label) in enumerate(zip(images, labels, strict=True)):
            for c in range(n):
                ax = axes[r, c]
                ax.set_xticks([])
                ax.set_yticks([])
                for spine in ax.spines.values():
                    spine.set_visible(False)
                if c < len(im_row):
                    ax.imshow(np.clip(im_row[c], 0, 1), cmap="gray", vmin=0, vmax=1)
            axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
    else:
        vectors = [np.asarray(r).reshape(len(r), -1) for r in rows]
        lo = min(v.min() for v in vectors)
        hi = max(v.max() for v in vectors)
        fig, axes = plt.subplots(len(rows), 1, figsize=(8, 1.2 * len(rows) + 0.4), squeeze=False)
        for ax, v, label in zip(axes[:, 0], vectors, labels, strict=True):
            shown = ax.imshow(v, aspect="auto", cmap="viridis", vmin=lo, vmax=hi)
            ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
            ax.set_yticks([])
        axes[-1, 0].set_xlabel("feature")
        fig.colorbar(shown, ax=axes[:, 0].tolist(), fraction=0.03)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
