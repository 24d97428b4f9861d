"""The names of the files of a run folder made by ``aekit train``, and the check that
no other command writes over them.

A run folder holds ``run.json`` (the model kind and the data it was trained on),
the saved model (``config.json`` + ``model.safetensors``, named by
:mod:`aekit.storage.persistence`), ``train.yaml`` (:mod:`aekit.runs.config`), the
model card ``README.md`` (:mod:`aekit.runs.card`), per-epoch ``metrics.json`` and
the last ``checkpoint.safetensors`` (named by :mod:`aekit.training.epoch_log` and
:mod:`aekit.training.checkpoint`), and the figures and report of ``aekit report``.
How a run folder is written is :mod:`aekit.runs.folder`'s.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from aekit.errors import RunFileError
from aekit.runs.lock import LOCK_FILE
from aekit.storage.persistence import MODEL_CONFIG, MODEL_WEIGHTS
from aekit.storage.safe_files import check_writable
from aekit.training.checkpoint import CHECKPOINT
from aekit.training.epoch_log import METRICS

RUN_FILE = "run.json"
FIGURES_DIR = "figures"
REPORT_FILE = "report.html"
TENSORBOARD_DIR = "tensorboard"
TRAIN_CONFIG = "train.yaml"  # the run's options (aekit.runs.config)
CARD = "README.md"  # the run's model card (aekit.runs.card)
IN_PROGRESS = (RUN_FILE, CHECKPOINT, METRICS, TENSORBOARD_DIR)  # what a resumed run continues
# the files that make a run: never the output of another command (see check_output)
RUN_OWN_FILES = (
    RUN_FILE,
    MODEL_CONFIG,
    MODEL_WEIGHTS,
    CHECKPOINT,
    METRICS,
    LOCK_FILE,
    TENSORBOARD_DIR,
    TRAIN_CONFIG,
    CARD,
)


def check_output(path: str | os.PathLike) -> Path:
    """Refuse, before any work, an output ``path`` that names a file of a run folder
    or saved model, a special file, or a place that cannot be written."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except OSError:
        mode = None
    if mode is not None and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise RunFileError(f"cannot write {path}: it is a FIFO, socket or device, not a file.")
    path = check_writable(path)
    folder = path.parent.resolve()
    if path.name in RUN_OWN_FILES and any((folder / f).exists() for f in (RUN_FILE, MODEL_CONFIG)):
        raise RunFileError(
            f"refusing to write {path}: it is one of the files that make the run in {folder}."
        )
    return path
