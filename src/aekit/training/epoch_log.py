"""Where each epoch's record goes: ``metrics.json`` in the run folder, TensorBoard
scalars, and one line on stderr.

The record is a flat dict of the epoch's metrics (``train_loss``, ``val_nll``,
``seconds`` ...). Only the process that writes the run (rank 0) makes an
:class:`EpochLog` with folders; the others make a silent one.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from aekit.errors import AekitError
from aekit.runs.folder import METRICS
from aekit.storage.safe_files import write_json


class EpochLog:
    """Writes every epoch's record where it was asked for.

    Parameters
    ----------
    run_dir : path, optional
        ``metrics.json`` (the whole history, atomically rewritten) goes here.
    tensorboard_dir : path, optional
        Every metric as a TensorBoard scalar (needs the optional package).
    echo : bool, default=False
        One line per epoch on stderr.
    epochs : int, default=0
        The planned number of epochs, shown in the line.
    """

    def __init__(
        self,
        run_dir: str | Path | None = None,
        tensorboard_dir: str | Path | None = None,
        *,
        echo: bool = False,
        epochs: int = 0,
    ) -> None:
        self.run_dir = None if run_dir is None else Path(run_dir)
        self.echo, self.epochs = echo, epochs
        self._writer = None
        if tensorboard_dir is not None:
            self._writer = require_tensorboard()(log_dir=str(tensorboard_dir))

    def write(self, record: dict[str, Any], history: list[dict[str, Any]]) -> None:
        """Log ``record``, the last entry of ``history``."""
        if self.run_dir is not None:
            write_json(self.run_dir / METRICS, {"history": history})
        if self._writer is not None:
            for key, value in record.items():
                if key != "epoch":
                    self._writer.add_scalar(scalar_tag(key), value, record["epoch"])
            self._writer.flush()
        if self.echo:
            shown = {k: v for k, v in record.items() if k.startswith(("train_", "val_"))}
            shown["seconds"] = record["seconds"]
            text = "  ".join(f"{k} {v:.5g}" for k, v in shown.items())
            tqdm.write(f"epoch {record['epoch']:d}/{self.epochs}  {text}", file=sys.stderr)
            sys.stderr.flush()  # a pipe or a CI log sees each line as it is made

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


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
