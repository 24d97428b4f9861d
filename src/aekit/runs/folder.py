"""The layout of a run folder made by ``aekit train``, and its description.

A run folder holds ``run.json`` (the model kind and the data it was trained
on), the saved model (``config.json`` + ``model.safetensors``, named and written by
:mod:`aekit.storage.persistence`), the run's options ``train.yaml``
(:mod:`aekit.runs.config`) and its model card ``README.md`` (:mod:`aekit.runs.card`),
per-epoch ``metrics.json`` and the last
``checkpoint.safetensors`` (named and written by the training callbacks of
:mod:`aekit.training.epoch_log` and :mod:`aekit.training.checkpoint`), and the
figures and report of ``aekit report``; their names are :mod:`aekit.runs.layout`'s.

:class:`RunWriter` writes a run folder as a transaction. One process at a time
holds its lock (an ``flock`` on the folder itself, see :mod:`aekit.runs.lock`).
Training happens in the folder itself while it holds no finished model, so
that a killed run resumes, and otherwise in a hidden sibling ``.NAME.staging``
folder, so that the finished run it replaces stays whole. The
final files are assembled in a hidden sibling ``.NAME.commit`` and swapped in
with one atomic exchange of the two folders (Linux ``renameat2``), so the
folder is always either the previous run or the new one. No other command writes
over the files that make a run (:func:`aekit.runs.layout.check_output`).
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from aekit.data.sources import DataSpec
from aekit.errors import RunFileError
from aekit.models.estimator import AutoencoderEstimator
from aekit.models.registry import KINDS, load
from aekit.runs.layout import IN_PROGRESS, RUN_FILE
from aekit.runs.lock import LOCK_FILE, check_lock_note, hold_folder, lock_folder, release
from aekit.storage.persistence import MODEL_CONFIG
from aekit.storage.safe_files import read_json, write_json
from aekit.training.checkpoint import CHECKPOINT


class RunWriter:
    """Write the run folder ``path`` all or nothing, one process at a time.

    Parameters
    ----------
    path : path
        The run folder.
    overwrite : bool
        Replace the run there (the old one stays until the new one is complete).
    resume : bool
        Continue the run there from its checkpoint.

    Use :meth:`check` before anything else touches the disk, then::

        with writer:                        # lock; prepare writer.training_dir
            train in writer.training_dir
            writer.commit(write_final_files)

    Leaving the block without a commit keeps what can be resumed (a checkpoint
    in the run folder itself) and removes everything else it made.
    """

    def __init__(self, path: str | Path, *, overwrite: bool = False, resume: bool = False):
        self.path = Path(path)
        self.overwrite, self.resume = overwrite, resume
        self._locks: list[int] = []  # the run folder's, then the one a commit swaps in
        self._created = False
        self._committed = False

    @property
    def staging(self) -> Path:
        return self.path.parent / f".{self.path.name}.staging"

    @property
    def _assembly(self) -> Path:
        return self.path.parent / f".{self.path.name}.commit"

    @property
    def finished(self) -> bool:
        """Whether the folder holds a finished run (a saved model) to keep whole."""
        return (self.path / MODEL_CONFIG).is_file()

    @property
    def training_dir(self) -> Path:
        """Where training writes its checkpoints and metrics."""
        return self.staging if self.finished else self.path

    def check(self) -> None:
        """Refuse what cannot be done, touching nothing."""
        path = self.path
        if path.exists() and not path.is_dir():
            raise RunFileError(f"{path} exists and is not a folder.")
        if path.is_dir():
            check_lock_note(path)
        contents = [p for p in path.iterdir() if p.name != LOCK_FILE] if path.is_dir() else []
        if contents and not (self.overwrite or self.resume):
            raise RunFileError(
                f"{path} already exists; pass --overwrite to replace it or --resume to continue it."
            )
        if self.resume and not (path / RUN_FILE).is_file():
            raise RunFileError(f"cannot resume: {path} holds no run (no {RUN_FILE}).")
        if self.overwrite and contents and not (path / RUN_FILE).is_file():
            raise RunFileError(f"{path} is not an aekit run folder; refusing to replace it.")
        parent = path.parent if path.parent != Path("") else Path(".")
        existing = next((p for p in [parent, *parent.parents] if p.exists()), Path("."))
        if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
            raise RunFileError(f"cannot write to {path}: {existing} is not a writable folder.")

    def __enter__(self) -> RunWriter:
        self.check()
        self._created = not self.path.exists()
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunFileError(f"cannot write to {self.path} ({exc.strerror}).") from None
        self._locks = [lock_folder(self.path)]
        self.check()  # again, now that no other writer can change the folder
        for stale in (self.staging, self._assembly):
            shutil.rmtree(stale, ignore_errors=True)
        if self.finished:
            self.staging.mkdir()
            if self.resume:  # continue from the finished run's checkpoint, leaving it whole
                _link_tree(self.path, self.staging, only=IN_PROGRESS)
        elif self.overwrite:
            for item in self.path.iterdir():
                if item.name != LOCK_FILE:
                    _remove(item)
        return self

    def commit(self, write_final: Callable[[Path], None]) -> None:
        """Assemble the training folder's files and those ``write_final(folder)``
        writes, then swap them in as the run folder in one step."""
        assembly = self._assembly
        assembly.mkdir()
        _link_tree(self.training_dir, assembly)
        self._locks.append(hold_folder(assembly))  # the run folder once swapped in
        try:
            os.link(self.path / LOCK_FILE, assembly / LOCK_FILE)  # the holder's pid
        except OSError:
            pass  # the note only names the holder; the lock is the folder's
        _reached("assembled")
        write_final(assembly)
        _sync(assembly)
        _reached("written")
        _exchange(assembly, self.path)
        _reached("exchanged")
        shutil.rmtree(assembly, ignore_errors=True)
        shutil.rmtree(self.staging, ignore_errors=True)
        self._committed = True

    def __exit__(self, *exc: object) -> None:
        if not self._locks:  # never entered, or entering failed: nothing of ours to undo
            return
        if not self._committed:
            shutil.rmtree(self._assembly, ignore_errors=True)
            shutil.rmtree(self.staging, ignore_errors=True)
            if not (self.path / CHECKPOINT).exists() and not self.finished:
                if self._created:  # nothing to resume: leave no new folder behind
                    shutil.rmtree(self.path, ignore_errors=True)
                elif not self.resume:
                    for item in self.path.iterdir():
                        if item.name != LOCK_FILE:
                            _remove(item)
        release(self.path, self._locks)
        self._locks = []


def _reached(step: str) -> None:
    """A point between two writes of a commit (tests stop the process here)."""


def _link_tree(source: Path, dest: Path, only: tuple[str, ...] | None = None) -> None:
    """Hard-link every file under ``source`` (or the entries named ``only``) into
    ``dest``, the lock file aside: instant, and later atomic replacements in either
    folder leave the other alone."""
    for item in source.iterdir():
        if item.name == LOCK_FILE or (only is not None and item.name not in only):
            continue
        if item.is_dir():
            shutil.copytree(item, dest / item.name, copy_function=_link_or_copy)
        else:
            _link_or_copy(item, dest / item.name)


def _link_or_copy(source: str | Path, dest: str | Path) -> None:
    try:
        os.link(source, dest)
    except OSError:
        shutil.copy2(source, dest)


def _remove(item: Path) -> None:
    shutil.rmtree(item) if item.is_dir() and not item.is_symlink() else item.unlink()


def _sync(folder: Path) -> None:
    """Flush the folder's entries to disk before it becomes the run."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_RENAME_EXCHANGE = 2


def _exchange(new: Path, current: Path) -> None:
    """Swap the folders ``new`` and ``current`` in one step (``renameat2`` with
    ``RENAME_EXCHANGE``); where the system lacks it, two renames."""
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is not None:
        at_cwd = -100
        if renameat2(at_cwd, os.fsencode(new), at_cwd, os.fsencode(current), _RENAME_EXCHANGE) == 0:
            return
        if ctypes.get_errno() not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()), str(current))
    aside = current.parent / f".{current.name}.old"
    os.rename(current, aside)
    os.rename(new, current)
    os.rename(aside, new)


def write_run(path: Path, kind: str, data: DataSpec, options: dict[str, Any]) -> None:
    """Write ``run.json``: the model kind, its data and the options it was given."""
    described = {k: v for k, v in asdict(data).items() if k != "download"}
    write_json(path / RUN_FILE, {"kind": kind, "data": described, "options": options})


RESUMABLE_CHANGES = ("epochs", "device", "data_dir", "download")  # what a resumed run may change


def check_resume(path: str | Path, kind: str, data: DataSpec, options: dict[str, Any]) -> None:
    """Refuse to resume the run in ``path`` as another kind, on other data or with
    other settings (all but :data:`RESUMABLE_CHANGES`)."""
    saved_kind, saved_data, saved_options = read_run(path)
    saved_data = saved_data.anywhere()  # a run written before paths were made absolute
    if saved_kind != kind:
        raise RunFileError(f"cannot resume: {path} is a '{saved_kind}' run, not '{kind}'.")
    saved = {**_plain(saved_options), **{f"data {k}": v for k, v in asdict(saved_data).items()}}
    given = {**_plain(options), **{f"data {k}": v for k, v in asdict(data).items()}}
    for key in sorted(set(saved) | set(given)):
        if key.removeprefix("data ") in RESUMABLE_CHANGES or saved.get(key) == given.get(key):
            continue
        raise RunFileError(
            f"cannot resume: {path} was trained with {key} = {saved.get(key)!r}, "
            f"not {given.get(key)!r}."
        )


def _plain(options: dict[str, Any]) -> dict[str, Any]:
    """Options as JSON reads them back (tuples become lists)."""
    return json.loads(json.dumps(options))


def read_run(path: str | Path) -> tuple[str, DataSpec, dict[str, Any]]:
    """The kind, data and options of the run in the folder ``path``."""
    path = Path(path)
    if not path.exists():
        raise RunFileError(f"{path} is not a run folder (it does not exist).")
    if not path.is_dir():
        raise RunFileError(f"{path} is not a run folder (it is not a folder).")
    if not (path / RUN_FILE).exists():
        raise RunFileError(
            f"{path} is neither an aekit run folder nor a saved model "
            f"(no {RUN_FILE} or {MODEL_CONFIG})."
        )
    run = read_json(path / RUN_FILE)
    try:
        kind, data, options = run["kind"], DataSpec(**run["data"]), run.get("options", {})
    except (KeyError, TypeError):
        raise RunFileError(f"{path / RUN_FILE} is not a valid run description.") from None
    if kind not in KINDS:
        raise RunFileError(f"{path / RUN_FILE} names an unknown model kind {kind!r}.")
    if not isinstance(options, dict):
        raise RunFileError(f"{path / RUN_FILE} is not a valid run description.")
    return kind, data, options


def open_run(
    run: str | Path,
    *,
    data: str | None = None,
    data_dir: str | None = None,
    split_seed: int | None = None,
    device: str = "auto",
    need_data: bool = True,
) -> tuple[str, DataSpec | None, AutoencoderEstimator]:
    """The kind, the data (any of them overridden) and the model of the run folder
    ``run``, loaded onto ``device`` (a run trained on a GPU evaluates on a CPU-only
    machine); what ``aekit evaluate``, ``report`` and the benchmarks start from.

    A model saved with ``model.save(path)`` (a folder without ``run.json``) opens
    too; it names no data, so its data are ``data`` when given and otherwise None,
    which is refused in one sentence when ``need_data`` is true.
    """
    path = Path(run)
    if path.is_dir() and not (path / RUN_FILE).exists() and (path / MODEL_CONFIG).is_file():
        model = load(run, device=device)
        if data is None:
            if need_data:
                raise RunFileError(
                    f"{run} is a saved model, not a run folder, so it names no data; "
                    "pass --data to say which data to use."
                )
            return model.kind, None, model
        binarize = model.get_params().get("binarize") == "dynamic"
        spec = DataSpec(data, data_dir, split_seed=split_seed or 0, binarize=binarize)
        return model.kind, spec, model
    kind, spec, _ = read_run(run)
    if data is not None:
        spec.source = data
    if data_dir is not None:
        spec.data_dir = data_dir
    elif spec.data_dir is not None:  # a folder named by the run's file, not by the user:
        spec.download = False  # read it, never create it
    if split_seed is not None:
        spec.split_seed = split_seed
    return kind, spec, load(run, device=device)
