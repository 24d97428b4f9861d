"""Training checkpoints: everything the loop needs to continue a run exactly.

One safetensors file (see :mod:`aekit.storage.safe_files`) holds the model's weights
(``model.*``), the best weights kept for early stopping (``best.*``), the
optimizer's tensors (``optim.*``, and ``optlist.*`` for L-BFGS's history lists),
and, for a run interrupted mid-epoch, the CPU random state (``rng.cpu``) and the
epoch's partial sums (``partial.*``). The loop's counters, the optimizer's other
values and the training configuration are its JSON metadata.

:class:`Checkpointing` is the training callback that writes one after every epoch
(and when Ctrl-C stops an epoch) and restores it to resume; :data:`CHECKPOINT`
is the file's name in a run folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from aekit.errors import RunFileError, one_line
from aekit.storage.safe_files import load_tensors, save_tensors
from aekit.training.callbacks import Callback

CHECKPOINT = "checkpoint.safetensors"
#: what a resumed run must share with the one it continues
SAME_ON_RESUME = ("batch_size", "random_state")


@dataclass
class Checkpoint:
    """The contents of a checkpoint file."""

    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    state: dict[str, Any]
    config: dict[str, Any]
    best: dict[str, torch.Tensor] | None = None
    rng_state: torch.Tensor | None = None
    partial: dict[str, torch.Tensor] = field(default_factory=dict)


def write_checkpoint(path: str | Path, checkpoint: Checkpoint) -> None:
    """Write ``checkpoint`` to ``path`` atomically."""
    tensors = {f"model.{k}": v for k, v in checkpoint.model.items()}
    if checkpoint.best is not None:
        tensors.update({f"best.{k}": v for k, v in checkpoint.best.items()})
    optim_tensors, optim_rest = flatten_optimizer_state(checkpoint.optimizer)
    tensors.update(optim_tensors)
    if checkpoint.rng_state is not None:
        tensors["rng.cpu"] = checkpoint.rng_state
        tensors.update({f"partial.{k}": v for k, v in checkpoint.partial.items()})
    meta = {"state": checkpoint.state, "optimizer": optim_rest, "config": checkpoint.config}
    save_tensors(path, tensors, meta)


def read_checkpoint(path: str | Path) -> Checkpoint:
    """Read a file written by :func:`write_checkpoint` (its checksum verified)."""
    path = Path(path)
    if not path.exists():
        raise RunFileError(f"cannot resume: {path} does not exist.")
    tensors, meta = load_tensors(path)
    try:
        optimizer = unflatten_optimizer_state(tensors, meta["optimizer"])
        state, config = meta["state"], meta["config"]
    except (KeyError, TypeError, ValueError):
        raise RunFileError(f"cannot resume: {path} is not an aekit checkpoint.") from None
    return Checkpoint(
        model=_strip(tensors, "model."),
        optimizer=optimizer,
        state=state,
        config=config,
        best=_strip(tensors, "best.") or None,
        rng_state=tensors.get("rng.cpu"),
        partial=_strip(tensors, "partial."),
    )


def flatten_optimizer_state(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimizer ``state_dict`` into tensors and a JSON-able rest."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    lists: dict[str, dict[str, list]] = {}
    for index, slots in state["state"].items():
        for name, value in slots.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{index}.{name}"] = value
            elif isinstance(value, list):
                # L-BFGS keeps its curvature history as lists of tensors (or None)
                layout = []
                for j, v in enumerate(value):
                    if isinstance(v, torch.Tensor):
                        tensors[f"optlist.{index}.{name}.{j}"] = v
                        layout.append("<tensor>")
                    else:
                        layout.append(v)
                lists.setdefault(str(index), {})[name] = layout
            else:
                scalars.setdefault(str(index), {})[name] = value
    rest = {"param_groups": state["param_groups"], "scalars": scalars, "lists": lists}
    return tensors, rest


def unflatten_optimizer_state(tensors: dict[str, torch.Tensor], rest: dict) -> dict[str, Any]:
    """Inverse of :func:`flatten_optimizer_state`."""
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    for index, slots in rest.get("scalars", {}).items():
        state.setdefault(int(index), {}).update(slots)
    for index, slots in rest.get("lists", {}).items():
        for name, layout in slots.items():
            values = [
                tensors[f"optlist.{index}.{name}.{j}"] if v == "<tensor>" else v
                for j, v in enumerate(layout)
            ]
            state.setdefault(int(index), {})[name] = values
    return {"state": state, "param_groups": rest["param_groups"]}


def _strip(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


class Checkpointing(Callback):
    """Checkpoint the loop into ``folder`` after every epoch, atomically, and
    restore it from there when ``resume`` (a folder without a checkpoint yet, as a
    run killed before its first epoch ended leaves it, starts afresh).

    Parameters
    ----------
    folder : path
        Where :data:`CHECKPOINT` is written (created if missing).
    resume : bool, default=False
        Continue from the checkpoint there.
    """

    resumable = True

    def __init__(self, folder: str | Path, resume: bool = False) -> None:
        self.folder = Path(folder)
        self.resume = resume

    @property
    def path(self) -> Path:
        return self.folder / CHECKPOINT

    def on_fit_start(self, trainer: Any) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        if not (self.resume and self.path.exists()):
            return
        checkpoint = read_checkpoint(self.path)
        for key in SAME_ON_RESUME:
            saved, given = checkpoint.config.get(key), getattr(trainer.config, key)
            if saved != given:
                raise RunFileError(
                    f"cannot resume: {self.path} was made with {key}={saved!r}, not {given!r}."
                )
        try:
            trainer.restore(checkpoint)
        except (KeyError, RuntimeError, TypeError, ValueError) as exc:
            why = one_line(exc)
            if "state_dict" in why:  # torch's multi-line list of missing and unexpected keys
                why = "its networks are not this model's: another kind or other sizes"
            raise RunFileError(
                f"cannot resume: {self.path} does not fit this model ({why})."
            ) from None

    def on_epoch_end(self, trainer: Any, record: dict[str, float]) -> None:
        if trainer.rank == 0:
            write_checkpoint(self.path, Checkpoint(**trainer.snapshot()))

    def on_interrupt(self, trainer: Any) -> None:
        if trainer.rank == 0:
            write_checkpoint(self.path, Checkpoint(**trainer.snapshot(torch.get_rng_state())))
