"""A run tracked in MLflow: ``aekit train --mlflow`` and ``train_run(..., tracking="mlflow")``.

MLflow's autologging does not reach a plain PyTorch loop, so a run logs itself:

- parameters: the run's resolved configuration (what ``train.yaml`` holds);
- metrics: every value of every epoch's record (``train_loss``, ``val_mse``, ...)
  with the epoch as its step, from a training callback as TensorBoard's scalars
  are (a resumed run logs the epochs it continues from first); then the test
  split's metrics as ``test_mse``, ``test_elbo_nats`` ...;
- artifacts: the model card, ``train.yaml``, ``run.json`` and ``metrics.json`` of the
  run folder, and ``report.html`` with its figures, written into the run folder as
  ``aekit report`` writes them (a mixed table's report too);
- the model, as an MLflow model ``model`` with a ``pyfunc`` flavour
  (:mod:`aekit.runs.mlflow_model`).

Where runs go follows MLflow's own conventions: the tracking URI is
``MLFLOW_TRACKING_URI`` (else MLflow's default local store), the experiment the
one named (created when missing), else ``MLFLOW_EXPERIMENT_NAME``, else MLflow's
default. The run is a fluent MLflow run, so ``mlflow.last_active_run()`` finds it
afterwards, and inside an active run it is a child run. Under torchrun only rank 0
logs. ``mlflow`` is an optional extra, imported only when a run is tracked.

Examples
--------
>>> check_tracking(None, None)  # no tracking: nothing to check
>>> check_tracking("wandb", None)
Traceback (most recent call last):
...
aekit.errors.AekitError: tracking must be None or 'mlflow'; got 'wandb'.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterable
from importlib.metadata import version
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch

from aekit.errors import AekitError
from aekit.storage.persistence import MODEL_CONFIG, MODEL_WEIGHTS
from aekit.training.callbacks import Callback

TRACKINGS = ("mlflow",)
#: what the pyfunc model's ``params={"output": ...}`` may ask for; the first is the default
OUTPUTS = ("codes", "reconstruction", "score")
MODEL_ARTIFACT = "model"  # the aekit model folder among the MLflow model's artifacts
CLASS_COLUMN = "class"  # a conditional model's input column of each row's class
MODEL_CODE = Path(__file__).with_name("mlflow_model.py")  # the pyfunc model, from code
EXAMPLE_ROWS = 5  # the MLflow model's input example


def require_mlflow() -> ModuleType:
    """The ``mlflow`` module; it is an optional extra, so fail with one sentence."""
    try:
        import mlflow
    except ImportError:
        raise AekitError(
            "MLflow tracking needs the optional mlflow package: pip install 'aekit[mlflow]'."
        ) from None
    return mlflow


def check_tracking(tracking: str | None, experiment: str | None) -> None:
    """Refuse an unknown ``tracking``, an experiment without tracking, and MLflow
    tracking without ``mlflow`` installed."""
    if tracking is not None and tracking not in TRACKINGS:
        raise AekitError(f"tracking must be None or 'mlflow'; got {tracking!r}.")
    if experiment is not None and tracking is None:
        raise AekitError("an MLflow experiment applies only with tracking='mlflow'.")
    if tracking == "mlflow":
        require_mlflow()


class EpochMetrics(Callback):
    """Every value of every epoch's record as an MLflow metric, the epoch its step."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self._client = require_mlflow().MlflowClient()

    def on_fit_start(self, trainer: Any) -> None:
        if trainer.rank == 0:  # a resumed run: the epochs it continues from
            for record in trainer.state.history:
                self.on_epoch_end(trainer, record)

    def on_epoch_end(self, trainer: Any, record: dict[str, float]) -> None:
        if trainer.rank != 0:
            return
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        step = int(record["epoch"])
        metrics = [Metric(k, float(v), now, step) for k, v in record.items() if k != "epoch"]
        self._client.log_batch(self.run_id, metrics=metrics)


class MlflowRun:
    """The MLflow run of one training run (on rank 0): started with the run's
    configuration as parameters, fed by :meth:`callback`, given the results by
    :meth:`log_results`, and ended by :meth:`end`.

    Parameters
    ----------
    name : str
        The MLflow run's name (the run folder's).
    config : dict
        The run's resolved configuration, logged as parameters.
    experiment : str, optional
        The experiment's name (default: MLflow's, see the module's text).
    tags : dict, optional
        Tags of the run besides MLflow's own (user, source, git commit).

    Examples
    --------
    >>> tracker = MlflowRun("ae-digits", {"kind": "ae"}, experiment="digits")  # doctest: +SKIP
    >>> model.fit(X, callbacks=[tracker.callback()])  # doctest: +SKIP
    >>> tracker.end()  # doctest: +SKIP
    """

    def __init__(
        self,
        name: str,
        config: dict[str, Any],
        *,
        experiment: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        self._mlflow = mlflow = require_mlflow()
        from mlflow.entities import Param

        experiment_id = _experiment_id(mlflow.MlflowClient(), experiment)
        run = mlflow.start_run(
            experiment_id=experiment_id,
            run_name=name,
            tags=tags,
            nested=mlflow.active_run() is not None,
        )
        self.run_id: str = run.info.run_id
        self.model_uri: str | None = None
        params = [Param(key, str(value)) for key, value in config.items()]
        try:
            mlflow.MlflowClient().log_batch(self.run_id, params=params)
        except BaseException as error:
            self.end(error)
            raise

    def callback(self) -> Callback:
        """The training callback that logs each epoch's metrics."""
        return EpochMetrics(self.run_id)

    def log_results(
        self,
        metrics: dict[str, Any],
        files: Iterable[Path],
        model_folder: Path,
        model: Any,
        X: Any,
        y: Any = None,
    ) -> None:
        """Log the test ``metrics`` (as ``test_NAME``), the run's ``files``, and the
        saved model in ``model_folder`` (``model``, read back from it) with the first
        rows of ``X`` (and their classes ``y``) as the MLflow model's input example."""
        numbers = {k: v for k, v in metrics.items() if _is_number(v)}
        self._mlflow.log_metrics({f"test_{k}": float(v) for k, v in numbers.items()})
        log_files(self.run_id, files)
        info = log_pyfunc_model(model_folder, model, X, y)
        self.model_uri = info.model_uri

    def end(self, error: BaseException | None = None) -> None:
        """End the MLflow run: FINISHED, or after ``error`` FAILED (KILLED for Ctrl-C)."""
        stopped = isinstance(error, KeyboardInterrupt)
        status = "FINISHED" if error is None else "KILLED" if stopped else "FAILED"
        active = self._mlflow.active_run()
        if active is not None and active.info.run_id == self.run_id:
            self._mlflow.end_run(status)
        else:  # something else took the fluent stack; end this run by its id
            self._mlflow.MlflowClient().set_terminated(self.run_id, status)


def log_files(run_id: str, files: Iterable[Path]) -> None:
    """Log each file of ``files`` that exists to the MLflow run ``run_id`` (a folder
    with its files, under its name)."""
    client = require_mlflow().MlflowClient()
    for path in files:
        if path.is_dir():
            client.log_artifacts(run_id, str(path), path.name)
        elif path.is_file():
            client.log_artifact(run_id, str(path))


def is_table_model(model: Any) -> bool:
    """Whether ``model`` was fitted on a mixed table (it takes and gives DataFrames)."""
    return getattr(model, "table_", None) is not None


def log_pyfunc_model(folder: Path, model: Any, X: Any, y: Any = None) -> Any:
    """Log the saved model in ``folder`` (``model``, read back from it) to the active
    MLflow run as the MLflow model ``model`` with a ``pyfunc`` flavour
    (:mod:`aekit.runs.mlflow_model`); the first rows of ``X`` are its input example,
    with their classes from ``y`` as the column ``class`` for a conditional model.
    Returns MLflow's ``ModelInfo``."""
    import pandas as pd

    mlflow = require_mlflow()
    rows = X[:EXAMPLE_ROWS]
    if is_table_model(model):
        example = rows.reset_index(drop=True)
    else:  # columns 0, 1, ... of doubles (float32 columns are taken too)
        example = pd.DataFrame(np.asarray(rows, dtype=np.float64).reshape(len(rows), -1))
    if getattr(model, "n_classes_", 0):
        if y is None:
            raise ValueError(
                "a conditional model's MLflow model needs the classes of its example rows: pass y."
            )
        example[CLASS_COLUMN] = np.asarray(y)[:EXAMPLE_ROWS]
    signature = mlflow.models.infer_signature(example, params={"output": OUTPUTS[0]})
    requirements = [  # aekit brings its own dependencies
        f"aekit=={version('aekit')}",
        f"torch=={torch.__version__.split('+')[0]}",
        f"mlflow=={mlflow.__version__}",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        saved = Path(tmp) / MODEL_ARTIFACT
        saved.mkdir()
        for name in (MODEL_CONFIG, MODEL_WEIGHTS):
            shutil.copyfile(folder / name, saved / name)
        return mlflow.pyfunc.log_model(
            name="model",
            python_model=str(MODEL_CODE),
            artifacts={MODEL_ARTIFACT: str(saved)},
            signature=signature,
            input_example=example,
            pip_requirements=requirements,
        )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def last_run_id() -> str:
    """The id of the MLflow run this process logged last (MLflow's ``last_active_run``)."""
    return require_mlflow().last_active_run().info.run_id


def last_run_line() -> str:
    """One line naming the MLflow run this process logged last, and where it is."""
    mlflow = require_mlflow()
    run = mlflow.last_active_run()
    return (
        f"logged to MLflow: run {run.info.run_id} of experiment {run.info.experiment_id} "
        f"at {mlflow.get_tracking_uri()}; model runs:/{run.info.run_id}/model"
    )


def _experiment_id(client: Any, name: str | None) -> str | None:
    """The id of the experiment ``name``, created when missing (None: MLflow's
    default, from ``MLFLOW_EXPERIMENT_NAME`` or ``MLFLOW_EXPERIMENT_ID``)."""
    if name is None:
        return None
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        return client.create_experiment(name)
    if experiment.lifecycle_stage == "deleted":
        raise AekitError(
            f"the MLflow experiment {name!r} is deleted; restore it or name another one."
        )
    return experiment.experiment_id
