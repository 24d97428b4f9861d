"""Keeping this process's busy threads on different CPUs while other processes load
the machine.

Linux balances its run queues by how many threads are runnable on each. Beside a
2-thread job on 2 cores, "both of ours on CPU 0, both of theirs on CPU 1" counts as
balanced, yet every OpenMP barrier then waits a whole time slice for the sibling
that shares its CPU: training steps took 500 ms against 14 ms with the two threads
apart, for as long as 30 s at a time (BENCHMARKS.md, "Threads under load"). Moving a
thread once does not last (a worker woken by its master is placed beside it again),
so :class:`ThreadPlacement` pins each busy thread to a CPU of its own while the load
lasts and gives every thread its own CPU mask back after.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

#: a thread is busy when it ran more than this share of one CPU since the last look
BUSY_SHARE = 0.2


def stat_fields(path: Path) -> list[str]:
    """The fields of a /proc ``stat`` file after the command name (which may hold
    spaces and parentheses): utime and stime are ``[11]`` and ``[12]``, the CPU last
    run on ``[36]``."""
    return path.read_text().rsplit(")", 1)[1].split()


def thread_cpu_times() -> dict[int, tuple[int, int]]:
    """``{thread id: (the CPU it last ran on, its CPU time in clock ticks)}`` for the
    threads of this process (empty where /proc is missing)."""
    out = {}
    try:
        tasks = list(Path("/proc/self/task").iterdir())
    except OSError:
        return out
    for task in tasks:
        try:
            fields = stat_fields(task / "stat")
            out[int(task.name)] = (int(fields[36]), int(fields[11]) + int(fields[12]))
        except (OSError, ValueError, IndexError):  # the thread ended meanwhile
            continue
    return out


class ThreadPlacement:
    """Pins the busy threads of this process to CPUs of their own, and unpins them.

    Examples
    --------
    >>> placement = ThreadPlacement()
    >>> placement.spread()  # busy threads sharing a CPU are moved apart and pinned
    >>> placement.release()  # every pinned thread gets its own CPU mask back
    >>> placement.pinned
    {}
    """

    def __init__(self) -> None:
        self.before = thread_cpu_times()
        self.last = time.monotonic()
        self.pinned: dict[int, tuple[int, set[int]]] = {}  # thread: (its CPU, mask before)

    def busy_threads(self) -> dict[int, int]:
        """``{thread id: CPU}`` of the threads that ran more than :data:`BUSY_SHARE`
        of a CPU since the last call."""
        now, times = time.monotonic(), thread_cpu_times()
        ticks = (now - self.last) * os.sysconf("SC_CLK_TCK")
        busy = {
            tid: cpu
            for tid, (cpu, used) in times.items()
            if used - self.before.get(tid, (cpu, 0))[1] > BUSY_SHARE * ticks
        }
        self.before, self.last = times, now
        return busy

    def spread(self, cpu_busy: dict[int, float] | None = None) -> None:
        """Pin every busy thread to one CPU of its mask that no other thread of this
        process is pinned to: pinned threads keep theirs, the others keep the CPU
        they are on when it is free, or move to the free CPU with the smallest
        ``cpu_busy`` share (so that two processes moving threads do not both pick
        the lowest-numbered CPU). Threads beyond the CPUs there are stay unpinned.

        A lone busy thread is never pinned, and one pinned before is released: it
        gets more than a CPU's share by moving between CPUs (measured: 56 steps a
        second pinned beside a 2-thread job against 74 free), and two processes of
        one thread each, ranks of one job say, could pin themselves to one CPU."""
        busy = self.busy_threads()
        if len(busy) < 2:
            self.release()
            return
        # a pinned thread idle for a moment keeps its CPU; one that ended gives it up
        self.pinned = {tid: pin for tid, pin in self.pinned.items() if tid in self.before}
        taken = {cpu for cpu, _ in self.pinned.values()}
        load = cpu_busy or {}
        for tid, cpu in sorted(busy.items()):
            if tid in self.pinned:
                continue
            try:
                mask = os.sched_getaffinity(tid)
                free = sorted(mask - taken, key=lambda c: (load.get(c, 0.0), c))
                if len(mask) < 2 or not free:
                    continue
                target = cpu if cpu in free else free[0]
                os.sched_setaffinity(tid, {target})
            except OSError:  # the thread ended, or this system refuses
                continue
            self.pinned[tid] = (target, mask)
            taken.add(target)

    def release(self) -> None:
        """Give every pinned thread the CPU mask it had before."""
        for tid, (_, mask) in self.pinned.items():
            try:
                os.sched_setaffinity(tid, mask)
            except OSError:  # the thread ended
                pass
        self.pinned = {}
