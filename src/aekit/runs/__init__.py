"""Runs: the run folder and its transaction, the evaluation protocol, figures, the
report, and :func:`train_run`, the Python API that makes a run."""

from aekit.runs.api import TrainedRun, run_callbacks, train_run

__all__ = ["TrainedRun", "run_callbacks", "train_run"]
