"""``aekit evaluate`` and ``aekit report``: a run's metrics as JSON, and as one HTML
page with every figure that applies."""

from __future__ import annotations

import json

import click

from aekit.cli.options import (
    DATA_OPTIONS,
    DEVICE_OPTION,
    SEED_OPTION,
    SPLIT_OPTION,
    AekitCommand,
    out_option,
)
from aekit.runs.evaluation import evaluate
from aekit.runs.folder import open_run
from aekit.runs.report import build_report


@click.command("evaluate", cls=AekitCommand)
@click.argument("run", type=click.Path())
@click.option("--data", help="Evaluate on other data (default: the run's).")
@DATA_OPTIONS
@SPLIT_OPTION
@click.option(
    "--nll-samples",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="VAE: importance samples K for log p(x) (a conditional run's log p(x | y) at each "
    "example's label), a stochastic lower bound that rises with K; the estimate from the "
    "first K/10 samples is printed beside it (0: skip).",
)
@DEVICE_OPTION
def evaluate_command(
    run: str,
    data: str | None,
    data_dir: str | None,
    split_seed: int | None,
    split: str,
    nll_samples: int,
    device: str,
) -> None:
    """Print a run's metrics on a data split as JSON."""
    kind, spec, model = open_run(
        run, data=data, data_dir=data_dir, split_seed=split_seed, device=device
    )
    if nll_samples and kind != "vae":
        raise click.UsageError("--nll-samples applies to 'vae' runs only.")
    metrics = evaluate(model, spec.load(), split, binarized=spec.binarize, nll_samples=nll_samples)
    click.echo(json.dumps(metrics, indent=2))


@click.command(cls=AekitCommand)
@click.argument("run", type=click.Path())
@click.option("--data", help="Draw and evaluate on other data (default: the run's).")
@DATA_OPTIONS
@SEED_OPTION
@out_option("HTML file", "RUN/report.html")
@DEVICE_OPTION
def report(
    run: str,
    data: str | None,
    data_dir: str | None,
    split_seed: int | None,
    seed: int,
    out: str | None,
    device: str,
) -> None:
    """Draw every figure that applies and write one self-contained HTML page."""
    kind, spec, model = open_run(
        run, data=data, data_dir=data_dir, split_seed=split_seed, device=device
    )
    bundle = spec.load()
    metrics = evaluate(model, bundle, "test", binarized=spec.binarize)
    path = build_report(run, model, kind, spec, bundle, metrics, out=out, seed=seed)
    click.echo(str(path))
