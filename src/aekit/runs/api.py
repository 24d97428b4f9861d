"""The Python API that makes a run: :func:`train_run` does what ``aekit train`` does.

Check everything that can be refused before the disk is touched; lock the run
folder; train beside the old run (a killed run resumes, a replaced one stays whole
until the new one is complete); commit the folder in one step; evaluate the saved
model on the test split.

Examples
--------
>>> import tempfile, aekit
>>> with tempfile.TemporaryDirectory() as d:
...     run = aekit.train_run("pca", "digits", f"{d}/pca", n_components=4)
...     sorted(p.name for p in run.path.iterdir() if not p.name.startswith("."))
['README.md', 'config.json', 'model.safetensors', 'run.json', 'train.yaml']
>>> run.metrics["mse"] >= run.metrics["eckart_young_bound_mse"]
True
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import torch

from aekit.data.sources import DataSpec
from aekit.errors import AekitError
from aekit.models.estimator import AutoencoderEstimator
from aekit.models.registry import KINDS, estimator_class, load
from aekit.runs.card import model_card
from aekit.runs.class_grid import split_labels
from aekit.runs.config import left_out, run_config, write_config
from aekit.runs.evaluation import evaluate, evaluation_data
from aekit.runs.folder import RunWriter, check_resume, write_run
from aekit.runs.layout import CARD, FIGURES_DIR, RUN_FILE, TENSORBOARD_DIR, TRAIN_CONFIG
from aekit.runs.report import build_report
from aekit.runs.tracking import MlflowRun, check_tracking
from aekit.storage.persistence import MODEL_WEIGHTS
from aekit.storage.safe_files import atomic_write_bytes, load_tensors
from aekit.training import distributed
from aekit.training.callbacks import Callback
from aekit.training.checkpoint import Checkpointing
from aekit.training.device import resolve_device
from aekit.training.epoch_log import METRICS, MetricsFile, TensorBoardScalars, require_tensorboard
from aekit.training.governor import LoadGovernor


class TrainedRun(NamedTuple):
    """What :func:`train_run` returns: the run folder, the fitted model read back
    from it, and its metrics on the test split (as ``aekit evaluate`` prints them);
    ``model`` and ``metrics`` are None on ranks other than 0 under torchrun."""

    path: Path
    model: AutoencoderEstimator | None
    metrics: dict[str, Any] | None


def run_callbacks(
    folder: str | Path, *, resume: bool = False, tensorboard: bool = False
) -> list[Callback]:
    """The training callbacks of a run folder: a checkpoint after every epoch (and
    resumption from it), ``metrics.json``, and optionally TensorBoard scalars in
    ``folder/tensorboard``.

    Examples
    --------
    >>> import numpy as np, tempfile, aekit
    >>> X = np.random.default_rng(0).random((40, 6), dtype=np.float32)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = aekit.Autoencoder(latent_dim=2, hidden=(8,), epochs=2).fit(
    ...         X, callbacks=run_callbacks(d))
    ...     sorted(p.name for p in Path(d).iterdir())
    ['checkpoint.safetensors', 'metrics.json']
    """
    folder = Path(folder)
    callbacks: list[Callback] = [Checkpointing(folder, resume=resume), MetricsFile(folder)]
    if tensorboard:
        callbacks.append(TensorBoardScalars(folder / TENSORBOARD_DIR))
    return callbacks


def default_run_folder(kind: str, data: str) -> Path:
    """Where a run of ``kind`` on ``data`` goes when no folder is named."""
    return Path(f"runs/{kind}-{Path(data).stem}")


def train_run(
    kind: str,
    data: str = "digits",
    out: str | Path | None = None,
    *,
    overwrite: bool = False,
    resume: bool = False,
    data_dir: str | None = None,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    split_seed: int = 0,
    image_size: tuple[int, int] | None = None,
    channels: int | None = None,
    label_column: str | None = None,
    tensorboard: bool = False,
    compile: bool = False,
    precision: str = "float32",
    adaptive_threads: bool = False,
    tracking: str | None = None,
    mlflow_experiment: str | None = None,
    **options: Any,
) -> TrainedRun:
    """Train a model of ``kind`` on ``data`` and save it as the run folder ``out``.

    Parameters
    ----------
    kind : {"pca", "linear", "ae", "dae", "vae"}
    data : str, default="digits"
        A dataset name or a file or image folder (:func:`aekit.data.load_data`).
    out : path, optional
        The run folder (default ``runs/KIND-DATA``). ``run.json`` in it records a
        data path as an absolute path, so the run finds its data from any folder.
    overwrite, resume : bool, default=False
        Replace the run in ``out`` (the old one stays whole until the new one is
        committed), or continue it from its last checkpoint.
    data_dir, val_fraction, test_fraction, split_seed, image_size, channels, label_column
        How the data are found and split (saved in ``run.json``). A CSV with text
        or missing cells (or any CSV, with ``column_types`` among the options) is a
        mixed table: ``ae``, ``dae`` and ``vae`` train on it, ``label_column`` (by
        name) kept out. ``conditional=True`` (``ae``, ``dae``, ``vae``) trains on the
        labels too (:mod:`aekit.runs.class_grid`).
    tensorboard, compile, precision
        Neural models: TensorBoard scalars in ``out/tensorboard``; ``torch.compile``
        the training step; ``"bfloat16"`` autocast.
    adaptive_threads : bool, default=False
        Train with the CPU thread governor (:mod:`aekit.training.governor`), as the
        command line does: it re-pins the threads of this process.
    tracking : {None, "mlflow"}, default=None
        ``"mlflow"``: log the run to MLflow (:mod:`aekit.runs.tracking`): its
        configuration, every epoch's metrics, the test metrics, the model card, the
        report and its figures (also written into the run folder) and the model with
        a ``pyfunc`` flavour. Needs ``pip install
        'aekit[mlflow]'``; the tracking URI is MLflow's (``MLFLOW_TRACKING_URI``);
        ``mlflow.last_active_run()`` finds it.
    mlflow_experiment : str, optional
        The MLflow experiment (created when missing; default: MLflow's).
    **options
        The estimator's parameters (``latent_dim=16``, ``epochs=50``, ...).

    Returns
    -------
    TrainedRun
        ``(path, model, metrics)``.
    """
    cls = estimator_class(kind)
    model = _model(cls, options)
    out = Path(out if out is not None else default_run_folder(kind, data))
    spec = _data_spec(
        data,
        data_dir,
        val_fraction,
        test_fraction,
        split_seed,
        image_size,
        channels,
        label_column,
        options,
    )
    config = run_config(
        kind,
        spec,
        model.get_params(),
        tensorboard=tensorboard,
        compile=compile,
        precision=precision,
    )
    not_repeated = left_out(model.get_params(), cls().get_params())
    saved_options = {k: v for k, v in options.items() if k != "verbose"}
    # everything that can be refused is refused here, before the disk is touched
    writer = RunWriter(out, overwrite=overwrite, resume=resume)
    writer.check()
    if resume:
        check_resume(out, kind, spec, saved_options)
    for name, used in (
        ("tensorboard", tensorboard),
        ("compile", compile),
        ("precision", precision != "float32"),
    ):
        if used and not cls.trains_with_loop:
            raise AekitError(f"{name} does not apply to '{kind}' models.")
    if tensorboard:
        require_tensorboard()
    check_tracking(tracking, mlflow_experiment)
    bundle = spec.load()
    if bundle.is_table and "column_types" not in model.get_params():
        takers = ", ".join(k for k in KINDS if "column_types" in estimator_class(k)().get_params())
        raise AekitError(
            f"{data} is a mixed table (text or missing cells): train {takers} on it; "
            f"'{kind}' models take numbers only."
        )
    model.check_fit(len(bundle.train.X), bundle.sample_shape)
    conditional = bool(model.get_params().get("conditional"))
    if conditional:
        split_labels(bundle, "train")  # refused before the disk is touched
    if cls.trains_with_loop and distributed.init_from_env():
        print(f"aekit: rank {distributed.rank()} of {distributed.world_size()}", file=sys.stderr)
    run_dir = writer.training_dir  # the same on every rank, before rank 0 prepares it
    main = distributed.is_main()
    _on_rank_0(writer.__enter__)
    tracker = None
    try:
        if tracking and main:  # rank 0 alone logs
            tags = {
                "aekit.kind": kind,
                "aekit.data": spec.source,
                "aekit.run_folder": str(out.absolute()),
            }
            tracker = MlflowRun(out.name, config, experiment=mlflow_experiment, tags=tags)
        if not resume:
            _on_rank_0(lambda: write_run(run_dir, kind, spec, saved_options))
        if cls.trains_with_loop:
            callbacks = run_callbacks(run_dir, resume=resume, tensorboard=tensorboard)
            if tracker is not None:
                callbacks.append(tracker.callback())
            if adaptive_threads and model.n_threads != "adaptive":
                fixed = model.n_threads
                callbacks.append(LoadGovernor(fixed, resolve_device(model.device)))
            X_val = evaluation_data(
                bundle, "val", binarized=spec.binarize, dequantized=model.dequantized_data
            )
            y = split_labels(bundle, "train") if conditional else None
            model.fit(
                bundle.train.X,
                y=y,
                X_val=None if conditional else X_val,  # a conditional fit holds out its own
                callbacks=callbacks,
                compile=compile,
                precision=precision,
            )
        else:  # PCA: the validation split sets its outlier threshold
            model.fit(bundle.train.X, X_val=evaluation_data(bundle, "val"))
        metrics: dict[str, Any] = {}

        def write_final(folder: Path) -> None:
            """The saved model, its configuration, and its card with its test metrics."""
            model.save(folder)
            write_config(folder / TRAIN_CONFIG, config, not_repeated=not_repeated)
            saved = load(folder)
            metrics.update(evaluate(saved, bundle, "test", binarized=spec.binarize))
            tensors, _ = load_tensors(folder / MODEL_WEIGHTS)
            card = model_card(
                out.name,
                config,
                saved,
                bundle,
                metrics,
                n_weights=sum(t.numel() for t in tensors.values()),
                history=getattr(model, "history_", None),
            )
            atomic_write_bytes(folder / CARD, card.encode("utf-8"))

        if main:  # rank 0 alone saves, evaluates and reports
            writer.commit(write_final)
        if tracker is not None:
            saved = load(out)
            files = [out / name for name in (CARD, TRAIN_CONFIG, RUN_FILE, METRICS)]
            page = build_report(out, saved, kind, spec, bundle, metrics)  # as aekit report
            files += [page, out / FIGURES_DIR]
            tracker.log_results(metrics, files, out, saved, bundle.test.X, bundle.test.y)
    except BaseException as error:
        if tracker is not None:
            tracker.end(error)
        raise
    finally:
        if main:
            writer.__exit__(None, None, None)
        distributed.shutdown()
    if tracker is not None:
        tracker.end()
    if not main:
        return TrainedRun(out, None, None)
    return TrainedRun(out, load(out), metrics)


def train_config(
    kind: str,
    data: str = "digits",
    *,
    data_dir: str | None = None,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    split_seed: int = 0,
    image_size: tuple[int, int] | None = None,
    channels: int | None = None,
    label_column: str | None = None,
    tensorboard: bool = False,
    compile: bool = False,
    precision: str = "float32",
    **options: Any,
) -> dict[str, Any]:
    """The configuration that :func:`train_run` with these arguments records in the
    run's ``train.yaml`` (:mod:`aekit.runs.config`), without training anything."""
    model = _model(estimator_class(kind), options)
    spec = _data_spec(
        data,
        data_dir,
        val_fraction,
        test_fraction,
        split_seed,
        image_size,
        channels,
        label_column,
        options,
    )
    return run_config(
        kind,
        spec,
        model.get_params(),
        tensorboard=tensorboard,
        compile=compile,
        precision=precision,
    )


def _model(cls: type[AutoencoderEstimator], options: dict[str, Any]) -> AutoencoderEstimator:
    """An unfitted ``cls`` with ``options``; an unknown one is refused."""
    accepted = cls().get_params()
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise AekitError(
            f"{', '.join(unknown)} is not a parameter of {cls.__name__}; "
            f"its parameters are {', '.join(sorted(accepted))}."
        )
    return cls(**options)


def _data_spec(
    data: str,
    data_dir: str | None,
    val_fraction: float,
    test_fraction: float,
    split_seed: int,
    image_size: tuple[int, int] | None,
    channels: int | None,
    label_column: str | None,
    options: dict[str, Any],
) -> DataSpec:
    """How a run finds and splits its data, with paths made absolute."""
    return DataSpec(
        source=data,
        data_dir=data_dir,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        split_seed=split_seed,
        binarize=options.get("binarize") == "dynamic",
        image_size=image_size,
        channels=channels,
        label_column=label_column,
        as_table=options.get("column_types") is not None,
    ).anywhere()


def _on_rank_0(write: Callable[[], Any]) -> None:
    """Run ``write`` on rank 0 only; every rank raises if it failed there."""
    error = None
    if distributed.is_main():
        try:
            write()
        except AekitError as exc:
            error = exc
    if distributed.world_size() > 1:
        failed = distributed.all_reduce(torch.tensor([float(error is not None)]), "max")
        if failed.item() and error is None:
            raise AekitError("rank 0 could not prepare the run folder; see its message.")
    if error is not None:
        raise error
