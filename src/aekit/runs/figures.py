"""The figures of a run: reconstructions, samples, paths in code space, code maps,
training curves and the PCA scree plot. PNG files via matplotlib's Agg backend,
imported only when drawing.

Images are drawn as pictures; vectors as heat-map strips (one example per row)
or, for samples, as points on the data's first two principal axes.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from aekit.storage.safe_files import atomic_write_bytes

DPI = 110


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
    return _save(fig, path)


def _save(fig, path: str | Path) -> Path:
    """Write ``fig`` as a PNG atomically: a full disk or a kill leaves no truncated file."""
    path = Path(path)
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    finally:
        _pyplot().close(fig)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def image_mosaic(
    rows: Sequence[np.ndarray],
    labels: Sequence[str],
    path: str | Path,
    *,
    title: str | None = None,
    cell: float = 0.6,
) -> Path:
    """Rows of images drawn as one picture (one ``imshow``: fast for big grids),
    each row labelled on the left. Vectors fall back to :func:`image_rows`."""
    images = [as_images(np.asarray(r)) for r in rows]
    if any(im is None for im in images):
        return image_rows(rows, labels, path, title=title)
    H, W = images[0].shape[1:3]
    pad = max(1, H // 8)
    n_cols = max(len(im) for im in images)
    canvas = np.ones((len(images) * (H + pad) + pad, n_cols * (W + pad) + pad, 3))
    for r, im in enumerate(images):
        for c, x in enumerate(np.clip(im, 0, 1)):
            top, left = pad + r * (H + pad), pad + c * (W + pad)
            canvas[top : top + H, left : left + W] = x[..., None] if x.ndim == 2 else x
    plt = _pyplot()
    width = n_cols * cell * W / max(H, W)
    height = len(images) * cell * H / max(H, W)
    fig, ax = plt.subplots(figsize=(width + 1.0, height + (0.4 if title else 0.1)))
    ax.imshow(canvas, interpolation="nearest")
    ax.set_axis_off()
    for r, label in enumerate(labels):
        if label:
            y = pad + r * (H + pad) + H / 2
            ax.text(-pad, y, label, ha="right", va="center", fontsize=9)
    if title:
        ax.set_title(title, fontsize=10)
    return _save(fig, path)


def sample_grid(
    samples: np.ndarray,
    path: str | Path,
    *,
    title: str | None = None,
    n_cols: int = 8,
    data: np.ndarray | None = None,
) -> Path:
    """A grid of sampled images; for vectors, samples beside ``data`` on its first
    two principal axes (with heat-map strips when no ``data`` is given)."""
    samples = np.asarray(samples)
    if as_images(samples) is None:
        if data is None:
            return image_rows([samples[:32]], ["samples"], path, title=title)
        return _vector_scatter(samples, np.asarray(data), path, title)
    rows = [samples[i : i + n_cols] for i in range(0, len(samples), n_cols)]
    return image_mosaic(rows, [""] * len(rows), path, title=title)


def _vector_scatter(samples: np.ndarray, data: np.ndarray, path, title) -> Path:
    from sklearn.decomposition import PCA

    data2 = data.reshape(len(data), -1)
    k = min(2, data2.shape[1])
    pca = PCA(k).fit(data2)
    d = pca.transform(data2)
    s = pca.transform(samples.reshape(len(samples), -1))
    if k == 1:
        d, s = np.c_[d, np.zeros(len(d))], np.c_[s, np.zeros(len(s))]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.scatter(d[:, 0], d[:, 1], s=6, c="0.7", label="data")
    ax.scatter(s[:, 0], s[:, 1], s=8, c="tab:red", alpha=0.7, label="samples")
    ax.set_xlabel("PC 1 of the data")
    ax.set_ylabel("PC 2 of the data")
    ax.legend(loc="best", fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    return _save(fig, path)


def path_grid(
    paths: np.ndarray,
    path: str | Path,
    *,
    labels: Sequence[str] | None = None,
    title: str | None = None,
) -> Path:
    """Rows of decoded paths, shape (rows, steps, *example): interpolation strips
    and latent traversals (left to right along the path)."""
    paths = np.asarray(paths)
    labels = list(labels) if labels is not None else [""] * len(paths)
    return image_mosaic(list(paths), labels, path, title=title)


def code_plane(Z: np.ndarray, labels: np.ndarray | None = None) -> tuple[np.ndarray, tuple]:
    """Codes on a plane and the names of its axes: the codes themselves when d = 2
    (d = 1: against the label, jittered), else their first two principal components."""
    Z = np.asarray(Z, dtype=np.float64)
    if Z.shape[1] == 2:
        return Z, ("z₁", "z₂")
    if Z.shape[1] == 1:
        jitter = np.random.default_rng(0).uniform(-0.3, 0.3, len(Z))
        y = labels if labels is not None else np.zeros(len(Z))
        return np.c_[Z[:, 0], np.asarray(y, dtype=np.float64) + jitter], ("z₁", "label")
    from sklearn.decomposition import PCA

    pca = PCA(2).fit(Z)
    ratio = pca.explained_variance_ratio_
    axes = (f"PC 1 of the codes ({ratio[0]:.0%})", f"PC 2 of the codes ({ratio[1]:.0%})")
    return pca.transform(Z), axes


def label_colours(n_classes: int) -> list[tuple[float, float, float, float]]:
    """The colour of each of ``n_classes`` classes (tab10, or tab20 beyond ten, cycled)."""
    cmap = _pyplot().get_cmap("tab10" if n_classes <= 10 else "tab20")
    return [cmap(i % cmap.N) for i in range(n_classes)]


SCORE_CMAP = "viridis"


def code_map(
    Z: np.ndarray,
    path: str | Path,
    *,
    labels: np.ndarray | None = None,
    scores: np.ndarray | None = None,
    score_name: str = "score",
    score_range: tuple[float | None, float | None] = (None, None),
    title: str | None = None,
) -> Path:
    """Codes on a plane (see :func:`code_plane`), coloured by label, else by ``scores``
    (with a colour bar spanning ``score_range``, default theirs) when given."""
    P, axes = code_plane(Z, labels)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4.8))
    if labels is None and scores is None:
        ax.scatter(P[:, 0], P[:, 1], s=4, c="tab:blue", alpha=0.6)
    elif labels is None:
        shown = ax.scatter(P[:, 0], P[:, 1], s=4, c=scores, cmap=SCORE_CMAP, alpha=0.8)
        shown.set_clim(*score_range)
        fig.colorbar(shown, ax=ax, label=score_name, extend="both")
    else:
        labels = np.asarray(labels)
        classes = np.unique(labels)
        for c, colour in zip(classes, label_colours(len(classes)), strict=True):
            sel = labels == c
            ax.scatter(P[sel, 0], P[sel, 1], s=4, color=colour, alpha=0.7, label=str(c))
        if len(classes) <= 20:
            ax.legend(markerscale=3, fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    ax.set_xlabel(axes[0])
    ax.set_ylabel(axes[1])
    if title:
        ax.set_title(title, fontsize=10)
    return _save(fig, path)


def training_curves(history: Sequence[dict], path: str | Path, *, title: str | None = None):
    """One panel per logged loss part (``loss``, ``nll``, ``kl`` …), train and
    validation together, against the epoch. Returns None without a history."""
    if not history:
        return None
    parts: dict[str, dict[str, list]] = {}
    for record in history:
        for key, value in record.items():
            split, _, name = key.partition("_")
            if split in ("train", "val") and name:
                parts.setdefault(name, {}).setdefault(split, []).append((record["epoch"], value))
    if not parts:
        return None
    plt = _pyplot()
    n = len(parts)
    cols = min(n, 3)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False)
    for ax, (name, splits) in zip(list(axes.flat)[:n], parts.items(), strict=True):
        for split, points in splits.items():
            e, v = zip(*points, strict=True)
            ax.plot(e, v, marker="o" if len(e) < 15 else None, ms=3, label=split)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("epoch")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def score_histogram(
    scores: np.ndarray, offset: float, path: str | Path, *, xlabel: str = "score"
) -> Path:
    """Histogram of outlier scores with the threshold ``offset`` marked."""
    scores = np.asarray(scores, dtype=np.float64)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.4))
    ax.hist(scores, bins=min(60, max(10, len(scores) // 20)), color="tab:blue", alpha=0.8)
    flagged = int((scores < offset).sum())
    ax.axvline(
        offset, color="tab:red", lw=1.5, label=f"threshold ({flagged} of {len(scores)} below)"
    )
    ax.set_xlabel(xlabel)
    ax.set_ylabel("examples")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def outlier_histogram(
    model: Any, scores: np.ndarray, split: str, path: str | Path, *, measure: str, what: str
) -> tuple[Path, str]:
    """The histogram of a fitted detector's ``scores`` of the ``what`` (examples, rows)
    of ``split`` at its threshold, and its caption."""
    path = score_histogram(scores, model.offset_, path, xlabel=measure)
    caption = (
        f"{measure} of the {len(scores)} {split} {what}; below the red line (set from the "
        f"training data, contamination={model.contamination}) one is an outlier."
    )
    return path, caption


def scree_plot(explained_variance_ratio: np.ndarray, path: str | Path, *, title: str | None = None):
    """Explained variance ratio per principal component, with the cumulative sum."""
    ratio = np.asarray(explained_variance_ratio, dtype=np.float64)
    k = np.arange(1, len(ratio) + 1)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.8))
    ax.bar(k, ratio, color="tab:blue", label="per component")
    ax.plot(k, np.cumsum(ratio), color="tab:orange", marker="o", ms=3, label="cumulative")
    ax.set_xlabel("component")
    ax.set_ylabel("explained variance ratio")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title, fontsize=10)
    return _save(fig, path)


def components_grid(
    components: np.ndarray, input_shape: Sequence[int], path: str | Path, *, per_row: int = 8
) -> Path | None:
    """PCA's components drawn as images, mid-grey at 0 (each scaled by its largest |value|).

    Returns None for vector data, where components are not pictures.
    """
    shape = tuple(input_shape)
    if len(shape) < 2 or (len(shape) == 3 and shape[0] not in (1, 3)):
        return None
    scaled = components / np.maximum(np.abs(components).max(axis=1, keepdims=True), 1e-12)
    images = (0.5 + 0.5 * scaled).reshape(len(components), *shape)
    rows = [images[i : i + per_row] for i in range(0, len(images), per_row)]
    labels = [f"{k * per_row + 1}-{k * per_row + len(r)}" for k, r in enumerate(rows)]
    return image_mosaic(rows, labels, path, title="principal components (grey = 0)")


def codebook_usage(
    counts: np.ndarray, usage: np.ndarray, perplexity: np.ndarray, path: str | Path
) -> Path:
    """How often each code is used, sorted from the most used (one panel per level of
    ``counts``, shape (levels, K)), with each level's share of codes used and its
    perplexity (``exp`` of the entropy of the codes' frequencies) in its title."""
    counts = np.atleast_2d(np.asarray(counts))
    plt = _pyplot()
    levels, K = counts.shape
    fig, axes = plt.subplots(levels, 1, figsize=(6, 2.8 * levels), squeeze=False)
    for j, ax in enumerate(axes[:, 0]):
        ax.bar(np.arange(K), np.sort(counts[j])[::-1], width=1.0, color="tab:blue")
        level = f"level {j + 1}: " if levels > 1 else ""
        ax.set_title(
            f"{level}{usage[j]:.0%} of {K} codes used, perplexity {perplexity[j]:.1f}",
            fontsize=10,
        )
        ax.set_xlabel("code, by rank of use")
        ax.set_ylabel("assignments")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)
