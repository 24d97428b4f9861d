"""The options of the ``aekit`` command line, and how the model options of
``aekit train`` become estimator parameters.

Choices come from the library's own constants; a model option is the estimator
parameter of the same name unless :data:`aekit.runs.config.RENAMED` says otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import click
import torch

from aekit.core.corruption import BINARIZE
from aekit.core.likelihoods import LIKELIHOODS
from aekit.core.module import OBJECTIVES
from aekit.core.networks import ACTIVATIONS, ARCHITECTURES, NORMS
from aekit.core.priors import PRIORS
from aekit.core.scaling import SCALINGS
from aekit.data.image_folder import parse_image_size
from aekit.data.sources import SPLITS, DataSpec
from aekit.errors import DataError
from aekit.models.neural_params import STARTS
from aekit.models.outliers import check_contamination
from aekit.models.registry import ESTIMATORS, estimator_class
from aekit.runs.config import DATA_FIELDS, renamed
from aekit.training.loop import SCHEDULES
from aekit.training.threads import default_threads

MODEL_PARAMETERS = frozenset(p for cls in ESTIMATORS.values() for p in cls().get_params())


def _parse_hidden(ctx, param, value: str | None) -> tuple[int, ...] | None:
    if value is None:
        return None
    parts = value.replace(" ", "").split(",")
    if not all(p.isascii() and p.isdigit() for p in parts):  # not "8,,8", "1_0" or "-8"
        raise click.BadParameter(
            f"expected comma-separated integers such as 512,256; got {value!r}."
        )
    widths = tuple(int(p) for p in parts)
    if not widths or min(widths) <= 0:
        raise click.BadParameter(f"expected positive integers such as 512,256; got {value!r}.")
    return widths


class AekitCommand(click.Command):
    """A command of ``aekit``: before it runs, the process computes with the threads
    ``aekit --threads`` asked for (default: :func:`default_threads`). The group
    cannot set them itself: it imports no torch, so that ``aekit --help`` is quick."""

    def invoke(self, ctx: click.Context) -> Any:
        torch.set_num_threads(ctx.find_root().params.get("threads") or default_threads())
        return super().invoke(ctx)


def options(*decorators: Callable) -> Callable:
    """Apply click option decorators in the order listed (click's help keeps it)."""

    def apply(f: Callable) -> Callable:
        for decorator in reversed(decorators):
            f = decorator(f)
        return f

    return apply


class FiniteFloat(click.FloatRange):
    """A float in a range that is also finite: click's own range lets NaN and
    infinity through, and they would reach the model."""

    def convert(self, value: Any, param: Any, ctx: Any) -> float:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


class Contamination(click.ParamType):
    """``auto`` or a fraction in (0, 0.5]."""

    name = "auto|FRACTION"

    def convert(self, value: Any, param: Any, ctx: Any) -> str | float:
        if value == "auto":
            return value
        try:
            return check_contamination(FiniteFloat().convert(value, param, ctx))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


POSITIVE = FiniteFloat(min=0, min_open=True)
NON_NEGATIVE = FiniteFloat(min=0)
MODEL_OPTIONS = options(
    click.option("--latent-dim", "-d", type=click.IntRange(min=1), default=16, show_default=True),
    click.option("--architecture", type=click.Choice(ARCHITECTURES)),
    click.option("--hidden", callback=_parse_hidden, help="Widths or channels, e.g. 512,256."),
    click.option("--activation", type=click.Choice(tuple(ACTIVATIONS))),
    click.option("--norm", type=click.Choice(NORMS)),
    click.option("--likelihood", type=click.Choice(LIKELIHOODS)),
    click.option(
        "--scale", type=click.Choice(SCALINGS), help="Feature scaling (auto: none for [0, 1] data)."
    ),
    click.option("--sigma", type=POSITIVE, help="Fixed decoder σ."),
    click.option("--shared-variance", is_flag=True, default=None, help="One learned σ (VAE)."),
    click.option(
        "--prior",
        type=click.Choice(PRIORS),
        help="VAE prior: N(0, I), a Gaussian mixture, or a VampPrior.",
    ),
    click.option("--prior-components", type=click.IntRange(min=1), help="Mixture components."),
    click.option(
        "--pseudo-inputs", type=click.IntRange(min=1), help="VampPrior pseudo-inputs (VAE)."
    ),
    click.option("--beta", type=NON_NEGATIVE, help="KL weight (VAE)."),
    click.option("--kl-warmup", type=click.IntRange(min=0), help="KL warm-up epochs (VAE)."),
    click.option("--free-bits", type=NON_NEGATIVE, help="Free bits per dim (VAE)."),
    click.option("--objective", type=click.Choice(OBJECTIVES), help="VAE training objective."),
    click.option("--k", type=click.IntRange(min=1), help="IWAE samples for --objective iwae."),
    click.option(
        "--binarize",
        type=click.Choice(BINARIZE),
        help="dynamic: fresh Bernoulli draws of grey levels each batch (VAE).",
    ),
    click.option(
        "--dequantize",
        is_flag=True,
        default=None,
        help="Uniform noise in [0, 1/256) on 8-bit data each batch; bits/dim (Gaussian VAE).",
    ),
    click.option("--noise-std", type=NON_NEGATIVE, help="Input noise σ (DAE)."),
    click.option("--walkback", type=click.IntRange(min=0), help="Walkback steps (DAE chain)."),
    click.option("--code-l1", type=NON_NEGATIVE, help="L1 penalty on codes."),
    click.option(
        "--conditional",
        is_flag=True,
        default=None,
        help="Condition encoder and decoder on the labels (ae, dae, vae): a CSV's label "
        "column, MNIST's IDX labels, digits' own; aekit sample --class draws one.",
    ),
    click.option("--codebook-size", type=click.IntRange(min=1), help="Codes K (VQ-VAE)."),
    click.option("--code-dim", type=click.IntRange(min=1), help="Values per code (VQ-VAE)."),
    click.option(
        "--levels",
        type=click.IntRange(min=1),
        help="Residual codebooks (VQ-VAE); stochastic levels, 1 or 2 (VAE).",
    ),
    click.option("--commitment", type=NON_NEGATIVE, help="Commitment weight β (VQ-VAE)."),
    click.option("--decay", type=FiniteFloat(0, 1), help="Codebook EMA decay (VQ-VAE)."),
    click.option("--restart-threshold", type=NON_NEGATIVE, help="Dead-code share of 1/K (VQ-VAE)."),
    click.option(
        "--prior-epochs", type=click.IntRange(min=0), help="Code-prior epochs (VQ-VAE; 0: none)."
    ),
    click.option(
        "--prior-width", type=click.IntRange(min=1), help="Code-prior transformer width (VQ-VAE)."
    ),
    click.option("--prior-layers", type=click.IntRange(min=1), help="Code-prior layers (VQ-VAE)."),
    click.option("--prior-heads", type=click.IntRange(min=1), help="Code-prior heads (VQ-VAE)."),
    click.option("--prior-lr", type=POSITIVE, help="Code-prior learning rate (VQ-VAE)."),
    click.option("--epochs", type=click.IntRange(min=0)),
    click.option("--batch-size", type=click.IntRange(min=1)),
    click.option("--lr", type=POSITIVE),
    click.option("--weight-decay", type=NON_NEGATIVE),
    click.option("--lr-schedule", type=click.Choice(SCHEDULES)),
    click.option("--grad-clip", type=POSITIVE),
    click.option(
        "--early-stopping", type=click.IntRange(min=0), help="Patience in epochs (0: off)."
    ),
    click.option(
        "--start",
        type=click.Choice(STARTS),
        help="pca: a linear path beside the networks, started at PCA's solution.",
    ),
    click.option("--device", default="auto", show_default=True),
    click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True),
    click.option("--whiten", is_flag=True, default=None, help="Whitened codes (PCA)."),
    click.option("--solver", help="PCA: auto, covariance, svd, randomized; linear: lbfgs, adam."),
    click.option(
        "--contamination",
        type=Contamination(),
        help="Share of outliers in the training data: the threshold of aekit score.",
    ),
)
DATA_OPTIONS = options(
    click.option(
        "--data-dir",
        type=click.Path(file_okay=False),
        help="Folder of the MNIST / Fashion-MNIST IDX files (default: $AEKIT_DATA).",
    ),
    click.option(
        "--split-seed",
        type=int,
        default=None,
        help="Seed of the train/validation/test split (default: the run's; 0 for train).",
    ),
)


def _parse_image_size(ctx, param, value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    try:
        return parse_image_size(value)
    except DataError as exc:
        raise click.BadParameter(str(exc)) from None


IMAGE_SIZE_OPTION = click.option(
    "--image-size",
    callback=_parse_image_size,
    metavar="H,W",
    help="Resize every image of an image folder to H,W pixels (Lanczos).",
)
CHANNELS_OPTION = click.option(
    "--channels",
    type=click.Choice(("1", "3")),
    callback=lambda ctx, param, value: None if value is None else int(value),
    help="Read every image of an image folder as greyscale (1) or RGB (3) "
    "(default: 1 when all are greyscale).",
)
# the seeds the models take as random_state (a larger one was a raw overflow message)
SEED_OPTION = click.option(
    "--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True
)


def out_option(what: str, default: str) -> Callable:
    """The ``--out`` option of a command that writes one ``what`` (default: ``default``)."""
    return click.option(
        "--out", type=click.Path(dir_okay=False), help=f"{what} (default: {default})."
    )


DEVICE_OPTION = click.option(
    "--device",
    default="auto",
    show_default=True,
    help="Where the loaded model runs (auto: CUDA when present, else the CPU).",
)
GRID_SAMPLES = 256  # the most samples drawn in one picture


SPLIT_OPTION = click.option("--split", type=click.Choice(SPLITS), default="test", show_default=True)


# what a default of None means, for the help text
NONE_MEANS = {
    "hidden": "512,256 (mlp) / 32,64 (conv)",
    "epochs": "≥ 20 epochs and ≥ 2000 steps (linear: 30000 Adam steps or 50 L-BFGS rounds)",
    "batch_size": "128 (L-BFGS: the whole set)",
    "lr": "5e-4 (Adam) / 1.0 (L-BFGS)",
    "grad_clip": "none",
    "early_stopping": "a tenth of the epochs, at least 10, when there are validation data",
    "random_state": "random",
}


def show_model_defaults(command: click.Command) -> None:
    """Append each model option's default, per kind where the kinds differ, to its help."""
    for param in command.params:
        unset = param.default is None or type(param.default).__name__ == "Sentinel"
        if not isinstance(param, click.Option) or param.is_flag or not unset:
            continue  # click shows the defaults that options carry themselves
        by_value: dict[str, list[str]] = {}
        for kind, cls in ESTIMATORS.items():
            params = cls().get_params()
            name = renamed(kind).get(param.name, param.name)
            if name in params:
                value = params[name]
                shown = NONE_MEANS.get(name, "none") if value is None else str(value)
                by_value.setdefault(shown, []).append(kind)
        if not by_value:
            continue
        parts = [v if len(by_value) == 1 else f"{v} ({', '.join(k)})" for v, k in by_value.items()]
        param.help = f"{param.help or ''}  [default: {'; '.join(parts)}]".strip()


def model_params(ctx: click.Context, kind: str, opts: dict[str, Any]) -> dict[str, Any]:
    """The estimator parameters among ``opts``; an option set explicitly for a kind
    it does not apply to is an error."""
    accepted = estimator_class(kind)().get_params()
    renames = renamed(kind)
    params: dict[str, Any] = {}
    for option, value in opts.items():
        name = renames.get(option, option)
        if value is None or (name not in MODEL_PARAMETERS and option not in renames):
            continue
        if name not in accepted:
            if ctx.get_parameter_source(option) != click.core.ParameterSource.DEFAULT:
                raise click.UsageError(
                    f"--{option.replace('_', '-')} does not apply to '{kind}' models."
                )
            continue
        params[name] = value
    if "verbose" in accepted:
        params["verbose"] = not opts["quiet"]
    return params


def resumed(
    ctx: click.Context,
    kind: str,
    opts: dict[str, Any],
    params: dict[str, Any],
    saved: tuple[str, DataSpec, dict[str, Any]],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(opts, params)`` of ``aekit train --resume``: every option not given on the
    command line is the one the run was trained with (``saved``, as
    :func:`aekit.runs.folder.read_run` reads it). Options given again are kept, so
    that one that differs is refused by the resume check, as it should be: a run that
    continues with other settings is neither the old run nor a new one."""
    renames = renamed(kind)
    given = {
        name
        for name in opts
        if ctx.get_parameter_source(name) not in (None, click.core.ParameterSource.DEFAULT)
    }
    _, spec, saved_params = saved
    given_params = {renames.get(option, option) for option in given}
    params = {
        **{k: _tuples(v) for k, v in saved_params.items() if k not in given_params},
        **{k: v for k, v in params.items() if k in given_params or k not in saved_params},
    }
    from_run = {o: getattr(spec, f) for o, f in DATA_FIELDS.items() if o not in given}
    return {**opts, **from_run}, params


def _tuples(value: Any) -> Any:
    """A value as the options give it (JSON reads tuples back as lists)."""
    return tuple(value) if isinstance(value, list) else value
