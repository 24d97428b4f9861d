"""The layout of a run folder made by ``aekit train``, and its description.

A run folder holds ``run.json`` (the model kind and the data it was trained
on), the saved model (``config.json`` + ``model.safetensors``, written by
:mod:`aekit.persistence`), per-epoch ``metrics.json`` and the last
``checkpoint.safetensors`` (written by the training loop, :mod:`aekit.engine`),
and the figures and report of ``aekit report``. Every file name is defined here.
"""

from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from aekit.data import DataBundle, load_data
from aekit.errors import RunFileError
from aekit.safe_files import read_json, write_json

RUN_FILE = "run.json"
MODEL_CONFIG = "config.json"
MODEL_WEIGHTS = "model.safetensors"
CHECKPOINT = "checkpoint.safetensors"
METRICS = "metrics.json"
FIGURES_DIR = "figures"
REPORT_FILE = "report.html"
TENSORBOARD_DIR = "tensorboard"


@dataclass
class DataSpec:
    """How to get a run's data back: the source and its split."""

    source: str = "digits"
    data_dir: str | None = None
    val_fraction: float = 0.1
    test_fraction: float = 0.2
    split_seed: int = 0
    binarize: bool = False  # evaluate on a fixed seeded binarisation (Bernoulli VAE)

    def load(self) -> DataBundle:
        """The data, split as when the run was trained."""
        return load_data(
            self.source,
            data_dir=self.data_dir,
            val_fraction=self.val_fraction,
            test_fraction=self.test_fraction,
            random_state=self.split_seed,
        )


def prepare_run_dir(path: Path, *, overwrite: bool, resume: bool) -> None:
    """Create ``path``, refusing to reuse a non-empty folder unless told to."""
    if path.exists() and not path.is_dir():
        raise RunFileError(f"{path} exists and is not a folder.")
    if path.is_dir() and any(path.iterdir()) and not (overwrite or resume):
        raise RunFileError(
            f"{path} already exists; pass --overwrite to replace it or --resume to continue it."
        )
    if resume and not (path / RUN_FILE).exists():
        raise RunFileError(f"cannot resume: {path} holds no run (no {RUN_FILE}).")
    if overwrite and path.is_dir() and not resume:
        if not (path / RUN_FILE).exists() and any(path.iterdir()):
            raise RunFileError(f"{path} is not an aekit run folder; refusing to delete it.")
        shutil.rmtree(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise RunFileError(f"cannot write to {path} ({exc.strerror}).") from None


def write_run(path: Path, kind: str, data: DataSpec, options: dict[str, Any]) -> None:
    """Write ``run.json``: the model kind, its data and the options it was given."""
    write_json(path / RUN_FILE, {"kind": kind, "data": asdict(data), "options": options})


def read_run(path: str | Path) -> tuple[str, DataSpec, dict[str, Any]]:
    """The kind, data and options of the run in the folder ``path``."""
    path = Path(path)
    if not path.is_dir():
        raise RunFileError(f"{path} is not a run folder (it does not exist).")
    if not (path / RUN_FILE).exists():
        raise RunFileError(f"{path} is not an aekit run folder (no {RUN_FILE}).")
    run = read_json(path / RUN_FILE)
    try:
        return run["kind"], DataSpec(**run["data"]), run.get("options", {})
    except (KeyError, TypeError):
        raise RunFileError(f"{path / RUN_FILE} is not a valid run description.") from None
