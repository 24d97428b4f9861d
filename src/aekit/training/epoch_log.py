"""Where each epoch's record goes: ``metrics.json`` (:class:`MetricsFile`, a training
callback that owns the file's name :data:`METRICS`), TensorBoard scalars
(:class:`TensorBoardScalars`), and one line on stderr (:func:`echo_epoch`).

The record is a flat dict of the epoch's metrics (``train_loss``, ``val_nll``,
``seconds`` ...). Only the process that writes the run (rank 0) writes files.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from aekit.errors import AekitError
from aekit.storage.safe_files import write_json
from aekit.training.callbacks import Callback

METRICS = "metrics.json"


class MetricsFile(Callback):
    """Rewrite ``folder/metrics.json`` (:data:`METRICS`) with the whole history after
    every epoch, atomically."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def on_epoch_end(self, trainer: Any, record: dict[str, float]) -> None:
        if trainer.rank == 0:
            write_json(self.folder / METRICS, {"history": trainer.state.history})


class TensorBoardScalars(Callback):
    """Every metric of every epoch as a TensorBoard scalar in ``folder`` (needs the
    optional ``tensorboard`` package: ``pip install 'aekit[tensorboard]'``)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self._summary_writer = require_tensorboard()
        self._writer = None

    def on_fit_start(self, trainer: Any) -> None:
        if trainer.rank == 0:
            self._writer = self._summary_writer(log_dir=str(self.folder))

    def on_epoch_end(self, trainer: Any, record: dict[str, float]) -> None:
        if self._writer is None:
            return
        for key, value in record.items():
            if key != "epoch":
                self._writer.add_scalar(scalar_tag(key), value, record["epoch"])
        self._writer.flush()

    def on_fit_end(self, trainer: Any) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def echo_epoch(record: dict[str, Any], epochs: int) -> None:
    """One line on stderr for the epoch ``record`` of ``epochs``."""
    shown = {k: v for k, v in record.items() if k.startswith(("train_", "val_"))}
    shown["seconds"] = record["seconds"]
    text = "  ".join(f"{k} {v:.5g}" for k, v in shown.items())
    tqdm.write(f"epoch {record['epoch']:d}/{epochs}  {text}", file=sys.stderr)
    sys.stderr.flush()  # a pipe or a CI log sees each line as it is made


def require_tensorboard() -> type:
    """TensorBoard's ``SummaryWriter``; it is an optional extra, so fail with one sentence."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise AekitError(
            "TensorBoard logging needs the optional tensorboard package: "
            "pip install 'aekit[tensorboard]'."
        ) from None
    return SummaryWriter


def scalar_tag(key: str) -> str:
    """``train_loss`` → ``loss/train``: one TensorBoard chart per metric, train beside val."""
    split, _, name = key.partition("_")
    return f"{name}/{split}" if split in ("train", "val") and name else key
