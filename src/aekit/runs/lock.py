"""One writer per run folder: an ``flock`` on the folder itself.

The lock is taken on the run folder's own inode, not on a file inside it, so
deleting or replacing a file in the folder (``.lock`` included) cannot let a
second writer in. After taking it, the writer checks that the path still names
the folder it locked (a folder swapped in by a commit, or removed and made again,
is locked afresh). ``.lock`` in the folder only names the holder's process id, for
the message a second writer gets; it is written atomically (a link or special
file there is refused, never followed) and removed when the lock is released.
The OS releases the ``flock`` when the process dies.
"""

from __future__ import annotations

import fcntl
import os
import stat
from pathlib import Path

from aekit.errors import RunFileError
from aekit.storage.safe_files import atomic_write_bytes

LOCK_FILE = ".lock"
_ATTEMPTS = 5


def check_lock_note(folder: Path) -> None:
    """Refuse a ``.lock`` in ``folder`` that is a link, folder or special file."""
    try:
        mode = os.lstat(folder / LOCK_FILE).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISREG(mode):
        raise RunFileError(
            f"{folder / LOCK_FILE} is not a regular file (a link, folder or special file); "
            "remove it before writing this run."
        )


def lock_folder(folder: Path) -> int:
    """An exclusive ``flock`` on the folder ``folder`` (which exists), with this
    process's id in its ``.lock``; another holder makes it fail at once, naming
    that process. Returns the descriptor that holds the lock."""
    for _ in range(_ATTEMPTS):
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunFileError(
                f"{folder} is being written by another aekit process (pid {_holder(folder)}); "
                "wait for it to finish."
            ) from None
        if _names(folder, fd):
            check_lock_note(folder)
            write_lock_note(folder)
            return fd
        os.close(fd)  # the folder was replaced after we opened it: lock the one there now
    raise RunFileError(f"{folder} keeps being replaced by another process; try again.")


def hold_folder(folder: Path) -> int:
    """An ``flock`` on ``folder``, a folder this process made and no one else knows
    of yet (it becomes the run folder in a commit, still locked)."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


def write_lock_note(folder: Path) -> None:
    """``.lock`` in ``folder``: this process's id."""
    atomic_write_bytes(folder / LOCK_FILE, f"{os.getpid()}\n".encode())


def release(folder: Path, fds: list[int]) -> None:
    """Remove the ``.lock`` note of ``folder`` (while still holding the lock, so it
    is ours), then release the lock ``fds`` hold."""
    if any(_names(folder, fd) for fd in fds):
        try:
            if stat.S_ISREG(os.lstat(folder / LOCK_FILE).st_mode):
                os.unlink(folder / LOCK_FILE)
        except FileNotFoundError:
            pass
    for fd in fds:
        os.close(fd)


def _names(folder: Path, fd: int) -> bool:
    """Whether the path ``folder`` names the folder open as ``fd``."""
    try:
        here = os.stat(folder)
    except OSError:
        return False
    held = os.fstat(fd)
    return (here.st_dev, here.st_ino) == (held.st_dev, held.st_ino)


def _holder(folder: Path) -> str:
    """The process id in ``folder``'s ``.lock``, read without following a link and
    without waiting on a special file."""
    try:
        fd = os.open(folder / LOCK_FILE, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return "unknown"
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return "unknown"
        return os.read(fd, 32).decode(errors="replace").strip() or "unknown"
    finally:
        os.close(fd)
