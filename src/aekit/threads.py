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
import time
from collections.abc import Iterator
from pathlib import Path

import torch

from aekit.thread_placement import ThreadPlacement, stat_fields


def available_cpus() -> int:
    """The CPUs this process may use: its affinity mask, capped by a cgroup quota.

    Examples
    --------
    >>> available_cpus() >= 1
    True
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cpus = os.cpu_count() or 1
    quota = _cgroup_quota()
    return max(1, min(cpus, quota) if quota else cpus)


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


def _busy_jiffies() -> tuple[int, int, int]:
    """(busy, total) jiffies of all CPUs from /proc/stat, and this process's own."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    values = [int(v) for v in fields]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    own = stat_fields(Path("/proc/self/stat"))
    return sum(values) - idle, sum(values), int(own[11]) + int(own[12])  # utime + stime


class _LoadLevel:
    """What was timed at one load level (the thread count ``cpus - others`` it
    suggests): seconds a step and when, for that count and for all threads; the count
    kept; and how many ``reprobe`` periods the other count may go untimed."""

    #: the most ``reprobe`` periods a confirmed choice goes without timing the other
    PATIENCE = 8

    def __init__(self, fewer: int, most: int):
        self.fewer, self.most = fewer, most
        self.seconds: dict[int, tuple[float, float]] = {}  # count: (s/step, when)
        self.kept: int | None = None
        self.patience = 1

    def next_count(self, current: int, now: float, reprobe: float, margin: float) -> int:
        """The count to train with after ``current`` was timed at ``now``."""
        other = self.fewer if current == self.most else self.most
        if other not in self.seconds:
            return other
        if current != self.kept:  # the other count was timed: decide again
            # fewer threads must be clearly faster: a 2-s timing varies by ~15%
            faster = self.seconds[self.fewer][0] < (1 - margin) * self.seconds[self.most][0]
            best = self.fewer if faster else self.most
            # a choice confirmed waits twice as long before the next check
            same = best == self.kept
            self.patience = min(2 * self.patience, self.PATIENCE) if same else 1
            self.kept = best
            return best
        if now - self.seconds[other][1] > reprobe * self.patience:
            return other
        return current


class LoadGovernor:
    """Fewer threads, kept on CPUs of their own, while other processes keep the CPUs
    busy; all threads, unpinned, again after.

    OpenMP threads wait for each other at every parallel region, so two things go
    wrong when other processes hold the cores (BENCHMARKS.md, "Threads under load"):

    - more threads than the cores left to us can wait for each other in turn, or
      get more of the machine than fewer would. Every ``interval`` seconds
      (``adapt`` is called once per training step and reads /proc at most that
      often) this measures how many cores other processes used. Under load it
      times training steps with ``cpus - others`` threads (at least 1) and with
      all of them, ``probe`` seconds each, and trains with fewer only if their
      steps are ``MARGIN`` faster. The choice is remembered for that load level
      across idle spells, so a load that comes back gets it at once; the other
      count is timed again after ``reprobe`` seconds, twice as long each time the
      choice holds (up to ``_LoadLevel.PATIENCE`` times). Not when the user fixed
      ``n_threads``;
    - the scheduler can leave two of our threads on one CPU, where each barrier
      waits a time slice (steps of 500 ms against 14 ms). While others load the
      machine, busy threads are pinned apart (:class:`ThreadPlacement`), also for a
      count the user fixed.

    Nothing happens off the CPU or where /proc is missing. ``close`` (or leaving a
    ``with`` block) unpins.
    """

    #: cores others must hold before the machine counts as loaded
    LOADED = 0.5
    #: how much faster a step with fewer threads must be to be kept over all of them
    MARGIN = 0.1

    def __init__(
        self,
        n_threads: int | None,
        device: torch.device,
        interval: float = 0.25,
        probe: float = 2.0,
        reprobe: float = 20.0,
    ):
        self.active = device.type == "cpu" and Path("/proc/stat").exists()
        self.adapts_count = self.active and n_threads is None
        self.most, self.interval = torch.get_num_threads(), interval
        self.probe, self.reprobe = probe, reprobe
        self.cpus = available_cpus()
        self.last = self.since = time.monotonic()
        self.counts = _busy_jiffies() if self.active else (0, 0, 0)
        self.placement = ThreadPlacement() if self.active else None
        self.steps = 0  # since `since`, with the current count
        self.levels: dict[int, _LoadLevel] = {}  # by the count `cpus - others`
        self.level: _LoadLevel | None = None  # the load now, None while idle

    def adapt(self) -> None:
        """Count a step; re-decide count and placement if ``interval`` has passed."""
        self.steps += 1
        if not self.active or time.monotonic() - self.last < self.interval:
            return
        counts = _busy_jiffies()
        busy, total, own = (new - old for new, old in zip(counts, self.counts, strict=True))
        self.counts, self.last = counts, time.monotonic()
        if total <= 0:
            return
        machine_cpus = os.cpu_count() or self.cpus
        others = max(0.0, (busy - own) / total * machine_cpus)  # cores used by others
        if others < self.LOADED:
            self.placement.release()
            self.level = None
            self._use(self.most)
            self.steps, self.since = 0, time.monotonic()  # timings start with the load
            return
        self.placement.spread()
        if not self.adapts_count:
            return
        fewer = max(1, min(self.most, self.cpus - round(others)))
        if fewer == self.most:  # room for all threads
            self.level = None
            self._use(self.most)
            return
        level = self.levels.setdefault(fewer, _LoadLevel(fewer, self.most))
        if level is not self.level:  # a load starts: what was best at this level
            self.level = level
            self._use(level.kept or torch.get_num_threads())
        now, current = time.monotonic(), torch.get_num_threads()
        if now - self.since < self.probe:
            return
        level.seconds[current] = ((now - self.since) / self.steps, now)
        self.steps, self.since = 0, now
        self._use(level.next_count(current, now, self.reprobe, self.MARGIN))

    def _use(self, n_threads: int) -> None:
        if self.adapts_count and n_threads != torch.get_num_threads():
            torch.set_num_threads(n_threads)
            self.steps, self.since = 0, time.monotonic()  # time the new count from here

    def close(self) -> None:
        """Give pinned threads their CPU masks back."""
        if self.placement is not None:
            self.placement.release()

    def __enter__(self) -> LoadGovernor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
