"""The CPU thread governor: an optional training callback that gives the loop fewer
threads, kept on CPUs of their own, while other processes load the machine.

It re-pins the process's OpenMP threads, so it runs only where aekit owns the
process: the ``aekit`` command line turns it on, and a Python estimator only when
asked (``n_threads="adaptive"``). What it measured: BENCHMARKS.md, "Threads under
load".
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from aekit.training.callbacks import Callback
from aekit.training.thread_placement import ThreadPlacement, stat_fields
from aekit.training.threads import _affinity, _cgroup_quota, available_cpus


def _cpu_jiffies() -> tuple[dict[int, tuple[int, int]], int]:
    """``{cpu: (busy, total) jiffies}`` from the per-CPU lines of /proc/stat, and the
    jiffies this process ran (utime + stime)."""
    per_cpu = {}
    for line in Path("/proc/stat").read_text().splitlines()[1:]:
        if not line.startswith("cpu"):
            break
        name, *fields = line.split()
        # user nice system idle iowait irq softirq steal; guest time is inside user
        values = [int(v) for v in fields[:8]]
        total = sum(values)
        per_cpu[int(name[3:])] = (total - values[3] - values[4], total)
    own = stat_fields(Path("/proc/self/stat"))
    return per_cpu, int(own[11]) + int(own[12])


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


class LoadGovernor(Callback):
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

    Load is read from the CPUs of this process's affinity mask only. Nothing
    happens off the CPU, where /proc is missing, or under a cgroup CPU quota
    smaller than the mask (there the host's load says nothing of this process's
    share). ``close`` (or leaving a ``with`` block) unpins.
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
        self.mask, quota = _affinity(), _cgroup_quota()
        self.reading = self._read()
        # under a CPU quota the host's load says nothing of this process's share
        self.active = (
            device.type == "cpu"
            and self.reading is not None
            and not (quota and quota < len(self.mask))
        )
        self.adapts_count = self.active and n_threads is None
        self.most, self.interval = torch.get_num_threads(), interval
        self.probe, self.reprobe = probe, reprobe
        self.cpus = available_cpus()
        self.last = self.since = time.monotonic()
        self.placement = ThreadPlacement() if self.active else None
        self.steps = 0  # since `since`, with the current count
        self.levels: dict[int, _LoadLevel] = {}  # by the count `cpus - others`
        self.level: _LoadLevel | None = None  # the load now, None while idle or room
        self.load_cores: int | None = None  # others' cores, rounded, while loaded

    @staticmethod
    def _read() -> tuple[dict[int, tuple[int, int]], int] | None:
        try:
            return _cpu_jiffies()
        except (OSError, ValueError, IndexError):  # no /proc, or not the Linux one
            return None

    def adapt(self) -> None:
        """Count a step; re-decide count and placement if ``interval`` has passed."""
        self.steps += 1
        if not self.active or time.monotonic() - self.last < self.interval:
            return
        reading = self._read()
        if reading is None:
            return
        (per_cpu, own), (before, own_before) = reading, self.reading
        self.reading, self.last = reading, time.monotonic()
        deltas = {  # the CPUs this process may run on; the others' load is not ours
            cpu: (busy - before[cpu][0], total - before[cpu][1])
            for cpu, (busy, total) in per_cpu.items()
            if cpu in self.mask and cpu in before
        }
        total = sum(ticks for _, ticks in deltas.values())
        if total <= 0:
            return
        busy = sum(ticks for ticks, _ in deltas.values()) - (own - own_before)
        others = max(0.0, busy / total * len(deltas))  # cores used by others
        if others < self.LOADED:
            self.placement.release()
            self.level = self.load_cores = None
            self._use(self.most)
            self.steps, self.since = 0, time.monotonic()  # timings start with the load
            return
        self.placement.spread({cpu: b / t for cpu, (b, t) in deltas.items() if t > 0})
        if not self.adapts_count:
            return
        cores = round(others)
        if self.load_cores is not None and abs(others - self.load_cores) < 0.75:
            cores = self.load_cores  # a reading near the rounding edge keeps the level
        self.load_cores = cores
        fewer = max(1, min(self.most, self.cpus - cores))
        level = None
        if fewer < self.most:
            level = self.levels.setdefault(fewer, _LoadLevel(fewer, self.most))
        if level is not self.level:  # the load changed: the best count known for it
            self.level = level
            self._use(self.most if level is None else level.kept or self.most)
            self.steps, self.since = 0, time.monotonic()
        if level is None:  # room for all threads
            return
        now, current = time.monotonic(), torch.get_num_threads()
        if now - self.since < self.probe or self.steps == 0:
            return
        level.seconds[current] = ((now - self.since) / self.steps, now)
        self.steps, self.since = 0, now
        self._use(level.next_count(current, now, self.reprobe, self.MARGIN))

    def _use(self, n_threads: int) -> None:
        if self.adapts_count and n_threads != torch.get_num_threads():
            if n_threads > torch.get_num_threads():
                # new OpenMP workers inherit the CPU mask of the thread that starts
                # them: a pinned main thread would put them all on its one CPU
                self.placement.release()
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

    # -- as a training callback ------------------------------------------------------
    def before_step(self, trainer: Any) -> None:
        self.adapt()

    def on_fit_end(self, trainer: Any) -> None:
        self.close()
