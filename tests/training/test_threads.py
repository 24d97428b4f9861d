"""Thread counts: never more threads than CPUs the process may use."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import aekit
from aekit.training.loop import Trainer
from aekit.training.threads import available_cpus, default_threads, thread_limit


def test_thread_limit_applies_and_restores():
    before = torch.get_num_threads()
    with thread_limit(1) as n:
        assert n == 1 and torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("n_threads", [1, None])
def test_fit_trains_with_n_threads(monkeypatch, n_threads):
    seen = []
    real_fit = Trainer.fit
    monkeypatch.setattr(
        Trainer,
        "fit",
        lambda self, *a, **k: seen.append(torch.get_num_threads()) or real_fit(self, *a, **k),
    )
    X = np.random.default_rng(0).random((64, 5), dtype=np.float32)
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # not the suite's one thread a worker: None must differ from 1
    try:
        aekit.Autoencoder(2, hidden=(8,), epochs=1, n_threads=n_threads, random_state=0).fit(X)
        assert seen == [1 if n_threads == 1 else default_threads()]
    finally:
        torch.set_num_threads(before)
    with pytest.raises(ValueError, match="n_threads"):
        aekit.Autoencoder(2, n_threads=0).fit(X)


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or (os.cpu_count() or 1) < 2,
                    reason="needs Linux and two CPUs")  # fmt: skip
def test_a_process_pinned_to_one_cpu_computes_with_one_thread():
    script = (
        "import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))});"
        "import torch; torch.set_num_threads(4);"  # more than it may use
        "from aekit.training.threads import available_cpus, default_threads;"
        "print(available_cpus(), default_threads())"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1", "1"]
    assert available_cpus() >= 1


def test_cli_threads_option(tmp_path):
    script = (
        "import sys, torch; from aekit.cli.main import main;"
        f"code = main(['--threads', '1', 'train', 'pca', '--out', r'{tmp_path / 'r'}']);"
        "print('threads', torch.get_num_threads()); sys.exit(code)"
    )
    env = dict(os.environ, OMP_NUM_THREADS="2")  # not the suite's one thread a worker
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "threads 1" in out.stdout


class _Machine:
    """A fake clock and /proc for the governor: steps take ``seconds[threads]``, and
    others hold ``others`` of the ``cpus`` cores while ``loaded``."""

    def __init__(self, monkeypatch, threads_module, cpus: int = 2):
        self.now, self.loaded, self.cpus, self.others = 0.0, True, cpus, 1.6
        self.per_cpu, self.own = dict.fromkeys(range(cpus), (0.0, 0.0)), 0.0
        monkeypatch.setattr(threads_module, "_affinity", lambda: set(range(cpus)))
        monkeypatch.setattr(threads_module, "_cgroup_quota", lambda: None)
        monkeypatch.setattr(threads_module, "available_cpus", lambda: cpus)
        monkeypatch.setattr(threads_module, "time", SimpleNamespace(monotonic=lambda: self.now))
        monkeypatch.setattr(threads_module, "_cpu_jiffies", self.read)

    def read(self):
        """Per CPU 100 jiffies since the last read; this process ran 40 of them in
        all (60 when the others are gone), the others ``others`` CPUs' worth."""
        mine = 40 if self.loaded else 60
        theirs = 100 * self.others if self.loaded else 0
        self.own += mine
        self.per_cpu = {
            cpu: (busy + (mine + theirs) / self.cpus, total + 100)
            for cpu, (busy, total) in self.per_cpu.items()
        }
        return dict(self.per_cpu), self.own

    def train(self, governor, seconds: dict[int, float], steps: int) -> list[int]:
        used = []
        for _ in range(steps):
            used.append(torch.get_num_threads())
            self.now += seconds[used[-1]]
            governor.adapt()
        return used


class _Placement:
    def __init__(self):
        self.calls = []

    def spread(self, cpu_busy=None):
        self.calls.append("spread")

    def release(self):
        self.calls.append("release")


@pytest.fixture
def make_machine(monkeypatch):
    """Builds the fake machine of ``cpus`` CPUs, with torch at two threads (its
    setting restored after)."""
    import aekit.training.governor as threads

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield lambda cpus=2: _Machine(monkeypatch, threads, cpus)
    torch.set_num_threads(before)


@pytest.fixture
def machine(make_machine):
    return make_machine()


def test_the_governor_times_thread_counts_under_load_and_keeps_the_faster(machine):
    from aekit.training.governor import LoadGovernor

    governor = LoadGovernor(None, torch.device("cpu"), reprobe=10.0)
    governor.placement = placement = _Placement()
    # others hold 1.6 cores and two threads collapse: one is kept, two retried
    used = machine.train(governor, {1: 0.05, 2: 0.5}, 2000)
    assert used[-1000:].count(1) > 0.95 * 1000
    assert 2 in used[-1000:]  # timed again after `reprobe` seconds
    # two threads are the faster beside the load (the old rule kept one): two,
    # found at the latest when the confirmed choice's patience (8 x 10 s) runs out
    used = machine.train(governor, {1: 0.05, 2: 0.02}, 6000)
    assert used[-1000:].count(2) > 0.9 * 1000
    assert placement.calls[-1] == "spread"  # busy threads pinned apart meanwhile
    machine.loaded = False  # the others leave: all threads, unpinned
    used = machine.train(governor, {1: 0.05, 2: 0.5}, 20)
    assert used[-1] == 2 and placement.calls[-1] == "release"
    fixed = LoadGovernor(2, torch.device("cpu"))
    fixed.placement = placement = _Placement()
    machine.loaded = True
    used = machine.train(fixed, {1: 0.05, 2: 0.02}, 200)
    assert used == [2] * 200  # n_threads given: the user's count stays ...
    assert set(placement.calls) == {"spread"}  # ... and is kept apart under load
    fixed.close()
    assert placement.calls[-1] == "release"


def test_the_governor_remembers_its_choice_when_the_load_comes_back(machine):
    from aekit.training.governor import LoadGovernor

    governor = LoadGovernor(None, torch.device("cpu"), reprobe=20.0)
    governor.placement = _Placement()
    seconds = {1: 0.05, 2: 0.02}  # two threads are the faster beside the load
    probes = 0
    for _ in range(10):  # the load comes for 12 s and goes for 12 s, ten times
        machine.loaded = True
        used = machine.train(governor, seconds, 600)
        probes += 1 in used
        assert used[-100:] == [2] * 100  # the choice, after any probe
        machine.loaded = False
        assert machine.train(governor, seconds, 600)[-1] == 2
    # a probe of one thread in each loaded window cost 2 s of 12 before; now the
    # first, then after 20, 40, 80 and 160 s
    assert 2 <= probes <= 5


def test_the_governor_goes_back_to_all_threads_when_the_load_leaves_room(make_machine):
    from aekit.training.governor import LoadGovernor

    machine = make_machine(cpus=4)  # torch's two threads, four CPUs
    governor = LoadGovernor(None, torch.device("cpu"))
    governor.placement = _Placement()
    machine.others = 3.2  # one core left: one thread, timed faster, is kept
    assert machine.train(governor, {1: 0.02, 2: 0.05}, 1000)[-100:] == [1] * 100
    machine.others = 1.6  # two cores left: room for both threads again
    assert machine.train(governor, {1: 0.02, 2: 0.05}, 100)[-50:] == [2] * 50


def test_the_governor_reads_this_machine():
    from aekit.training.governor import _cpu_jiffies

    per_cpu, own = _cpu_jiffies()
    assert os.sched_getaffinity(0) <= set(per_cpu) and own >= 0
    assert all(0 <= busy <= total for busy, total in per_cpu.values())


def test_load_outside_this_process_cpus_is_not_load(make_machine, monkeypatch):
    import aekit.training.governor as threads

    machine = make_machine(cpus=4)
    monkeypatch.setattr(threads, "_affinity", lambda: {0, 1})  # taskset -c 0,1
    monkeypatch.setattr(threads, "available_cpus", lambda: 2)
    busy_elsewhere = {0: (20, 100), 1: (20, 100), 2: (100, 100), 3: (100, 100)}
    readings = iter(
        ({cpu: (n * b, n * t) for cpu, (b, t) in busy_elsewhere.items()}, n * 40)
        for n in range(1000)
    )
    monkeypatch.setattr(threads, "_cpu_jiffies", lambda: next(readings))
    governor = threads.LoadGovernor(None, torch.device("cpu"))
    governor.placement = placement = _Placement()
    used = machine.train(governor, {1: 0.02, 2: 0.05}, 200)
    assert used == [2] * 200 and set(placement.calls) == {"release"}


@pytest.mark.skipif(
    not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2,
    reason="needs two CPUs and Linux affinity",
)
def test_threads_started_after_a_pin_do_not_inherit_it():
    from aekit.training.governor import LoadGovernor
    from aekit.training.thread_placement import thread_cpu_times

    before, mask = torch.get_num_threads(), os.sched_getaffinity(0)
    x = torch.randn(1000, 1000)
    try:
        torch.set_num_threads(4)
        x @ x
        governor = LoadGovernor(None, torch.device("cpu"))
        main = threading.get_native_id()  # pinned as `spread` pins a busy main thread
        os.sched_setaffinity(main, {min(mask)})
        governor.placement.pinned[main] = (min(mask), mask)
        governor._use(2)
        x @ x
        known = set(thread_cpu_times())
        governor._use(4)  # libgomp starts new workers from the main thread
        x @ x
        started = set(thread_cpu_times()) - known
        assert all(os.sched_getaffinity(tid) == mask for tid in started | {main})
        governor.close()
    finally:
        os.sched_setaffinity(threading.get_native_id(), mask)
        torch.set_num_threads(before)


def test_thread_cpu_times_sees_this_thread_work():
    from aekit.training.thread_placement import thread_cpu_times

    if not thread_cpu_times():
        pytest.skip("no /proc/self/task")
    me = threading.get_native_id()
    cpu, before = thread_cpu_times()[me]
    deadline = time.process_time() + 0.2
    while time.process_time() < deadline:  # busy for 0.2 s of CPU
        pass
    assert cpu in os.sched_getaffinity(0)
    assert thread_cpu_times()[me][1] - before >= 0.1 * os.sysconf("SC_CLK_TCK")


@pytest.mark.skipif(
    not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2,
    reason="needs Linux and two CPUs",
)
def test_busy_threads_on_one_cpu_are_pinned_apart_and_released(monkeypatch):
    """Two real threads that /proc shows busy on one CPU (the state the scheduler
    can leave OpenMP workers in) get a CPU each, and their own masks back."""
    import aekit.training.thread_placement as placement_module

    mask = os.sched_getaffinity(0)
    stop, tids = threading.Event(), []

    def worker():
        tids.append(threading.get_native_id())
        stop.wait()

    workers = [threading.Thread(target=worker) for _ in range(3)]
    for thread in workers:
        thread.start()
    while len(tids) < 3:
        time.sleep(0.01)
    used = {"ticks": 0, "busy": 2}

    def stacked_on_one_cpu():  # the first `busy` workers busy on the first CPU
        used["ticks"] += 10_000
        return {
            tid: (min(mask), used["ticks"] if k < used["busy"] else 0) for k, tid in enumerate(tids)
        }

    monkeypatch.setattr(placement_module, "thread_cpu_times", stacked_on_one_cpu)
    try:
        placement = placement_module.ThreadPlacement()
        placement.spread()
        first, second = (os.sched_getaffinity(tid) for tid in tids[:2])
        assert len(first) == len(second) == 1 and first != second
        assert first | second <= mask
        assert os.sched_getaffinity(tids[2]) == mask  # idle: left alone
        placement.spread()  # pinned threads stay where they are
        assert [os.sched_getaffinity(tid) for tid in tids[:2]] == [first, second]
        placement.release()
        assert all(os.sched_getaffinity(tid) == mask for tid in tids)
        placement.spread()
        used["busy"] = 1  # one thread left working (the governor cut the count)
        placement.spread()  # a lone thread is not held on one CPU
        assert all(os.sched_getaffinity(tid) == mask for tid in tids)
    finally:
        stop.set()
        for thread in workers:
            thread.join()


def test_a_pinned_thread_idle_for_a_moment_keeps_its_cpu(monkeypatch):
    """On a fake 4-CPU machine: workers busy on one CPU move to the least busy free
    CPU, and a pinned worker idle for one look keeps its CPU from the others."""
    import aekit.training.thread_placement as placement_module

    masks = dict.fromkeys((1, 2, 3, 4), {0, 1, 2, 3})
    busy = {1: 0, 2: 0}  # thread: the CPU it is busy on
    clock = {"ticks": 0}

    def times():
        clock["ticks"] += 10_000
        return {tid: (busy.get(tid, 0), clock["ticks"] if tid in busy else 0) for tid in masks}

    monkeypatch.setattr(placement_module, "thread_cpu_times", times)
    monkeypatch.setattr(placement_module.os, "sched_getaffinity", lambda tid: masks[tid])
    monkeypatch.setattr(placement_module.os, "sched_setaffinity", masks.__setitem__)
    placement = placement_module.ThreadPlacement()
    placement.spread({0: 0.5, 1: 0.9, 2: 0.1, 3: 0.6})
    assert masks[1] == {0} and masks[2] == {2}  # the least busy free CPU, not CPU 1
    busy.clear()
    busy.update({1: 0, 3: 2, 4: 2})  # thread 2 waits a moment; 3 and 4 share its CPU
    placement.spread({0: 0.5, 1: 0.9, 2: 0.1, 3: 0.6})
    assert masks[2] == {2} and masks[3] == {3} and masks[4] == {1}
    placement.release()
    assert all(mask == {0, 1, 2, 3} for mask in masks.values())


def test_a_load_read_near_a_rounding_edge_keeps_its_level(make_machine, monkeypatch):
    import aekit.training.governor as threads

    machine = make_machine(cpus=8)
    torch.set_num_threads(8)  # the fixture gives torch's own setting back
    read, flicker = machine.read, [2.4, 2.6]

    def flickering():  # others' cores read 2.4, 2.6, 2.4, ...: 5 or 6 threads left
        machine.others = flicker[0]
        flicker.reverse()
        return read()

    monkeypatch.setattr(threads, "_cpu_jiffies", flickering)
    governor = threads.LoadGovernor(None, torch.device("cpu"))
    governor.placement = _Placement()
    used = machine.train(governor, {5: 0.02, 6: 0.021, 8: 0.05}, 5000)
    # without holding the level, the count changed 69 times in these 100 s, or (with
    # timings restarted at each change of level) all threads were never timed against
    # fewer
    assert sum(a != b for a, b in zip(used, used[1:], strict=False)) <= 6
    assert used[-1] in (5, 6) and used[-1000:] == [used[-1]] * 1000


def _governors_made(monkeypatch) -> list:
    from aekit.training.governor import LoadGovernor

    made = []
    init = LoadGovernor.__init__

    def record(self, *args, **kwargs):
        made.append(args)
        init(self, *args, **kwargs)

    monkeypatch.setattr(LoadGovernor, "__init__", record)
    return made


def test_python_fit_leaves_the_hosts_threads_alone_unless_asked(monkeypatch):
    """The governor re-pins the process's threads: a notebook's or a server's fit
    runs it only with n_threads='adaptive'."""
    made = _governors_made(monkeypatch)
    X = np.random.default_rng(0).random((64, 6), dtype=np.float32)
    aekit.Autoencoder(2, hidden=(8,), epochs=1, random_state=0).fit(X)
    aekit.Autoencoder(2, hidden=(8,), epochs=1, n_threads=1, random_state=0).fit(X)
    assert made == []
    adaptive = aekit.Autoencoder(2, hidden=(8,), epochs=1, n_threads="adaptive", random_state=0)
    adaptive.fit(X)
    assert len(made) == 1 and made[0][0] is None
    with pytest.raises(ValueError, match="n_threads"):
        aekit.Autoencoder(2, n_threads="many").fit(X)


def test_the_command_line_trains_with_the_governor(monkeypatch, tmp_path):
    from aekit.cli.main import main

    made = _governors_made(monkeypatch)
    args = ["train", "ae", "--out", str(tmp_path / "r"), "--epochs", "1", "--hidden", "8"]
    assert main([*args, "--quiet"]) == 0
    assert len(made) == 1
