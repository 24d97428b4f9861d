"""How many CPU threads torch computes with: no more than the CPUs this process may
really use.

torch starts one intra-op thread per physical core of the machine, whatever share
of it the process is given. In a container limited by a CPU quota
(``docker --cpus``, Kubernetes limits) or under ``taskset``, that is more threads
than CPUs: the OpenMP threads then wait on each other in spin loops and training
slows many times over. :func:`available_cpus` reads the affinity mask and the
cgroup quota; :func:`thread_limit` applies a thread count for one piece of work.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from pathlib import Path

import torch


def available_cpus() -> int:
    """The CPUs this process may use: its affinity mask, capped by a cgroup quota.

    Examples
    --------
    >>> available_cpus() >= 1
    True
    """
    cpus = len(_affinity())
    quota = _cgroup_quota()
    return max(1, min(cpus, quota) if quota else cpus)


def _affinity() -> set[int]:
    """The CPUs in this process's affinity mask (all of them off Linux)."""
    try:
        return os.sched_getaffinity(0)
    except (AttributeError, OSError):  # not Linux
        return set(range(os.cpu_count() or 1))


def _cgroup_quota() -> int | None:
    """``ceil(quota / period)`` of the cgroup v2 ``cpu.max`` (or v1 cfs files), if set."""
    try:
        text = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if text and text[0] != "max":
            return math.ceil(int(text[0]) / int(text[1]))
    except (OSError, ValueError, IndexError):
        pass
    try:
        quota = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        period = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
        return math.ceil(quota / period) if quota > 0 else None
    except (OSError, ValueError, ZeroDivisionError):
        return None


def default_threads() -> int:
    """torch's current setting (its default, or what the user or ``aekit --threads``
    set), but never more than :func:`available_cpus`."""
    return max(1, min(torch.get_num_threads(), available_cpus()))


@contextlib.contextmanager
def thread_limit(n_threads: int | None) -> Iterator[int]:
    """Compute with ``n_threads`` intra-op threads (``None``: :func:`default_threads`)
    inside the block; the process's setting is restored after it."""
    before = torch.get_num_threads()
    wanted = default_threads() if n_threads is None else int(n_threads)
    if wanted != before:
        torch.set_num_threads(wanted)
    try:
        yield wanted
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)
