"""``aekit reconstruct``, ``sample`` and ``interpolate``: pictures of what a model
makes of examples, of its samples and of paths between codes."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import click
import numpy as np

from aekit.cli.options import (
    DATA_OPTIONS,
    DEVICE_OPTION,
    GRID_SAMPLES,
    NON_NEGATIVE,
    POSITIVE,
    SEED_OPTION,
    SPLIT_OPTION,
    AekitCommand,
    out_option,
)
from aekit.errors import AekitError
from aekit.models.code_paths import INTERPOLATIONS
from aekit.models.generation import CHAIN_STEPS, SAMPLE_METHODS, GenerativeMixin, chain_count
from aekit.runs.class_grid import asked_classes, labelled_pairs, split_labels
from aekit.runs.figures import image_rows, path_grid, sample_grid
from aekit.runs.folder import open_run
from aekit.runs.layout import check_output
from aekit.storage.safe_files import atomic_write_bytes


@click.command(cls=AekitCommand)
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
    path = check_output(out or Path(run) / "reconstructions.png")
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


@click.command(cls=AekitCommand)
@click.argument("run", type=click.Path())
@click.option("-n", "n", type=click.IntRange(1, 100_000), default=64, show_default=True)
@click.option(
    "--method",
    type=click.Choice(SAMPLE_METHODS),
    help="prior: z ~ p(z), N(0, I), a learned mixture or a VampPrior; gaussian/gmm: the density "
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
@click.option(
    "--class",
    "class_",
    metavar="LABEL",
    help="A conditional run's class of every sample (default: its classes in turn, sample "
    "by sample, or chain by chain for --method chain).",
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
    class_: str | None,
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
    y = asked_classes(model, class_, run, n)
    path = check_output(out or Path(run) / f"samples-{method}.png")
    npy_path = check_output(npy if npy.endswith(".npy") else npy + ".npy") if npy else None
    if method == "chain":
        if temperature != 1.0:
            raise click.UsageError("--temperature applies to code draws, not to --method chain.")
        if noise is None and not model.get_params().get("noise_std"):
            raise click.UsageError(
                f"--method chain needs a corruption, and this '{kind}' model trained "
                "without one: give --noise SIGMA, or sample a 'dae' run."
            )
        samples = model.sample_chain(
            n,
            random_state=seed,
            n_chains=chains,
            burn_in=burn_in,
            thin=thin,
            noise_std=noise,
            reconstruction=reconstruction,
            y=asked_classes(model, class_, run, chain_count(n, chains)),  # one per chain
        )
    else:
        samples = model.sample(n, method=method, random_state=seed, temperature=temperature, y=y)
    beside = None if samples.ndim > 2 or spec is None else spec.load().test.X
    shown = samples[:GRID_SAMPLES]
    title = f"{kind} samples ({method})" + (f", {len(shown)} of {n}" if n > len(shown) else "")
    sample_grid(shown, path, title=title, data=beside)
    if npy_path:
        buffer = io.BytesIO()
        np.save(buffer, samples)
        atomic_write_bytes(npy_path, buffer.getvalue())  # a full disk leaves no truncated file
    click.echo(str(path))


@click.command(cls=AekitCommand)
@click.argument("run", type=click.Path())
@click.option("--pairs", type=click.IntRange(1, 32), default=5, show_default=True)
@click.option("--steps", type=click.IntRange(2, 64), default=10, show_default=True)
@click.option(
    "--method",
    type=click.Choice(INTERPOLATIONS),
    help="Path in code space (default: spherical between draws of N(0, I), else linear).",
)
@click.option("--prior", is_flag=True, help="Between draws of the prior instead of examples.")
@click.option(
    "--class",
    "class_",
    metavar="LABEL",
    help="A conditional run's class of every path, between examples of that class "
    "(default: its classes in turn, each path between two examples of its class).",
)
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
    class_: str | None,
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
    y = asked_classes(model, class_, run, pairs)  # a conditional run's class of each path
    path = check_output(out or Path(run) / "interpolation.png")
    if prior:
        method = method or model.default_prior_path
        strips = model.interpolate_prior(pairs, steps, method=method, random_state=seed, y=y)
        where = "prior draws"
    else:
        method = method or "linear"
        bundle = spec.load()
        X = getattr(bundle, split).X
        if y is not None:
            X_a, X_b = labelled_pairs(X, split_labels(bundle, split), y, split)
        elif len(X) < 2 * pairs:
            raise AekitError(f"the {split} split has fewer than {2 * pairs} examples.")
        else:
            X_a, X_b = X[:pairs], X[pairs : 2 * pairs]
        strips = model.interpolate(X_a, X_b, steps, method=method, y=y)
        where = f"{split} examples"
    at = "" if y is None else f" at class {y[0]}" if class_ else ", at the classes in turn"
    path_grid(strips, path, title=f"{kind}: {method} interpolation between {where}{at}")
    click.echo(str(path))
