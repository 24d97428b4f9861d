"""Training checkpoints: everything the loop needs to continue a run exactly.

One safetensors file (see :mod:`aekit.storage.safe_files`) holds the model's weights
(``model.*``), the best weights kept for early stopping (``best.*``), the
optimizer's tensors (``optim.*``, and ``optlist.*`` for L-BFGS's history lists),
and, for a run interrupted mid-epoch, the CPU random state (``rng.cpu``) and the
epoch's partial sums (``partial.*``). The loop's counters, the optimizer's other
values and the training configuration are its JSON metadata.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from aekit.errors import RunFileError
from aekit.storage.safe_files import load_tensors, save_tensors


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
