"""Thread counts: never more threads than CPUs the process may use."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import aekit
from aekit.engine import Trainer
from aekit.threads import available_cpus, default_threads, thread_limit


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
    aekit.Autoencoder(2, hidden=(8,), epochs=1, n_threads=n_threads, random_state=0).fit(X)
    assert seen == [1 if n_threads == 1 else default_threads()]
    with pytest.raises(ValueError, match="n_threads"):
        aekit.Autoencoder(2, n_threads=0).fit(X)


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or (os.cpu_count() or 1) < 2,
                    reason="needs Linux and two CPUs")  # fmt: skip
def test_a_process_pinned_to_one_cpu_computes_with_one_thread():
    script = (
        "import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))});"
        "import torch; torch.set_num_threads(4);"  # more than it may use
        "from aekit.threads import available_cpus, default_threads;"
        "print(available_cpus(), default_threads())"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1", "1"]
    assert available_cpus() >= 1


def test_cli_threads_option(tmp_path):
    script = (
        "import sys, torch; from aekit.cli import main;"
        f"code = main(['--threads', '1', 'train', 'pca', '--out', r'{tmp_path / 'r'}']);"
        "print('threads', torch.get_num_threads()); sys.exit(code)"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "threads 1" in out.stdout


def test_the_governor_gives_way_to_other_processes_and_takes_the_cores_back(monkeypatch):
    import aekit.threads as threads

    monkeypatch.setattr(threads, "available_cpus", lambda: 2)
    monkeypatch.setattr(threads.os, "cpu_count", lambda: 2)
    counts = iter([(0, 0, 0), (200, 200, 40), (260, 400, 100), (260, 400, 100)])
    monkeypatch.setattr(threads, "_busy_jiffies", lambda: next(counts))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        governor = threads.LoadGovernor(None, torch.device("cpu"), interval=0.0)
        governor.adapt()  # both CPUs busy, 40 of 200 ticks ours: others hold 1.6 cores
        assert torch.get_num_threads() == 1
        governor.adapt()  # 60 busy ticks, all ours: the others left
        assert torch.get_num_threads() == 2
        fixed = threads.LoadGovernor(2, torch.device("cpu"), interval=0.0)
        assert not fixed.active  # n_threads given: the user's count stays
    finally:
        torch.set_num_threads(before)


def test_the_governor_reads_this_machine():
    from aekit.threads import _busy_jiffies

    busy, total, own = _busy_jiffies()
    assert 0 <= busy <= total and own >= 0
