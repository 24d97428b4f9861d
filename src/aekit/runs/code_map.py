"""The report's interactive code map: the examples' codes on a plane, where hovering
over or clicking a point shows that example beside its reconstruction.

:func:`draw_code_map` returns a static PNG of the map (matplotlib, shown when scripts
are off) and an HTML fragment: a ``<script type="application/json">`` block with the
points and the examples, and an inline script that draws the points as SVG and the
examples on canvases. Everything is in the page: no network, no library to fetch.
Images travel as two PNG sprite sheets (originals, reconstructions; PNG keeps the
file small); vectors as numbers shown in a small table; the rows of a mixed table
(a DataFrame) as their cells in the user's terms, level strings and numbers in the
column's units, beside the reconstruction's.
"""

from __future__ import annotations

import base64
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from aekit.runs import figures as F

MAX_POINTS = 2000  # keeps the page small: two 28x28 sprites of 2000 MNIST digits are ~1 MB
SCRIPT = (Path(__file__).with_name("code_map.js")).read_text(encoding="utf-8")
STYLE = """
.aekit-map{display:flex;gap:1.5em;flex-wrap:wrap;align-items:flex-start}
.aekit-map svg{border:1px solid #eee;background:#fff} .aekit-map .pt{cursor:pointer}
.aekit-map-legend{font-size:.8em;color:#444;margin:.3em 0;max-width:560px}
.aekit-map-legend .chip{display:inline-block;width:.8em;height:.8em;margin:0 .25em 0 .8em;
vertical-align:middle;border-radius:50%} .aekit-map-legend .bar{height:.8em;width:240px;
display:inline-block;vertical-align:middle;margin:0 .4em}
.aekit-map-detail{min-width:260px;font-size:.9em} .aekit-map-detail canvas{border:1px solid #ccc;
image-rendering:pixelated;margin-right:.6em} .aekit-map-detail figure{display:inline-block;margin:0}
.aekit-map-values{max-height:340px;overflow:auto} .aekit-map-values .changed td{background:#fde2e1}
.aekit-map-values .missing{color:#999}
"""


@dataclass
class CodeMap:
    """The code map of a report: the static picture, its caption and the fragment."""

    path: Path
    caption: str
    html: str
    n_drawn: int


def drawn_rows(n: int, seed: int, max_points: int = MAX_POINTS) -> np.ndarray:
    """The rows of ``n`` examples that the map draws: all, or a sorted random sample
    of ``max_points`` of them drawn with ``seed``."""
    if n <= max_points:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, max_points, replace=False))


def codes_and_reconstructions(
    model: Any, X: np.ndarray, y: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """The codes of ``X`` (n, d) and their decodings in ``X``'s shape: a VQ-VAE's
    quantised vectors (what its decoder reads), a conditional model's codes given ``y``."""
    given = (y,) if getattr(model, "classes_", None) is not None else ()
    Z = model.transform(X, *given)
    if np.issubdtype(Z.dtype, np.integer):  # codebook indices: map the vectors they stand for
        Z = model.transform(X, continuous=True)
    R = model.inverse_transform(Z, *given)
    return Z, R if hasattr(R, "columns") else R.reshape(X.shape)  # a table's: a DataFrame


def _scores(model: Any, X: np.ndarray, R: np.ndarray) -> tuple[np.ndarray, str, float | None]:
    """Outlier scores (higher: more normal), their name and the model's threshold;
    the reconstruction error per value where the model gives no score."""
    offset = float(getattr(model, "offset_", math.nan))
    if hasattr(model, "score_samples") and math.isfinite(offset):
        name = getattr(model, "score_measure_", None) or model.score_measure
        return np.asarray(model.score_samples(X), dtype=np.float64), name, offset
    error = np.square(X - R).reshape(len(X), -1).mean(1, dtype=np.float64)
    return error, "reconstruction MSE per value (higher: worse)", None


def _hex(rgba) -> str:
    return "#" + "".join(f"{round(255 * c):02x}" for c in rgba[:3])


def _numbers(values: np.ndarray) -> str:
    """A JSON list of finite numbers to four significant digits (small to embed)."""
    return "[" + ",".join(f"{v:.4g}" for v in np.asarray(values, dtype=np.float64).ravel()) + "]"


def _sheet(images: np.ndarray, cols: int) -> str:
    """Images (n, H, W[, 3]) in [0, 1] tiled ``cols`` wide, as a PNG data URI."""
    from PIL import Image

    n, h, w = images.shape[:3]
    rows = math.ceil(n / cols)
    sheet = np.zeros((rows * h, cols * w, *images.shape[3:]), dtype=np.uint8)
    for i, im in enumerate(np.rint(np.clip(images, 0, 1) * 255).astype(np.uint8)):
        r, c = divmod(i, cols)
        sheet[r * h : (r + 1) * h, c * w : (c + 1) * w] = im
    buffer = io.BytesIO()
    Image.fromarray(sheet).save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _cell_text(value: Any) -> str | None:
    """A table cell as the page shows it (None: missing)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    if isinstance(value, float | np.floating):
        return f"{value:.4g}"
    return str(value)


def _table_payload(X: Any, R: Any, table: Any) -> dict[str, Any]:
    """A mixed table's rows and their reconstructions, cell by cell as text, and which
    columns hold levels (a changed level is marked; a number rarely comes back exact)."""
    import pandas as pd

    def cells(frame: Any) -> list[list[str | None]]:
        rows = frame.astype(object).where(pd.notna(frame), None).to_numpy().tolist()
        return [[_cell_text(v) for v in row] for row in rows]

    levelled = [c.kind in ("categorical", "binary") for c in table.columns]
    return {"kind": "table", "names": table.names, "levelled": levelled,
            "values": cells(X[table.names]), "recon": cells(R[table.names])}  # fmt: skip


def _examples_payload(X: Any, R: Any, table: Any = None) -> dict[str, Any]:
    if table is not None:
        return _table_payload(X, R, table)
    images, recon = F.as_images(X), F.as_images(R)
    if images is None:
        D = int(np.prod(X.shape[1:]))
        return {
            "kind": "vector",
            "names": [f"x{j + 1}" for j in range(D)],
            "values": f"@@{_numbers(X)}@@",
            "recon": f"@@{_numbers(R)}@@",
            "width": D,
        }
    h, w = images.shape[1:3]
    cols = math.ceil(math.sqrt(len(images)))
    scale = max(1, 112 // max(h, w))
    return {
        "kind": "image",
        "h": int(h),
        "w": int(w),
        "cols": cols,
        "scale": scale,
        "original": _sheet(images, cols),
        "reconstruction": _sheet(recon, cols),
    }


def draw_code_map(
    model: Any,
    X: Any,
    y: np.ndarray | None,
    split: str,
    folder: str | Path,
    *,
    seed: int = 0,
    max_points: int = MAX_POINTS,
) -> CodeMap:
    """Draw the code map of the examples ``X`` (labels ``y``) of ``split``: an array,
    or for a model fitted on a mixed table, a DataFrame.

    At most ``max_points`` examples are drawn (a random sample drawn with ``seed``).
    Points are coloured by label when there are labels, else by outlier score (or,
    for a model without one, by reconstruction error).

    Examples
    --------
    >>> import numpy as np, tempfile
    >>> from aekit import PCA
    >>> X = np.random.default_rng(0).normal(size=(50, 5)).astype(np.float32)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     cmap = draw_code_map(PCA(3).fit(X), X, None, "test", d)
    >>> cmap.n_drawn, 'id="aekit-map-data"' in cmap.html
    (50, True)
    """
    from matplotlib import colormaps

    rows = drawn_rows(len(X), seed, max_points)
    Xs = X.iloc[rows] if hasattr(X, "iloc") else X[rows]  # a mixed table: a DataFrame
    ys = None if y is None else y[rows]
    Z, R = codes_and_reconstructions(model, Xs, ys)
    P, axes = F.code_plane(Z, ys)
    payload: dict[str, Any] = {"split": split, "axes": list(axes), "index": rows.tolist()}
    payload["x"], payload["y"] = f"@@{_numbers(P[:, 0])}@@", f"@@{_numbers(P[:, 1])}@@"
    scores = None
    if ys is not None:
        classes, which = np.unique(ys, return_inverse=True)
        payload["colour"] = {
            "by": "label",
            "classes": [str(c) for c in classes],
            "colours": [_hex(c) for c in F.label_colours(len(classes))],
            "of": which.tolist(),
        }
        how = "coloured by label"
    else:
        scores, name, offset = _scores(model, Xs, R)
        # the colour scale spans the 1st to 99th percentile: a few extreme scores
        # (the outliers one looks for) would otherwise give every other point one colour
        lo, hi = (float(v) for v in np.percentile(scores, [1, 99]))
        cmap = colormaps[F.SCORE_CMAP]
        t = np.clip((scores - lo) / (hi - lo), 0, 1) if hi > lo else np.full(len(scores), 0.5)
        payload["colour"] = {
            "by": "score",
            "name": name,
            "lo": lo,
            "hi": hi,
            "offset": offset,
            "values": f"@@{_numbers(scores)}@@",
            "colours": [_hex(c) for c in cmap(t)],
            "stops": [_hex(cmap(s)) for s in np.linspace(0, 1, 11)],
        }
        how = f"coloured by {name}"
    payload["examples"] = _examples_payload(Xs, R, getattr(model, "table_", None))
    path = F.code_map(
        Z,
        Path(folder) / "code_map.png",
        labels=ys,
        scores=scores,
        score_name=payload["colour"].get("name", ""),
        score_range=(payload["colour"].get("lo"), payload["colour"].get("hi")),
    )
    sample = f" (a random sample, seed {seed})" if len(rows) < len(X) else ""
    plane = "the codes" if Z.shape[1] <= 2 else "the first two principal components of the codes"
    caption = (
        f"{len(rows)} of the {len(X)} {split} examples{sample}: {plane}, {how}. Hover over "
        "or click a point to see the example beside its reconstruction (with scripts off, "
        "a static picture of the same map)."
    )
    return CodeMap(path, caption, _fragment(payload), len(rows))


def _fragment(payload: dict[str, Any]) -> str:
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=True)
    text = text.replace('"@@', "").replace('@@"', "")  # the pre-formatted number lists
    text = text.replace("</", "<\\/")  # no text ends the script element early
    return (
        f"<style>{STYLE}</style>"
        '<div class="aekit-map" id="aekit-map"><div><div class="aekit-map-plot"></div>'
        '<div class="aekit-map-legend"></div></div>'
        '<div class="aekit-map-detail" id="aekit-map-detail" aria-live="polite"></div></div>'
        f'<script type="application/json" id="aekit-map-data">{text}</script>'
        f"<script>{SCRIPT}</script>"
    )
