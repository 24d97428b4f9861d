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
    every epoch, atomically, and at the start of a resumed run: a kill between an
    epoch's checkpoint and this file leaves the file an epoch behind the checkpoint,
    which holds the history too."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def on_fit_start(self, trainer: Any) -> None:
        if trainer.state.history:  # restored by the checkpoint callback before this one
            self._write(trainer)

    def on_epoch_end(self, trainer: Any, record: dict[str, float]) -> None:
        self._write(trainer)

    def _write(self, trainer: Any) -> None:
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
    """One line on stderr for the epoch ``record`` of ``epochs`` (:func:`epoch_line`)."""
    tqdm.write(epoch_line(record, epochs), file=sys.stderr)
    sys.stderr.flush()  # a pipe or a CI log sees each line as it is made


def epoch_line(record: dict[str, Any], epochs: int) -> str:
    """The line of one epoch: per split the reconstruction's MSE, which shows the
    progress that the constant of a Gaussian NLL hides, and the loss's terms by
    their names: ``recon_nll`` is −E[log p(x|z)], the reconstruction term (not the
    data's NLL), and with a code distribution ``elbo`` and ``kl``. ``loss`` is shown
    only where it is not one of these (β, KL warm-up, free bits, a code penalty).

    Examples
    --------
    >>> epoch_line({"epoch": 3, "train_loss": 67.3, "train_nll": 67.3,
    ...             "train_mse": 0.2639, "seconds": 0.5}, 10)
    'epoch 3/10  train: mse 0.2639  recon_nll 67.3  |  0.5 s'
    """
    parts = [f"epoch {record['epoch']:d}/{epochs}"]
    for split in ("train", "val"):
        values = {k.removeprefix(f"{split}_"): v for k, v in record.items()
                  if k.startswith(f"{split}_")}  # fmt: skip
        if not values:
            continue
        loss, elbo, kl = (values.pop(k, None) for k in ("loss", "elbo", "kl"))
        named = {"elbo": elbo} if elbo is not None else {}
        named.update(mse=values.pop("mse", None), recon_nll=values.pop("nll", None))
        named.update({"kl": kl} if kl is not None else {}, **values)
        means = (named.get("recon_nll"), None if named.get("elbo") is None else -named["elbo"])
        if loss is not None and not any(_same(loss, m) for m in means if m is not None):
            named["loss"] = loss
        shown = "  ".join(f"{k} {v:.5g}" for k, v in named.items() if v is not None)
        parts.append(f"{split}: {shown}")
    parts.append(f"{record['seconds']:.2g} s")
    return "  |  ".join(parts).replace("  |  ", "  ", 1)


def _same(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-5 * max(1.0, abs(a), abs(b))


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
