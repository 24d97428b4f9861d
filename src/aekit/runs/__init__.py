"""Runs: the run folder and its transaction, the evaluation protocol, figures, the
report, and :func:`train_run`, the Python API that makes a run."""
