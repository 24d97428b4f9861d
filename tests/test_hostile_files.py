"""Links, special files and outputs aimed at a run's own files: no data loss, no
hang, one writer (issue 26)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aekit.cli.main import main

TINY = ["--epochs", "1", "--hidden", "8", "--latent-dim", "2", "--quiet"]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("fixture") / "ae-run"
    assert main(["train", "ae", "--out", str(run), *TINY]) == 0
    return run


@pytest.fixture
def run(trained_run, tmp_path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(trained_run, copy)
    return copy


def run_files(run: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}


def test_a_finished_run_leaves_no_lock_file(trained_run):
    assert not (trained_run / ".lock").exists()


def test_a_link_at_the_lock_never_writes_where_it_points(run, tmp_path, capsys):
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me\n")
    (run / ".lock").unlink(missing_ok=True)  # a run of older aekit keeps one
    (run / ".lock").symlink_to(victim)
    before = run_files(run)
    code = main(["train", "ae", "--out", str(run), "--overwrite", *TINY])
    err = capsys.readouterr().err
    assert code == 2 and "is not a regular file" in err and err.count("\n") == 1, err
    assert victim.read_text() == "keep me\n"
    assert run_files(run) == before


@pytest.mark.timeout(300)
def test_deleting_the_lock_under_a_writer_lets_no_second_writer_in(tmp_path, warm_python):
    run = tmp_path / "run"
    first_args = ["train", "ae", "--out", str(run), "--epochs", "100000", "--quiet"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    first = subprocess.Popen([sys.executable, "-m", "aekit", *first_args], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not (run / "checkpoint.safetensors").exists():  # the first one is training
            assert first.poll() is None and time.monotonic() < deadline, first.stderr.read()
            time.sleep(0.05)
        (run / ".lock").unlink()  # as a user cleaning up "stale" files would
        second_args = ["train", "ae", "--out", str(run), "--overwrite", *TINY]
        second = warm_python.run(["-m", "aekit", *second_args], timeout=120)
        assert second.returncode == 2, second.stderr
        assert "being written by another aekit process" in second.stderr
        assert second.stderr.strip().count("\n") == 0
        assert first.poll() is None  # the first writer is untouched
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()


def test_a_read_only_run_is_reported_with_its_figures_beside_the_page(run, tmp_path, capsys):
    before = run_files(run)
    for path in [run, *run.iterdir()]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        page = tmp_path / "elsewhere" / "page.html"
        page.parent.mkdir()
        assert main(["report", str(run), "--out", str(page)]) == 0, capsys.readouterr().err
    finally:
        run.chmod(0o755)
    assert page.is_file() and any((page.parent / "page-figures").glob("*.png"))
    assert sorted(p.name for p in run.iterdir()) == sorted(before)  # no figures/ in the run
    assert run_files(run) == before
