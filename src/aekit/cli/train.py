"""``aekit train``: fit a model of one kind and save it as a run folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from aekit.cli.exit import echo_err
from aekit.cli.options import (
    CHANNELS_OPTION,
    DATA_OPTIONS,
    IMAGE_SIZE_OPTION,
    MODEL_OPTIONS,
    AekitCommand,
    FiniteFloat,
    model_params,
    resumed,
    show_model_defaults,
)
from aekit.core.tables import COLUMN_KINDS
from aekit.models.registry import KINDS, estimator_class
from aekit.runs.api import default_run_folder, train_config, train_run
from aekit.runs.config import config_yaml, read_config
from aekit.runs.folder import read_run
from aekit.runs.layout import RUN_FILE
from aekit.runs.tracking import last_run_line
from aekit.training.loop import PRECISIONS


def _parse_column_types(ctx, param, values: tuple[str, ...]) -> dict[str, str] | None:
    """``--column-type col=kind`` (repeated) as ``column_types``; None when not given."""
    if not values:
        return None
    types: dict[str, str] = {}
    for value in values:
        name, sep, kind = value.rpartition("=")
        if not sep or not name or kind not in COLUMN_KINDS:
            raise click.BadParameter(
                f"expected COL=KIND with KIND one of {', '.join(COLUMN_KINDS)}; got {value!r}."
            )
        types[name] = kind
    return types


# a config file's keys that name a parameter by another word than its option
CONFIG_KEYS = {"compile": "compile_"}
NOT_IN_CONFIG = ("config", "print_config")


def _read_config(ctx: click.Context, param, path: str | None) -> str | None:
    """Read ``--config FILE`` before the other options: its values become their
    defaults (``ctx.default_map``), so that options on the command line win."""
    if path is None:
        return None
    params = {p.name: p for p in ctx.command.params if p.name not in NOT_IN_CONFIG}
    defaults = {}
    for key, value in read_config(path).items():
        name = key.replace("-", "_")
        name = CONFIG_KEYS.get(name, name)
        if name not in params:
            raise click.UsageError(
                f"{path}: unknown key {key!r}; the keys are the options of aekit train "
                "(see aekit train --help)."
            )
        if value is not None:
            defaults[name] = _as_option_value(params[name], value)
    ctx.default_map = {**(ctx.default_map or {}), **defaults}
    return path


def _as_option_value(param: click.Parameter, value: Any) -> Any:
    """A YAML value as the option would read it from the command line."""
    if param.multiple:  # --column-type: a mapping of columns to kinds
        items = value.items() if isinstance(value, dict) else None
        return [f"{k}={v}" for k, v in items] if items is not None else value
    if isinstance(value, list):  # --hidden 512,256 and --image-size H,W
        return ",".join(str(v) for v in value)
    if isinstance(param.type, click.Choice) and not isinstance(value, bool):
        return str(value)
    return value


@click.command(cls=AekitCommand)
@click.argument("kind", type=click.Choice(KINDS))
@click.option(
    "--config",
    type=click.Path(dir_okay=False),
    is_eager=True,
    expose_value=False,
    callback=_read_config,
    help="A YAML file of options (keys: the option names, e.g. latent_dim: 8); options "
    "given on the command line win. Every run saves its own as OUT/train.yaml.",
)
@click.option(
    "--print-config",
    is_flag=True,
    help="Print the options this command would train with, as YAML, and train nothing.",
)
@click.option(
    "--data",
    default="digits",
    show_default=True,
    help="digits, mnist, fashion-mnist, or a .npy/.npz/.csv file or image folder.",
)
@DATA_OPTIONS
@IMAGE_SIZE_OPTION
@CHANNELS_OPTION
@click.option(
    "--label-column",
    metavar="NAME",
    help="A CSV's label column, kept out of training (default: label, labels, y or target).",
)
@click.option(
    "--column-type",
    "column_type",
    multiple=True,
    callback=_parse_column_types,
    metavar="COL=KIND",
    help=f"A column's kind in a mixed table ({', '.join(COLUMN_KINDS)}), inferred otherwise; "
    "repeat for several columns. Any CSV given one is read as a mixed table (ae, dae, vae).",
)
@click.option("--val-fraction", type=FiniteFloat(0, 0.9), default=0.1, show_default=True)
@click.option("--test-fraction", type=FiniteFloat(0, 0.9), default=0.2, show_default=True)
@click.option("--out", type=click.Path(), help="Run folder (default: runs/KIND-DATA).")
@click.option("--overwrite", is_flag=True, help="Replace an existing run folder.")
@click.option(
    "--resume",
    is_flag=True,
    help="Continue the run in --out from its last checkpoint, with the options it was "
    "trained with; an option repeated with another value is refused (but --epochs, "
    "--device and --data-dir). A finished run given more --epochs under the cosine "
    "schedule (the default) differs from one trained that long from the start, as the "
    "schedule spans the epochs of each start.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or epoch lines.")
@MODEL_OPTIONS
@click.option(
    "--tensorboard",
    is_flag=True,
    help="Also log every metric per epoch as TensorBoard scalars in OUT/tensorboard.",
)
@click.option(
    "--mlflow",
    is_flag=True,
    help="Also log the run to MLflow: options, every epoch's metrics, test metrics, model "
    "card, report and the model (pyfunc); MLFLOW_TRACKING_URI says where "
    "(pip install 'aekit[mlflow]').",
)
@click.option(
    "--mlflow-experiment",
    metavar="NAME",
    help="The MLflow experiment of --mlflow (created when missing; default: MLflow's).",
)
@click.option("--compile", "compile_", is_flag=True, help="torch.compile the training step.")
@click.option(
    "--precision",
    type=click.Choice(PRECISIONS),
    default="float32",
    show_default=True,
    help="bfloat16: bf16 autocast of the networks (GPUs); losses stay float32.",
)
@click.pass_context
def train(ctx: click.Context, kind: str, **opts: Any) -> None:
    """Train a model of KIND (pca, linear, ae, dae, vae, vqvae) and save it as a run."""
    params = model_params(ctx, kind, opts)
    if opts["resume"]:
        opts["out"] = opts["out"] or default_run_folder(kind, opts["data"])
        if (Path(opts["out"]) / RUN_FILE).is_file():
            opts, params = resumed(ctx, kind, opts, params, read_run(opts["out"]))
    run_options = {
        "data_dir": opts["data_dir"],
        "val_fraction": opts["val_fraction"],
        "test_fraction": opts["test_fraction"],
        "split_seed": opts["split_seed"] or 0,
        "image_size": opts["image_size"],
        "channels": opts["channels"],
        "label_column": opts["label_column"],
        "tensorboard": opts["tensorboard"],
        "compile": opts["compile_"],
        "precision": opts["precision"],
        **params,
    }
    if opts["print_config"]:
        click.echo(config_yaml(train_config(kind, opts["data"], **run_options)), nl=False)
        return
    if opts["mlflow_experiment"] is not None and not opts["mlflow"]:
        raise click.UsageError(
            "--mlflow-experiment names the experiment of --mlflow; add --mlflow."
        )
    for flag, used in (
        ("--tensorboard", opts["tensorboard"]),
        ("--compile", opts["compile_"]),
        ("--precision", opts["precision"] != "float32"),
    ):
        if used and not estimator_class(kind).trains_with_loop:
            raise click.UsageError(f"{flag} does not apply to '{kind}' models.")
    run = train_run(
        kind,
        opts["data"],
        opts["out"],
        overwrite=opts["overwrite"],
        resume=opts["resume"],
        adaptive_threads=True,  # the command owns its process and its threads
        tracking="mlflow" if opts["mlflow"] else None,
        mlflow_experiment=opts["mlflow_experiment"],
        **run_options,
    )
    if run.metrics is None:  # a rank other than 0 under torchrun
        return
    echo_err(f"trained {kind} on {opts['data']}; saved to {run.path}")
    if opts["mlflow"]:
        echo_err(last_run_line())
    click.echo(json.dumps(run.metrics, indent=2))


show_model_defaults(train)
