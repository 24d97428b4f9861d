"""Safe files for runs: atomic writes, self-verifying JSON and safetensors.

Every file is written to a temporary name in the same folder, flushed to disk and
renamed over the target, so a crash leaves either the old file or the new one.
Each file carries a SHA-256 of its own content (safetensors: in the header
metadata, over every byte of the file but the digest itself; JSON: a ``"sha256"``
field over the canonical dump of the rest), which loading checks: a truncated,
corrupted or edited file is refused with an error naming it. Nothing is ever unpickled.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from aekit.errors import RunFileError


def _file_mode() -> int:
    """The mode a plain ``open`` would give a new file: 0o666 less the umask (which
    can only be read by setting it, so it is set straight back)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write_bytes(path: str | os.PathLike, data: bytes | bytearray) -> None:
    """Write ``data`` to ``path`` atomically (temp file, fsync, rename), with the
    permissions the user's umask gives new files."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:  # name the file the caller asked for, not the temporary one
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    try:
        os.fchmod(fd, _file_mode())  # mkstemp makes files private (0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_writable(path: str | os.PathLike) -> Path:
    """Refuse, before any work, a file path whose folder is missing or not writable."""
    path = Path(path)
    folder = path.parent
    if path.is_dir():
        raise RunFileError(f"cannot write {path}: it is a folder.")
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise RunFileError(f"cannot write {path}: {folder} is not a writable folder.")
    return path


def read_regular_file(path: str | os.PathLike) -> bytes:
    """The bytes of the regular file ``path``; a FIFO, socket or device there is
    refused at once (opened without blocking, its type checked before reading)."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise RunFileError(f"{path} does not exist.") from None
    except OSError as exc:
        raise RunFileError(f"{path} cannot be read ({exc.strerror or exc}).") from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise RunFileError(f"{path} is not a regular file (a FIFO, socket, device or folder).")
        return f.read()


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def write_json(path: str | os.PathLike, obj: dict[str, Any]) -> None:
    """Write ``obj`` as indented JSON with a ``"sha256"`` field over its content."""
    body = {k: v for k, v in obj.items() if k != "sha256"}
    body["sha256"] = hashlib.sha256(_canonical(body)).hexdigest()
    atomic_write_bytes(path, (json.dumps(body, indent=2, sort_keys=True) + "\n").encode())


def read_json(path: str | os.PathLike) -> dict[str, Any]:
    """Read a file written by :func:`write_json` and verify its checksum."""
    path = Path(path)
    data = read_regular_file(path)
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: deep nesting
        raise RunFileError(f"{path} is not valid JSON (truncated or corrupted).") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("sha256"), str):
        raise RunFileError(f"{path} has no checksum; it was not written by aekit.")
    expected = obj.pop("sha256")
    try:
        actual = hashlib.sha256(_canonical(obj)).hexdigest()
    except (ValueError, RecursionError):
        actual = ""
    if actual != expected:
        raise RunFileError(f"{path} fails its checksum: it was edited or corrupted.")
    return obj


# The digest is over the whole file as written, with its own 64 hex digits read as
# zeros: every header byte is covered too (safetensors writes the metadata keys in no
# fixed order, so a damaged key could otherwise read as merely "absent").
_DIGEST_FIELD = b'"sha256":"'
_DIGEST_PLACEHOLDER = "0" * 64


def _file_digest(data: bytes | bytearray, start: int) -> str:
    view = memoryview(data)  # slices without copying a file of possibly many MB
    h = hashlib.sha256(view[:start])
    h.update(_DIGEST_PLACEHOLDER.encode())
    h.update(view[start + len(_DIGEST_PLACEHOLDER) :])
    return h.hexdigest()


def save_tensors(
    path: str | os.PathLike,
    tensors: dict[str, torch.Tensor],
    metadata: dict[str, Any] | None = None,
) -> None:
    """Save tensors as safetensors with a checksum; ``metadata`` is stored as JSON."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    meta = {"sha256": _DIGEST_PLACEHOLDER, "json": json.dumps(metadata or {})}
    data = bytearray(st_save(tensors, metadata=meta))
    start = data.index(_DIGEST_FIELD + _DIGEST_PLACEHOLDER.encode()) + len(_DIGEST_FIELD)
    data[start : start + len(_DIGEST_PLACEHOLDER)] = _file_digest(data, start).encode()
    atomic_write_bytes(path, data)


def load_tensors(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Load a file written by :func:`save_tensors`, verifying its checksum."""
    path = Path(path)
    data = read_regular_file(path)
    try:
        tensors = st_load(data)
        header_len = int.from_bytes(data[:8], "little")
        header = json.loads(data[8 : 8 + header_len])
    except (SafetensorError, ValueError, UnicodeDecodeError, OverflowError, RecursionError):
        if data[:1] == b"\x80" or data[:2] == b"PK":
            raise RunFileError(
                f"{path} is a pickle or zip archive, not safetensors; it is refused unread."
            ) from None
        raise RunFileError(
            f"{path} is not a valid safetensors file (truncated or corrupted)."
        ) from None
    meta = header.get("__metadata__") or {}
    # the first '"sha256":"' of the header is the digest's: inside the JSON metadata
    # string its quotes are escaped, and tensor names are followed by '":{'
    start = data.find(_DIGEST_FIELD, 8, 8 + header_len) + len(_DIGEST_FIELD)
    if (
        set(meta) != {"sha256", "json"}
        or start < len(_DIGEST_FIELD)
        or _file_digest(data, start) != meta["sha256"]
    ):
        raise RunFileError(f"{path} fails its checksum: it was edited or corrupted.")
    try:
        extra = json.loads(meta["json"])
    except (ValueError, RecursionError):
        raise RunFileError(f"{path} has unreadable metadata.") from None
    return tensors, extra
