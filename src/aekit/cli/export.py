"""``aekit export``: a run's encoder, decoder or both as an ONNX or TorchScript file."""

from __future__ import annotations

from pathlib import Path

import click

from aekit.cli.exit import echo_err
from aekit.cli.options import DEVICE_OPTION, AekitCommand
from aekit.models.export import FORMATS, PARTS, export_model
from aekit.models.registry import load
from aekit.runs.layout import check_output

SUFFIXES = {"onnx": ".onnx", "torchscript": ".pt"}


@click.command("export", cls=AekitCommand)
@click.argument("run", type=click.Path())
@click.option("--format", "format_", type=click.Choice(FORMATS), default="onnx", show_default=True)
@click.option(
    "--part",
    type=click.Choice(PARTS),
    default="encoder",
    show_default=True,
    help="encoder: x → code; decoder: code → mean reconstruction; both: x → reconstruction.",
)
@click.option(
    "--out", type=click.Path(dir_okay=False), help="File (default: RUN/PART.onnx or RUN/PART.pt)."
)
@DEVICE_OPTION
def export_command(run: str, format_: str, part: str, out: str | None, device: str) -> None:
    """Export a run's networks for serving without aekit (batch size dynamic; input
    float32 of the run's example shape; the feature scaling is inside). A
    --conditional run's take a second input, class: each example's class index
    (int64, its position among the run's classes)."""
    model = load(run, device=device)
    path = check_output(Path(out) if out else Path(run) / f"{part}{SUFFIXES[format_]}")
    export_model(model, path, format=format_, part=part)
    what = "whole autoencoder (encoder and decoder)" if part == "both" else part
    echo_err(f"aekit: wrote the {what} as {format_} to {path}")
