"""Runs: the run folder and its transaction, the evaluation protocol, figures, the
report, and :func:`train_run`, the Python API that makes a run."""

from aekit.runs.api import TrainedRun, run_callbacks, train_run
from aekit.runs.folder import open_run

__all__ = ["TrainedRun", "open_run", "run_callbacks", "train_run"]
