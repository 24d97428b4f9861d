"""The parameters of the neural models: their checks, and the training settings
that follow from them where they are left at their defaults."""

from __future__ import annotations

import math
import os
from typing import Any

from torch import nn

from aekit.core.likelihoods import LIKELIHOODS, Likelihood
from aekit.core.networks import ACTIVATIONS, ARCHITECTURES, NORMS
from aekit.core.scaling import SCALINGS, UNIT_SLACK, FeatureScaling
from aekit.errors import DataError
from aekit.models.outliers import check_contamination
from aekit.training.loop import SCHEDULES
from aekit.validation import MAX_SEED, Check, one_of, positive, widths

MIN_EPOCHS, MIN_STEPS = 20, 2000  # the default training length: at least both
STARTS = ("auto", "pca", "random")
# rows PCA's start is fitted on: all of a small table, a sample of larger data (whose
# copy and PCA's working memory then stay near 30 MB at 1000 features)
START_SAMPLE = 2000

_THREAD_COUNT = positive(integer=True, maximum=4096)


def check_n_threads(value: object, name: str = "n_threads") -> object:
    """A parameter check: ``None``, ``"adaptive"`` or a thread count in [1, 4096]."""
    if value is None or value == "adaptive":
        return value
    return _THREAD_COUNT(value, name)


# the checks every neural model needs, the linear one included
COMMON_CONSTRAINTS: dict[str, Check] = {
    "latent_dim": positive(integer=True),
    "epochs": positive(integer=True, zero=True, optional=True),
    "batch_size": positive(integer=True, optional=True),
    "lr": positive(optional=True),
    "weight_decay": positive(zero=True),
    "random_state": positive(integer=True, zero=True, optional=True, maximum=MAX_SEED),
    "contamination": check_contamination,
    "n_threads": check_n_threads,
    "validation_fraction": positive(zero=True, maximum=0.5),
}
# and those of the deep ones
DEEP_CONSTRAINTS: dict[str, Check] = {
    **COMMON_CONSTRAINTS,
    "architecture": one_of(ARCHITECTURES),
    "hidden": widths,
    "activation": one_of(tuple(ACTIVATIONS)),
    "norm": one_of(NORMS),
    "likelihood": one_of(LIKELIHOODS),
    "lr_schedule": one_of(SCHEDULES),
    "grad_clip": positive(optional=True),
    "early_stopping": positive(integer=True, zero=True, optional=True),
    "scale": one_of(SCALINGS),
    "start": one_of(STARTS),
}


def check_trainable(module: nn.Module, batch_size: int) -> None:
    """Refuse networks (built on the meta device) that cannot train here: batch norm
    on batches of one, or weights and Adam state that would not fit in memory."""
    batch_norm = any(isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d) for m in module.modules())
    if batch_norm and batch_size < 2:
        raise ValueError("norm='batch' needs batches of at least 2 examples; raise batch_size.")
    n_params = sum(p.numel() for p in module.parameters())
    needed = 16 * n_params  # float32 weights, gradients and Adam's two moments
    available = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if needed > 0.8 * available:
        raise ValueError(
            f"the networks have {n_params:,} parameters, which need {needed / 2**30:.1f} GiB "
            f"with their gradients and optimizer state; this machine has "
            f"{available / 2**30:.1f} GiB. Use smaller hidden layers."
        )


def check_support(likelihood: Likelihood, scaling: FeatureScaling) -> None:
    """Refuse training data outside the likelihood's support: a Bernoulli likelihood
    models values in [0, 1], after the feature ``scaling`` (fitted on those data)."""
    if likelihood.support != "unit":
        return
    low, high = scaling.fitted_range
    if low < -UNIT_SLACK or high > 1.0 + UNIT_SLACK:
        raise DataError(
            f"the Bernoulli likelihood models values in [0, 1], but X after scale="
            f"{scaling.kind!r} holds values in [{low:.4g}, {high:.4g}]; use scale='minmax' "
            "or a Gaussian likelihood."
        )


def given(value: Any, default: Any) -> Any:
    """``value``, or ``default`` where the parameter was left at ``None``."""
    return default if value is None else value


def default_patience(epochs: int) -> int:
    """Early stopping's default patience: a tenth of the epochs, at least 10."""
    return max(10, epochs // 10)


def sized_epochs(epochs: int | None, n_samples: int, batch_size: int) -> int:
    """``epochs``, or (``None``) enough for at least :data:`MIN_EPOCHS` epochs and
    :data:`MIN_STEPS` steps on ``n_samples`` examples."""
    if epochs is not None:
        return int(epochs)
    steps_per_epoch = math.ceil(n_samples / batch_size)
    return max(MIN_EPOCHS, math.ceil(MIN_STEPS / steps_per_epoch))
