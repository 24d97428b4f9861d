"""Shared fixtures: offline data locations and small datasets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def pytest_configure(config):
    """Under pytest-xdist, each worker computes with its share of the CPUs.

    torch (and NumPy's BLAS) start one thread per core in every worker, so ``-n 2`` on
    two cores ran four OpenMP threads whose barriers waited on each other: the MNIST
    linear autoencoder took 327 s in the suite against 44 s alone on one thread. The
    share also goes to the commands tests start (``OMP_NUM_THREADS``), unless a test
    sets its own.
    """
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
    if workers:
        import torch
        from threadpoolctl import threadpool_limits

        from aekit.training.threads import available_cpus

        share = max(1, available_cpus() // workers)
        os.environ["OMP_NUM_THREADS"] = str(share)
        torch.set_num_threads(share)
        threadpool_limits(share)


def _mnist_dir() -> Path:
    given = ("AEKIT_TEST_MNIST", "AEKIT_DATA")
    candidates = [Path(os.environ[name]) for name in given if os.environ.get(name)]
    candidates += [path / "mnist" for path in candidates]
    candidates += [
        REPO.parent / "shared" / "data" / "mnist",
        REPO / ".." / ".." / "shared" / "data" / "mnist",
    ]
    for path in candidates:
        if (path / "train-images-idx3-ubyte.gz").exists():
            return path.resolve()
    raise FileNotFoundError(
        "MNIST IDX files not found in $AEKIT_DATA, $AEKIT_TEST_MNIST or ../shared/data/mnist."
    )


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """Folder holding the four MNIST IDX .gz files (never downloaded by tests); tests
    that need it are skipped, with the reason, where the files are not at hand."""
    try:
        return _mnist_dir()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def adult_csv() -> Path:
    """The UCI Adult table (``tables/adult.csv`` under $AEKIT_DATA or ../shared/data);
    tests that need it are skipped, with the reason, where it is not at hand."""
    roots = [Path(os.environ["AEKIT_DATA"])] if os.environ.get("AEKIT_DATA") else []
    roots.append(REPO.parent / "shared" / "data")
    for root in roots:
        if (root / "tables" / "adult.csv").exists():
            return (root / "tables" / "adult.csv").resolve()
    pytest.skip("adult.csv not found in $AEKIT_DATA/tables or ../shared/data/tables.")


# Runs `python ARGS` in a child forked from a Python that has already imported torch and
# the other libraries aekit uses, which a fresh interpreter takes ~3 s to import. No aekit
# module is imported before the fork, so a `-c` script patches aekit for all of the child,
# as it would in a fresh interpreter. The server sends the child SIGKILL `kill_after`
# seconds after the fork (or at the timeout) if it is still running.
_WARM_PYTHON = r"""
import json, os, runpy, signal, sys, time, traceback
import click, numpy, safetensors.torch, scipy.linalg, sklearn.datasets, torch, torch._dynamo, tqdm

def child(request):
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    for fd, name in ((1, request["stdout"]), (2, request["stderr"])):
        os.dup2(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
    mode, target, *args = request["argv"]
    code = 0
    try:
        if mode == "-m":
            sys.argv = [target, *args]
            runpy.run_module(target, run_name="__main__", alter_sys=True)
        else:
            sys.argv = ["-c", *args]
            exec(compile(target, "<string>", "exec"), {"__name__": "__main__"})
    except SystemExit as stop:  # as the interpreter reads it
        code = stop.code if isinstance(stop.code, int) else stop.code is not None
        if not isinstance(stop.code, int | None):
            print(stop.code, file=sys.stderr)
    except BaseException:
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)

print("ready", flush=True)
for line in sys.stdin:
    request = json.loads(line)
    pid = os.fork()
    if pid == 0:
        child(request)
    start, timeout = time.monotonic(), request["timeout"]
    limit = timeout if request["kill_after"] is None else min(request["kill_after"], timeout)
    while not (reaped := os.waitpid(pid, os.WNOHANG))[0]:
        if time.monotonic() - start >= limit:
            os.kill(pid, signal.SIGKILL)
            reaped = os.waitpid(pid, 0)
            break
        time.sleep(0.005)
    timed_out = time.monotonic() - start >= timeout
    print(os.waitstatus_to_exitcode(reaped[1]), int(timed_out), flush=True)
"""


class WarmPython:
    """``run(argv)`` is ``subprocess.run([sys.executable, *argv], capture_output=True,
    text=True, timeout=timeout)`` for ``-m MODULE`` or ``-c SCRIPT``, minus the imports
    (see above)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.count = 0
        self.server: subprocess.Popen | None = None

    def _start(self) -> subprocess.Popen:
        env = dict(os.environ, OMP_NUM_THREADS="1")
        server = subprocess.Popen([sys.executable, "-c", _WARM_PYTHON], env=env, text=True,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE)  # fmt: skip
        assert server.stdout.readline() == "ready\n", "the warm Python did not start"
        return server

    def run(
        self, argv: list[str], kill_after: float | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess:
        self.server = self.server or self._start()
        self.count += 1
        out, err = self.folder / f"{self.count}.out", self.folder / f"{self.count}.err"
        request = dict(argv=argv, stdout=str(out), stderr=str(err), kill_after=kill_after,
                       timeout=timeout)  # fmt: skip
        try:
            self.server.stdin.write(json.dumps(request) + "\n")
            self.server.stdin.flush()
            reply = self.server.stdout.readline().split()
            assert reply, "the warm Python stopped"
        except BaseException:  # interrupted: the next command gets a new server
            self.server.kill()
            self.server = None
            raise
        if int(reply[1]):
            raise subprocess.TimeoutExpired(argv, timeout)
        done = subprocess.CompletedProcess(argv, int(reply[0]), out.read_text(), err.read_text())
        out.unlink()
        err.unlink()
        return done

    def close(self) -> None:
        if self.server is not None:
            self.server.stdin.close()
            self.server.wait(timeout=60)


@pytest.fixture(scope="session")
def warm_python(tmp_path_factory):
    """Commands in fresh processes without paying torch's import each time."""
    python = WarmPython(tmp_path_factory.mktemp("warm-python"))
    yield python
    python.close()


@pytest.fixture
def crash_at_epoch(monkeypatch):
    """``crash_at_epoch(e)``: training raises ``RuntimeError("simulated crash")`` as
    it starts epoch ``e`` (0-based), after the checkpoint of epoch ``e - 1``;
    ``monkeypatch.undo()`` ends it."""
    from aekit.training.loop import Trainer

    set_lr = Trainer._set_lr

    def arm(at: int) -> None:
        def crashing(trainer: Trainer, epoch: int) -> None:
            if epoch == at:
                raise RuntimeError("simulated crash")
            set_lr(trainer, epoch)

        monkeypatch.setattr(Trainer, "_set_lr", crashing)

    return arm


@pytest.fixture
def cut_and_resumed(tmp_path, monkeypatch, crash_at_epoch):
    """``cut_and_resumed(train)``: the command line ``train`` (``["train", KIND, ...]``
    without ``--epochs`` or ``--out``) run three ways: ``full``, 4 epochs straight;
    ``extended``, 2 epochs then ``--resume --epochs 4``; ``crashed``, 4 epochs that
    crash as the third starts, then resumed. Returns the three run folders by name."""
    from aekit.cli.main import main

    runs = {name: tmp_path / name for name in ("full", "extended", "crashed")}

    def run(train: list) -> dict[str, Path]:
        args = [str(a) for a in train]
        resume = ["train", args[1], "--resume", "--epochs", "4", "-q", "--out"]
        assert main([*args, "--epochs", "4", "--out", str(runs["full"])]) == 0
        assert main([*args, "--epochs", "2", "--out", str(runs["extended"])]) == 0
        assert main([*resume, str(runs["extended"])]) == 0
        crash_at_epoch(2)
        with pytest.raises(RuntimeError, match="simulated crash"):
            main([*args, "--epochs", "4", "--out", str(runs["crashed"])])
        monkeypatch.undo()
        assert main([*resume, str(runs["crashed"])]) == 0
        return runs

    return run
