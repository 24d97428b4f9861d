"""The one-page report of a run: every figure that applies, and one HTML file.

``aekit report RUN`` draws the figures into ``RUN/figures/`` and writes
``RUN/report.html``: the run's configuration, its final metrics and the figures,
embedded as base64 PNGs so that the page is one self-contained file that opens
anywhere without a network (no external scripts, styles or fonts). The code map is
interactive (:mod:`aekit.runs.code_map`, an inline script); with scripts off, its
static picture is shown instead.
"""

from __future__ import annotations

import base64
import html
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from aekit.data.sources import DataSpec
from aekit.runs import figures as F
from aekit.runs.class_grid import conditional_figures, is_conditional
from aekit.runs.code_map import draw_code_map
from aekit.runs.layout import FIGURES_DIR, REPORT_FILE, check_output
from aekit.runs.table_report import table_figures
from aekit.runs.vq_figures import vq_figures
from aekit.storage.safe_files import atomic_write_bytes

SAMPLE_CAPTIONS = {
    "prior": "Decoded draws of z ~ N(0, I). A plain autoencoder defines no density over its "
    "codes, so for it these are expected to be poor.",
    "vae-prior": "Decoded draws of the VAE's prior p(z), {prior}.",
    "gaussian": "Decoded draws of a full-covariance Gaussian fitted to the training codes "
    "after training.",
    "gmm": "Decoded draws of a Gaussian mixture fitted to the training codes after training "
    "({k} components{how}).",
    "chain": "The denoising Markov chain x ← reconstruct(corrupt(x)) (Bengio et al. 2013): "
    "{n_chains} chains, burn-in {burn_in} steps, every {thin}th state kept.",
}


@dataclass
class Figure:
    """One figure of the report: a PNG file with a title and a caption."""

    title: str
    path: Path | None  # None: a part of the page without a picture (its html alone)
    caption: str = ""
    html: str = ""  # an interactive version, shown in place of the PNG when scripts run


def _examples(bundle) -> tuple[np.ndarray, np.ndarray | None, str]:
    for split in ("test", "val", "train"):
        part = getattr(bundle, split)
        if len(part.X):
            return part.X, part.y, split
    raise ValueError("the run's data has no examples to draw.")


def make_figures(
    model: Any, kind: str, bundle: Any, folder: str | Path, *, seed: int = 0, metrics=None
):
    """Draw every figure that applies to ``model`` into ``folder``; returns the Figures.

    Reconstructions, training curves, the code map, the scree plot (PCA), and for
    models that sample: sample grids per method, interpolation strips and
    latent traversals. A model fitted on a mixed table: its columns, ``metrics``
    per column and its explanations (:mod:`aekit.runs.table_report`).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if is_conditional(model):  # every picture at a class: a grid of samples per class
        return [Figure(*figure) for figure in conditional_figures(model, bundle, folder, seed)]
    X, y, split = _examples(bundle)
    if getattr(model, "table_", None) is not None:
        parts = table_figures(model, X, y, split, metrics or {}, folder, seed)
        return [Figure(*part) for part in parts]
    out: list[Figure] = []

    n_rec = min(10, len(X))
    X_rec = model.inverse_transform(model.transform(X[:n_rec])).reshape(X[:n_rec].shape)
    path = F.image_mosaic([X[:n_rec], X_rec], ["original", "reconstruction"], folder / "rec.png")
    out.append(Figure("Reconstructions", path, f"First {n_rec} {split} examples, decoded codes."))

    history = getattr(model, "history_", None)
    curves = F.training_curves(history or [], folder / "training_curves.png")
    if curves is not None:
        out.append(
            Figure("Training curves", curves, "Every logged loss part per epoch (nats/example).")
        )

    ratio = getattr(model, "explained_variance_ratio_", None)
    if ratio is not None:
        path = F.scree_plot(ratio, folder / "scree.png")
        out.append(Figure("Scree plot", path, "Share of the variance each component explains."))
        shown = model.components_[:32]
        path = F.components_grid(shown, model.input_shape_, folder / "components.png")
        if path is not None:
            caption = f"The first {len(shown)} principal components as images."
            out.append(Figure("Components", path, caption))

    code_map = draw_code_map(model, X, y, split, folder, seed=seed)
    out.append(Figure("Code map", code_map.path, code_map.caption, code_map.html))

    out += _outlier_figures(model, kind, X, split, folder)
    if kind == "vqvae":  # codebook use and code-prior samples (aekit.runs.vq_figures)
        out += [Figure(*figure) for figure in vq_figures(model, X, folder, seed)]
    elif hasattr(model, "sample") and hasattr(model, "module_"):
        out += _sample_figures(model, X, folder, seed)
    return out


def _outlier_figures(model, kind: str, X: np.ndarray, split: str, folder: Path) -> list[Figure]:
    """The score histogram with the threshold, and the least and most normal examples."""
    if not hasattr(model, "offset_"):
        return []
    scores = model.score_samples(X)
    path, caption = F.outlier_histogram(
        model, scores, split, folder / "scores.png", measure=model.score_measure, what="examples"
    )
    out = [Figure("Outlier scores", path, caption)]
    order = np.argsort(scores)
    n = min(10, len(X) // 2)
    path = F.image_mosaic(
        [X[order[:n]], X[order[::-1][:n]]], ["least normal", "most normal"], folder / "extremes.png"
    )
    caption = f"The {n} {split} examples of lowest and of highest score."
    out.append(Figure("Least and most normal examples", path, caption))
    return out


def _prior_name(model) -> str:
    return model.module_.prior.description


def _sample_figures(model, X, folder: Path, seed: int) -> list[Figure]:
    out: list[Figure] = []
    methods = ["prior"]
    densities = model.code_densities()
    if densities is not None:
        methods += ["gaussian", "gmm"]
    if model.module_.corruption.std > 0 and densities is not None:
        methods.append("chain")
    chain = {"n_chains": 64, "burn_in": 50, "thin": 5}
    for method in methods:
        if method == "chain":
            samples = model.sample_chain(64, random_state=seed, **chain)
        else:
            samples = model.sample(64, method=method, random_state=seed)
        path = F.sample_grid(samples, folder / f"samples_{method}.png", data=X[:2000])
        caption = SAMPLE_CAPTIONS["vae-prior" if method == "prior" and model.has_prior else method]
        if method == "gmm":
            gmm = densities["gmm"]
            caption = caption.format(k=gmm.n_components, how=", chosen by BIC" if gmm.bic else "")
        else:
            caption = caption.format(**chain, prior=_prior_name(model) if model.has_prior else "")
        out.append(Figure(f"Samples: {method}", path, caption))

    n_pairs = min(5, len(X) // 2)
    if n_pairs:
        strips = model.interpolate(X[:n_pairs], X[n_pairs : 2 * n_pairs], 10)
        path = F.path_grid(strips, folder / "interpolation.png")
        out.append(
            Figure("Interpolation", path, "Linear paths between the codes of pairs of examples.")
        )
    if model.has_prior:
        method = model.default_prior_path
        strips = model.interpolate_prior(5, 10, method=method, random_state=seed)
        path = F.path_grid(strips, folder / "interpolation_prior.png")
        shape = "Great-circle" if method == "spherical" else "Straight"
        caption = f"{shape} paths between draws of the prior, {_prior_name(model)}."
        out.append(Figure(f"{method.capitalize()} interpolation", path, caption))

    dims = list(range(min(model.latent_dim, 8)))
    paths = model.traverse(dims=dims, n_steps=9)
    active = model.active_units(X) if model.has_prior else np.ones(model.latent_dim, bool)
    labels = [f"z{j + 1}" + ("" if active[j] else " (unused)") for j in dims]
    path = F.path_grid(paths, folder / "traversal.png", labels=labels)
    centre = "prior mean, ±3 prior σ" if model.centred_on_prior else "mean code, ±3 code σ"
    caption = f"One code dimension at a time ({centre})."
    if not active.all():
        caption += (
            f" {int((~active).sum())} of {model.latent_dim} dimensions are unused: their "
            "posterior mean does not vary with the input (variance ≤ 0.01)."
        )
    out.append(Figure("Latent traversals", path, caption))
    return out


# -- the page -------------------------------------------------------------------------------
def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else str(value)
    if isinstance(value, list | tuple | dict):
        return json.dumps(value)
    return str(value)


def _table(rows: dict[str, Any]) -> str:
    body = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_fmt(v))}</td></tr>"
        for k, v in rows.items()
    )
    return f"<table>{body}</table>"


STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;
max-width:1100px;padding:0 1em;color:#222}
h1{font-size:1.5em} h2{font-size:1.15em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;margin:.5em 0 1.5em} th,td{padding:.2em .8em;text-align:left;
border-bottom:1px solid #eee;font-size:.9em} th{font-weight:600;color:#444}
figure{margin:1em 0 2em} img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.9em;color:#555;margin-top:.3em} .cols{display:flex;gap:3em;flex-wrap:wrap}
"""


def write_report(
    path: str | Path,
    *,
    title: str,
    config: dict[str, Any],
    metrics: dict[str, Any],
    figures: list[Figure],
) -> Path:
    """Write one self-contained HTML page: configuration, metrics, embedded figures."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        '<div class="cols"><section><h2>Configuration</h2>',
        _table(config),
        "</section><section><h2>Final metrics</h2>",
        _table(metrics),
        "</section></div>",
    ]
    for fig in figures:
        img = ""
        if fig.path is not None:
            data = base64.b64encode(Path(fig.path).read_bytes()).decode("ascii")
            img = f'<img alt="{html.escape(fig.title)}" src="data:image/png;base64,{data}">'
        parts += [
            f"<h2>{html.escape(fig.title)}</h2><figure>",
            f"{fig.html}<noscript>{img}</noscript>" if fig.html and img else fig.html or img,
            f"<figcaption>{html.escape(fig.caption)}</figcaption></figure>",
        ]
    parts.append("</body></html>")
    path = Path(path)
    atomic_write_bytes(path, "\n".join(parts).encode("utf-8"))
    return path


def build_report(
    run_dir: str | Path,
    model: Any,
    kind: str,
    data: DataSpec,
    bundle: Any,
    metrics: dict[str, Any],
    *,
    out: str | Path | None = None,
    seed: int = 0,
) -> Path:
    """Figures into ``run_dir/figures`` and the page into ``run_dir/report.html``;
    with ``out`` elsewhere, the page there and its figures beside it (``NAME-figures``).

    ``data`` is the run's :class:`~aekit.runs.folder.DataSpec`; ``metrics`` the final
    metrics to show (those of :func:`aekit.runs.evaluation.evaluate`).
    """
    run_dir = Path(run_dir)
    page = check_output(Path(out) if out else run_dir / REPORT_FILE)  # before drawing
    if page.parent.resolve() == run_dir.resolve():
        figures_dir = run_dir / FIGURES_DIR
    else:  # beside the page: the run may be read-only, and is not this report's
        figures_dir = page.parent / f"{page.stem}-{FIGURES_DIR}"
    figures = make_figures(model, kind, bundle, figures_dir, seed=seed, metrics=metrics)
    config: dict[str, Any] = {"model": type(model).__name__, "kind": kind}
    config.update({f"data.{k}": v for k, v in asdict(data).items()})
    config.update(model.get_params())
    final = {k: v for k, v in metrics.items() if k != "columns"}  # a table's: its own part
    history = getattr(model, "history_", None)
    if history:
        last = history[-1]
        final.update({f"last epoch {k}": v for k, v in last.items() if k != "epoch"})
        final["epochs trained"] = last.get("epoch", len(history))
    if getattr(model, "has_prior", False) and not is_conditional(model):
        X, _, _ = _examples(bundle)
        active = model.active_units(X)
        final["active code dimensions"] = f"{int(active.sum())} of {model.latent_dim}"
        final["unused code dimensions"] = [int(j) + 1 for j in np.flatnonzero(~active)]
    densities = getattr(model, "latent_density_", None)  # fitted by the figures
    if densities is not None:
        final["gmm components"] = densities["gmm"].n_components
    title = f"aekit report: {kind} on {data.source} ({run_dir.name})"
    return write_report(
        page,
        title=title,
        config=config,
        metrics=final,
        figures=figures,
    )
