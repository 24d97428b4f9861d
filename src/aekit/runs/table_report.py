"""The report of a run on a mixed table (issue 28): its columns, its evaluation per
column, which columns drive the outlier score, the score's histogram and the code map.

:func:`table_figures` gives the parts of the page that :mod:`aekit.runs.report`
writes for a model fitted on a DataFrame: the inferred column kinds (one line per
column, as ``fit`` shows them), a table of the evaluation per column (the model's
accuracy or MSE in the column's units beside the majority level or the mean, and
PCA on the one-hot table; :func:`aekit.runs.evaluation.table_evaluation`), a bar
chart of each column's mean ``feature_scores`` share over the test rows, the
histogram of the outlier score with its threshold beside the least normal rows
and the column that explains each, and the code map, whose rows are shown in the
user's terms (level strings, numbers in their units).
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np

from aekit.runs import figures as F
from aekit.runs.code_map import draw_code_map, drawn_rows

EXPLAINED_ROWS = 1000  # feature_scores runs one forward per level or quantile of each column
LEAST_NORMAL = 10
LEVELLED = ("categorical", "binary")

# (title, PNG path or None, caption, HTML): the fields of aekit.runs.report.Figure
Part = tuple[str, Path | None, str, str]


def _num(value: Any) -> str:
    return "" if value is None else f"{value:.4g}"


def column_kinds_html(table: Any) -> str:
    """The inferred column kinds, one line per column as ``fit`` prints them."""
    lines = "\n".join(html.escape(line) for line in table.summary())
    return f'<pre class="aekit-columns">{lines}</pre>'


def evaluation_html(columns: dict[str, dict[str, Any]]) -> str:
    """The per-column evaluation as a table: the model beside its two references;
    the model's figure in bold where it beats both."""
    head = (
        "<tr><th>column</th><th>kind</th><th>observed</th><th>measure</th><th>model</th>"
        "<th>majority level / mean</th><th>PCA on one-hot</th><th>NLL (nats)</th></tr>"
    )
    rows = []
    for name, c in columns.items():
        if c["kind"] in LEVELLED:
            keys, better = ("accuracy", "majority_accuracy", "pca_accuracy"), max
            measure = "accuracy"
        else:
            measure, keys, better = "MSE (column's units)", ("mse", "mean_mse", "pca_mse"), min
        model, *refs = (c.get(k) for k in keys)
        shown = _num(model)
        if model is not None and all(r is not None for r in refs) and better(model, *refs) == model:
            shown = f"<b>{shown}</b>"
        cells = [html.escape(name), c["kind"], str(c["n_observed"]), html.escape(measure), shown,
                 *(_num(r) for r in refs), _num(c.get("nll_nats"))]  # fmt: skip
        rows.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    return f'<table class="aekit-columns-eval">{head}{"".join(rows)}</table>'


def share_bars(names: list[str], shares: np.ndarray, path: str | Path) -> Path:
    """A horizontal bar per column: its mean share of the outlier score."""
    plt = F._pyplot()
    fig, ax = plt.subplots(figsize=(6, 0.3 * len(names) + 1.2))
    order = np.arange(len(names))[::-1]  # the table's first column on top
    ax.barh([names[j] for j in order], shares[order], color="tab:blue", alpha=0.85)
    ax.set_xlabel("mean feature_scores share")
    ax.grid(alpha=0.3, axis="x")
    return F._save(fig, path)


def least_normal_html(model: Any, X: Any, scores: np.ndarray) -> str:
    """The least normal rows: score, the column whose repair gains most and its share,
    the cell and the model's reconstruction of it."""
    order = np.argsort(scores)[:LEAST_NORMAL]
    rows = X.iloc[order]
    shares = model.feature_scores(rows).to_numpy()
    recon = model.reconstruct(rows)
    out = ["<tr><th>row</th><th>log-likelihood</th><th>top column</th><th>share</th>"
           "<th>value</th><th>reconstruction</th></tr>"]  # fmt: skip
    for k, i in enumerate(order):
        j = int(shares[k].argmax())
        name = X.columns[j]
        cells = [str(int(i)), _num(float(scores[i])), html.escape(str(name)),
                 f"{shares[k, j]:.2f}", html.escape(str(rows.iloc[k, j])),
                 html.escape(str(recon.iloc[k][name]))]  # fmt: skip
        out.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f'<table class="aekit-least-normal">{"".join(out)}</table>'


def table_figures(
    model: Any, X: Any, y: np.ndarray | None, split: str, metrics: dict[str, Any],
    folder: Path, seed: int = 0,
) -> list[Part]:  # fmt: skip
    """The parts of a mixed-table run's report, from its ``split`` rows ``X`` (a
    DataFrame; labels ``y``) and its evaluation ``metrics``."""
    table = model.table_
    out: list[Part] = [("Columns", None, "The column kinds inferred at fit (or given by "
                        "column_types), as fit shows them.", column_kinds_html(table))]  # fmt: skip
    if "columns" in metrics:
        caption = (
            f"Per column on the {metrics.get('split', split)} split, over its observed cells: "
            "accuracy of the likeliest level for categorical and binary columns beside the "
            "training split's most frequent level; MSE in the column's own units for numeric "
            "and count columns beside the training mean; both beside PCA of the code's size "
            "on the standardised one-hot training table. Bold: the model beats both."
        )
        out.append(("Evaluation per column", None, caption, evaluation_html(metrics["columns"])))
    history = getattr(model, "history_", None)
    curves = F.training_curves(history or [], folder / "training_curves.png")
    if curves is not None:
        out.append(("Training curves", curves, "Every logged loss part per epoch (nats/row).", ""))

    rows = drawn_rows(len(X), seed, EXPLAINED_ROWS)
    shares = model.feature_scores(X.iloc[rows]).to_numpy().mean(0)
    path = share_bars(table.names, shares, folder / "feature_shares.png")
    sample = f" (a random sample, seed {seed})" if len(rows) < len(X) else ""
    caption = (
        f"Each column's mean feature_scores share over {len(rows)} of the {len(X)} {split} "
        f"rows{sample}: how much of a row's outlier score (its NLL) setting that one cell to "
        "its best value would remove, as a share of all columns' gains."
    )
    out.append(("Which columns drive the outlier score", path, caption, ""))

    scores = model.score_samples(X)
    path, caption = F.outlier_histogram(
        model, scores, split, folder / "scores.png", measure=model.score_measure_, what="rows"
    )
    out.append(("Outlier scores", path, caption, ""))
    out.append(("Least normal rows", None, f"The {LEAST_NORMAL} {split} rows of lowest score.",
                least_normal_html(model, X, scores)))  # fmt: skip

    code_map = draw_code_map(model, X, y, split, folder, seed=seed)
    out.append(("Code map", code_map.path, code_map.caption, code_map.html))
    return out
