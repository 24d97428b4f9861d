"""The ``aekit`` command line: it parses options, calls the library and prints.

Every failure caused by the user (bad options, bad data, bad run folders) ends
with one sentence on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
import numpy as np
import torch

from aekit.cli.exit import echo_err, run_command
from aekit.cli.export import export_command
from aekit.cli.options import (
    DATA_OPTIONS,
    DEVICE_OPTION,
    GRID_SAMPLES,
    IMAGE_SIZE_OPTION,
    MODEL_OPTIONS,
    NON_NEGATIVE,
    POSITIVE,
    SEED_OPTION,
    SPLIT_OPTION,
    FiniteFloat,
    model_params,
    out_option,
    resumed,
    show_model_defaults,
)
from aekit.cli.score import score_command
from aekit.errors import AekitError
from aekit.models.code_paths import INTERPOLATIONS
from aekit.models.generation import CHAIN_STEPS, SAMPLE_METHODS, GenerativeMixin
from aekit.models.registry import KINDS, estimator_class
from aekit.runs.api import default_run_folder, train_run
from aekit.runs.evaluation import evaluate
from aekit.runs.figures import image_rows, path_grid, sample_grid
from aekit.runs.folder import RUN_FILE, open_run, read_run
from aekit.runs.report import build_report
from aekit.storage.safe_files import check_writable
from aekit.training.loop import PRECISIONS
from aekit.training.threads import default_threads


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="aekit")
@click.option(
    "--threads",
    type=click.IntRange(1, 4096),
    help="CPU threads of every computation (default: torch's, at most the CPUs this "
    "process may use: affinity and container quota).",
)
def cli(threads: int | None) -> None:
    """aekit: autoencoders from PCA to VAEs, with honest evaluation."""
    torch.set_num_threads(threads or default_threads())


@cli.command()
@click.argument("kind", type=click.Choice(KINDS))
@click.option(
    "--data",
    default="digits",
    show_default=True,
    help="digits, mnist, fashion-mnist, or a .npy/.npz/.csv file or image folder.",
)
@DATA_OPTIONS
@IMAGE_SIZE_OPTION
@click.option("--val-fraction", type=FiniteFloat(0, 0.9), default=0.1, show_default=True)
@click.option("--test-fraction", type=FiniteFloat(0, 0.9), default=0.2, show_default=True)
@click.option("--out", type=click.Path(), help="Run folder (default: runs/KIND-DATA).")
@click.option("--overwrite", is_flag=True, help="Replace an existing run folder.")
@click.option(
    "--resume",
    is_flag=True,
    help="Continue the run in --out from its last checkpoint, with the options it was "
    "trained with; an option repeated with another value is refused (but --epochs, "
    "--device and --data-dir).",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or epoch lines.")
@MODEL_OPTIONS
@click.option(
    "--tensorboard",
    is_flag=True,
    help="Also log every metric per epoch as TensorBoard scalars in OUT/tensorboard.",
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
    """Train a model of KIND (pca, linear, ae, dae, vae) and save it as a run."""
    params = model_params(ctx, kind, opts)
    if opts["resume"]:
        opts["out"] = opts["out"] or default_run_folder(kind, opts["data"])
        if (Path(opts["out"]) / RUN_FILE).is_file():
            opts, params = resumed(ctx, kind, opts, params, read_run(opts["out"]))
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
        data_dir=opts["data_dir"],
        val_fraction=opts["val_fraction"],
        test_fraction=opts["test_fraction"],
        split_seed=opts["split_seed"] or 0,
        image_size=opts["image_size"],
        tensorboard=opts["tensorboard"],
        compile=opts["compile_"],
        precision=opts["precision"],
        adaptive_threads=True,  # the command owns its process and its threads
        **params,
    )
    if run.metrics is None:  # a rank other than 0 under torchrun
        return
    echo_err(f"trained {kind} on {opts['data']}; saved to {run.path}")
    click.echo(json.dumps(run.metrics, indent=2))


show_model_defaults(train)


@cli.command("evaluate")
@click.argument("run", type=click.Path())
@click.option("--data", help="Evaluate on other data (default: the run's).")
@DATA_OPTIONS
@SPLIT_OPTION
@click.option(
    "--nll-samples",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="VAE: importance samples K for log p(x) (0: skip).",
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


@cli.command()
@click.argument("run", type=click.Path())
@out_option("PNG file", "RUN/reconstructions.png")
@click.option("-n", "n", type=click.IntRange(1, 32), default=10, show_default=True)
@click.option(
    "--noise",
    type=NON_NEGATIVE,
    default=0.0,
    show_default=True,
    help="Add Gaussian noise of this σ first (rows: noisy / denoised / clean).",
)
@SPLIT_OPTION
@click.option("--data", help="Reconstruct other data (default: the run's).")
@DATA_OPTIONS
@DEVICE_OPTION
def reconstruct(
    run: str,
    out: str | None,
    n: int,
    noise: float,
    split: str,
    data: str | None,
    data_dir: str | None,
    split_seed: int | None,
    device: str,
) -> None:
    """Draw originals above their reconstructions (or noisy / denoised / clean)."""
    kind, spec, model = open_run(
        run, data=data, data_dir=data_dir, split_seed=split_seed, device=device
    )
    path = check_writable(out or Path(run) / "reconstructions.png")
    X = getattr(spec.load(), split).X[:n]
    if noise > 0:
        noisy = X + np.random.default_rng(0).normal(0, noise, X.shape).astype(np.float32)
        rows, labels = [noisy, model.reconstruct(noisy), X], ["noisy", "denoised", "clean"]
    else:
        rows, labels = [X, model.reconstruct(X)], ["original", "reconstruction"]
    image_rows(rows, labels, path, title=f"{kind} on {spec.source} ({split})")
    click.echo(str(path))


def _sampling_model(run: str, device: str, need_data: bool, **data: Any):
    kind, spec, model = open_run(run, device=device, need_data=need_data, **data)
    if not isinstance(model, GenerativeMixin):
        raise AekitError(f"{run} is a '{kind}' run; sampling applies to neural model runs.")
    return kind, spec, model


@cli.command()
@click.argument("run", type=click.Path())
@click.option("-n", "n", type=click.IntRange(1, 100_000), default=64, show_default=True)
@click.option(
    "--method",
    type=click.Choice(SAMPLE_METHODS),
    help="prior: z ~ p(z), N(0, I) or a learned mixture; gaussian/gmm: the density "
    "fitted to the training codes; "
    "chain: the denoising Markov chain. Default: prior for vae, gmm otherwise.",
)
@out_option("PNG file", "RUN/samples-METHOD.png")
@click.option("--npy", type=click.Path(dir_okay=False), help="Also save the samples as .npy.")
@SEED_OPTION
@click.option("--chains", type=click.IntRange(min=1), help="chain: parallel chains.")
@click.option("--burn-in", type=click.IntRange(min=0), default=50, show_default=True)
@click.option("--thin", type=click.IntRange(min=1), default=5, show_default=True)
@click.option("--noise", type=POSITIVE, help="chain: corruption σ.")
@click.option(
    "--reconstruction",
    type=click.Choice(CHAIN_STEPS),
    default="mean",
    show_default=True,
    help="chain: each step keeps the mean of p(x|x̃) or a draw of it (Bengio et al.).",
)
@click.option(
    "--temperature",
    type=NON_NEGATIVE,
    default=1.0,
    show_default=True,
    help="prior/gaussian/gmm: scale the code draws' spread (< 1: more typical codes).",
)
@click.option("--data", help="Vectors: draw the samples beside these data (default: the run's).")
@DATA_OPTIONS
@DEVICE_OPTION
def sample(
    run: str,
    n: int,
    method: str | None,
    out: str | None,
    npy: str | None,
    seed: int,
    chains: int | None,
    burn_in: int,
    thin: int,
    noise: float | None,
    reconstruction: str,
    temperature: float,
    data: str | None,
    data_dir: str | None,
    split_seed: int | None,
    device: str,
) -> None:
    """Draw N samples from a trained model into a picture grid (the first
    256 of them; --npy keeps all)."""
    kind, spec, model = _sampling_model(
        run, device, False, data=data, data_dir=data_dir, split_seed=split_seed
    )
    method = method or model.default_sample_method
    path = check_writable(out or Path(run) / f"samples-{method}.png")
    if npy:
        check_writable(npy)
    if method == "chain":
        if temperature != 1.0:
            raise click.UsageError("--temperature applies to code draws, not to --method chain.")
        samples = model.sample_chain(
            n,
            random_state=seed,
            n_chains=chains,
            burn_in=burn_in,
            thin=thin,
            noise_std=noise,
            reconstruction=reconstruction,
        )
    else:
        samples = model.sample(n, method=method, random_state=seed, temperature=temperature)
    beside = None if samples.ndim > 2 or spec is None else spec.load().test.X
    shown = samples[:GRID_SAMPLES]
    title = f"{kind} samples ({method})" + (f", {len(shown)} of {n}" if n > len(shown) else "")
    sample_grid(shown, path, title=title, data=beside)
    if npy:
        np.save(npy, samples)
    click.echo(str(path))


@cli.command()
@click.argument("run", type=click.Path())
@click.option("--pairs", type=click.IntRange(1, 32), default=5, show_default=True)
@click.option("--steps", type=click.IntRange(2, 64), default=10, show_default=True)
@click.option(
    "--method",
    type=click.Choice(INTERPOLATIONS),
    help="Path in code space (default: spherical between draws of N(0, I), else linear).",
)
@click.option("--prior", is_flag=True, help="Between draws of the prior instead of examples.")
@SPLIT_OPTION
@click.option("--data", help="Interpolate between examples of other data (default: the run's).")
@DATA_OPTIONS
@SEED_OPTION
@out_option("PNG file", "RUN/interpolation.png")
@DEVICE_OPTION
def interpolate(
    run: str,
    pairs: int,
    steps: int,
    method: str | None,
    prior: bool,
    split: str,
    data: str | None,
    data_dir: str | None,
    split_seed: int | None,
    seed: int,
    out: str | None,
    device: str,
) -> None:
    """Decode paths between pairs of codes: one strip per pair."""
    kind, spec, model = _sampling_model(
        run, device, not prior, data=data, data_dir=data_dir, split_seed=split_seed
    )
    path = check_writable(out or Path(run) / "interpolation.png")
    if prior:
        method = method or model.default_prior_path
        strips = model.interpolate_prior(pairs, steps, method=method, random_state=seed)
        where = "prior draws"
    else:
        method = method or "linear"
        X = getattr(spec.load(), split).X
        if len(X) < 2 * pairs:
            raise AekitError(f"the {split} split has fewer than {2 * pairs} examples.")
        strips = model.interpolate(X[:pairs], X[pairs : 2 * pairs], steps, method=method)
        where = f"{split} examples"
    path_grid(strips, path, title=f"{kind}: {method} interpolation between {where}")
    click.echo(str(path))


@cli.command()
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


cli.add_command(score_command)
cli.add_command(export_command)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI; user errors become one sentence and exit code 2."""
    return run_command(cli, argv)


if __name__ == "__main__":
    sys.exit(main())
