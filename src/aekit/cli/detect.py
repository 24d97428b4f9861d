"""``aekit detect``: fit aekit's recommended outlier detector to a table and score it."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from aekit.cli.exit import echo_err
from aekit.cli.options import AekitCommand
from aekit.cli.score import EXPLAIN_OPTION, column_names, scores_csv
from aekit.data.sources import load_examples
from aekit.models.outlier_detector import OutlierDetector
from aekit.runs.layout import check_output
from aekit.storage.safe_files import atomic_write_bytes


def _word_or_number(words: dict[str, object], hint: str):
    """A click callback: one of ``words`` (to its value) or a number, else ``hint``."""

    def parse(ctx: click.Context, param: click.Parameter, value: str | None) -> object:
        if value is None or value in words:
            return words.get(value, value)
        try:
            return float(value)
        except ValueError:
            raise click.BadParameter(hint) from None

    return parse


_contamination = _word_or_number(
    {"auto": "auto", "none": None}, "give 'auto', 'none' or a fraction in (0, 0.5]."
)
_calibration = _word_or_number({"auto": "auto"}, "give 'auto' or a share in [0, 0.5].")


@click.command("detect", cls=AekitCommand)
@click.argument("data")
@click.option(
    "--contamination",
    callback=_contamination,
    help="How the threshold is set: auto (Tukey's fence, the default without --alpha) or "
    "a fraction of the held-out rows.",
)
@click.option("--alpha", type=float, help="Flag rows whose p-value is at most this.")
@click.option(
    "--calibration",
    default="auto",
    show_default=True,
    callback=_calibration,
    help="Share of rows held out to set the threshold and give p-values (0: none; "
    "auto: 0.2 with --alpha, else none, every row fitted).",
)
@click.option(
    "--max-levels",
    type=click.IntRange(min=0),
    default=10,
    show_default=True,
    help="A column with at most this many distinct values is read as levels and scored by "
    "their frequencies (0: every column as numbers).",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--save",
    type=click.Path(file_okay=False),
    help="Save the fitted detector in this folder (score new data: aekit score DIR --data F).",
)
@click.option("--out", type=click.Path(dir_okay=False), help="CSV file (default: stdout).")
@EXPLAIN_OPTION
@click.option("--data-dir", type=click.Path(file_okay=False), help="Folder of MNIST IDX files.")
def detect(
    data: str,
    contamination: object,
    alpha: float | None,
    calibration: float | str,
    max_levels: int,
    seed: int,
    save: str | None,
    out: str | None,
    explain: int,
    data_dir: str | None,
) -> None:
    """Fit aekit.OutlierDetector to a table (a CSV, .npy or .npz file, or a named
    dataset) and write one CSV row per example: its index, its score (higher is more
    normal), its conformal p-value (with --alpha or --calibration), its flag (+1
    inlier, -1 outlier) and, with --explain K, the K columns that contribute most to
    its score."""
    path = None if out is None else check_output(Path(out))
    X = load_examples(data, data_dir=data_dir)
    X = X.reshape(len(X), -1)
    if contamination is None and alpha is None:
        contamination = "auto"
    detector = OutlierDetector(
        contamination,
        alpha=alpha,
        calibration=calibration,
        max_levels=max_levels,
        random_state=seed,
    ).fit(X)
    if save is not None:
        detector.save(save)
    scores = detector.score_samples(X)
    flags = np.where(scores < detector.offset_, -1, 1)
    p_values = None if detector.calibration_scores_ is None else detector.p_values(X)
    shares = np.asarray(detector.feature_scores(X)) if explain else None
    names = column_names(data, X.shape[1])
    table = scores_csv(
        scores, flags, p_values=p_values, shares=shares, names=names, explain=explain
    )
    if path is None:
        click.echo(table.decode("utf-8"), nl=False)
    else:
        atomic_write_bytes(path, table)
    rule = (
        f"p-value at most {alpha:g}" if alpha is not None else f"threshold {detector.offset_:.6g}"
    )
    saved = f"; saved the detector in {save}" if save else ""
    echo_err(
        f"aekit: {len(X)} rows scored; {int((flags < 0).sum())} flagged -1 by the {rule}"
        f"{_levels_read(detector, names)}{saved}{'' if path is None else f'; wrote {path}'}"
    )


def _levels_read(detector: OutlierDetector, names: list[str]) -> str:
    """Which columns were read as levels, for the summary line (the first five named)."""
    columns = np.flatnonzero(detector.level_columns_)
    if len(columns) == 0:
        return ""
    named = ", ".join(names[j] for j in columns[:5])
    more = f" and {len(columns) - 5} more" if len(columns) > 5 else ""
    noun = "column" if len(columns) == 1 else "columns"
    return f"; {len(columns)} {noun} read as levels ({named}{more})"
