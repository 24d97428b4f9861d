"""``aekit score``: how normal each example is, and which are outliers, as a CSV."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import click
import numpy as np

from aekit.cli.exit import echo_err
from aekit.cli.options import DATA_OPTIONS, DEVICE_OPTION, AekitCommand
from aekit.data.files import read_csv_table
from aekit.data.sources import SPLITS
from aekit.runs.evaluation import evaluation_data
from aekit.runs.folder import open_run
from aekit.runs.layout import check_output
from aekit.storage.safe_files import atomic_write_bytes


def scores_csv(
    scores: np.ndarray,
    flags: np.ndarray,
    *,
    p_values: np.ndarray | None = None,
    shares: np.ndarray | None = None,
    names: list[str] | None = None,
    explain: int = 0,
) -> bytes:
    """``index,score[,p_value],flag`` rows: the example's position, its score, its
    p-value, +1 or -1; with ``explain`` = K, then ``column1,share1, …, columnK,shareK``:
    the K columns of largest share (``shares``, one row per example) by ``names``."""
    header = ["index", "score", *(["p_value"] if p_values is not None else []), "flag"]
    if explain:
        k = min(explain, shares.shape[1])
        top = np.argsort(-shares, axis=1, kind="stable")[:, :k]
        header += [f"{what}{j}" for j in range(1, k + 1) for what in ("column", "share")]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for i, (score, flag) in enumerate(zip(scores, flags, strict=True)):
        row = [i, f"{score:.9g}"]
        row += [f"{p_values[i]:.6g}"] if p_values is not None else []
        row.append(int(flag))
        if explain:
            for j in top[i]:
                row += [names[j], f"{shares[i, j]:.4g}"]
        writer.writerow(row)
    return out.getvalue().encode("utf-8")


def column_names(source: str, n_columns: int) -> list[str]:
    """The names of a CSV's columns from its header, else ``x0, x1, …``."""
    path = Path(source)
    if path.suffix.lower() == ".csv" and path.is_file():
        names = read_csv_table(path)[2]
        if names is not None and len(names) == n_columns:
            return names
    return [f"x{j}" for j in range(n_columns)]


EXPLAIN_OPTION = click.option(
    "--explain",
    type=click.IntRange(min=0),
    default=0,
    metavar="K",
    help="Add the K columns that contribute most to each row's score, with their shares.",
)


@click.command("score", cls=AekitCommand)
@click.argument("run", type=click.Path())
@click.option("--data", help="Score other data (default: the run's).")
@DATA_OPTIONS
@click.option(
    "--split",
    type=click.Choice(("all", *SPLITS)),
    default="all",
    show_default=True,
    help="all: every example of the data, in its own order; else one split of the run's.",
)
@click.option("--out", type=click.Path(dir_okay=False), help="CSV file (default: RUN/scores.csv).")
@EXPLAIN_OPTION
@DEVICE_OPTION
def score_command(
    run: str,
    data: str | None,
    data_dir: str | None,
    split_seed: int | None,
    split: str,
    out: str | None,
    explain: int,
    device: str,
) -> None:
    """Score every example of a run's data (or --data): one CSV row each with its
    index, its score (higher is more normal) and its flag (+1 inlier, -1 outlier,
    by the threshold the model set from its training data); --explain K adds the K
    values with the largest shares of its reconstruction error."""
    _, spec, model = open_run(
        run, data=data, data_dir=data_dir, split_seed=split_seed, device=device
    )
    path = check_output(Path(out) if out else Path(run) / "scores.csv")
    if not hasattr(model, "offset_"):
        raise click.UsageError(f"{run} was saved before outlier scores existed; train it again.")
    X = spec.examples() if split == "all" else evaluation_data(spec.load(), split)
    scores = model.score_samples(X)
    flags = np.where(scores < model.offset_, -1, 1)
    shares = names = None
    if explain:
        shares = model.feature_scores(X)
        # a mixed table's shares are named by its columns; an array's by the CSV header
        names = [str(c) for c in shares.columns] if hasattr(shares, "columns") else None
        shares = np.asarray(shares)
        names = names or column_names(spec.source, shares.shape[1])
    p_values = (
        model.p_values(X) if getattr(model, "calibration_scores_", None) is not None else None
    )
    table = scores_csv(
        scores, flags, p_values=p_values, shares=shares, names=names, explain=explain
    )
    atomic_write_bytes(path, table)
    n_out = int((flags < 0).sum())
    measure = getattr(model, "score_measure_", model.score_measure)  # this model's own
    echo_err(
        f"aekit: {len(X)} examples scored ({measure}); "
        f"{n_out} below the threshold {model.offset_:.6g} flagged -1; wrote {path}"
    )
