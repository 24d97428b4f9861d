"""``aekit score``: how normal each example is, and which are outliers, as a CSV."""

from __future__ import annotations

import io
from pathlib import Path

import click
import numpy as np

from aekit.cli.exit import echo_err
from aekit.cli.options import DATA_OPTIONS, DEVICE_OPTION, AekitCommand
from aekit.data.sources import SPLITS
from aekit.runs.evaluation import evaluation_data
from aekit.runs.folder import check_output, open_run
from aekit.storage.safe_files import atomic_write_bytes


def scores_csv(scores: np.ndarray, flags: np.ndarray) -> bytes:
    """``index,score,flag`` rows: the example's position, its score, +1 or -1."""
    out = io.StringIO()
    out.write("index,score,flag\n")
    for i, (score, flag) in enumerate(zip(scores, flags, strict=True)):
        out.write(f"{i},{score:.9g},{int(flag)}\n")
    return out.getvalue().encode("utf-8")


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
@DEVICE_OPTION
def score_command(
    run: str,
    data: str | None,
    data_dir: str | None,
    split_seed: int | None,
    split: str,
    out: str | None,
    device: str,
) -> None:
    """Score every example of a run's data (or --data): one CSV row each with its
    index, its score (higher is more normal) and its flag (+1 inlier, -1 outlier,
    by the threshold the model set from its training data)."""
    _, spec, model = open_run(
        run, data=data, data_dir=data_dir, split_seed=split_seed, device=device
    )
    path = check_output(Path(out) if out else Path(run) / "scores.csv")
    if not hasattr(model, "offset_"):
        raise click.UsageError(f"{run} was saved before outlier scores existed; train it again.")
    X = spec.examples() if split == "all" else evaluation_data(spec.load(), split)
    scores = model.score_samples(X)
    flags = np.where(scores < model.offset_, -1, 1)
    atomic_write_bytes(path, scores_csv(scores, flags))
    n_out = int((flags < 0).sum())
    echo_err(
        f"aekit: {len(X)} examples scored ({model.score_measure}); "
        f"{n_out} below the threshold {model.offset_:.6g} flagged -1; wrote {path}"
    )
