"""Run folders are transactions: a kill at any write, a second writer or a full disk
leaves either the previous complete run or the new one."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

import aekit
from aekit.errors import RunFileError

OLD = ["--epochs", "1", "--hidden", "16", "--latent-dim", "2", "--seed", "1", "--quiet"]
NEW = ["--epochs", "2", "--hidden", "16", "--latent-dim", "3", "--seed", "2", "--quiet"]

# Runs the CLI in a child process that exits abruptly (os._exit, as a kill would)
# after its N-th step of writing: every atomic file write and every step of a commit.
STOP_AFTER = textwrap.dedent(
    """
    import os, sys
    import aekit.runs.folder as run_folder
    import aekit.storage.safe_files as safe_files

    limit, seen = int(sys.argv[1]), [0]

    def count() -> None:
        seen[0] += 1
        if seen[0] == limit:
            os._exit(9)

    write = safe_files.atomic_write_bytes

    def counted_write(path, data):
        write(path, data)
        count()

    safe_files.atomic_write_bytes = counted_write
    run_folder._reached = lambda step: count()
    from aekit.cli.main import main
    sys.exit(main(sys.argv[2:]))
    """
)


@pytest.fixture(scope="module")
def cli(warm_python):
    """``aekit ARGS`` in a process of its own (forked from one that imported torch)."""

    def run(*args: str, stop_after: int | None = None) -> subprocess.CompletedProcess:
        if stop_after is None:
            return warm_python.run(["-m", "aekit", *args])
        return warm_python.run(["-c", STOP_AFTER, str(stop_after), *args])

    return run


def history(run: Path) -> list[dict]:
    """The per-epoch records of ``metrics.json``, less their timings."""
    rows = json.loads((run / "metrics.json").read_text())["history"]
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


def fingerprint(run: Path) -> tuple[int, int]:
    """What tells two runs apart: the code size and the epochs trained."""
    model = aekit.load(run)
    return model.latent_dim, len(model.history_)


@pytest.fixture(scope="module")
def old_run(tmp_path_factory, cli) -> Path:
    run = tmp_path_factory.mktemp("old") / "run"
    done = cli("train", "ae", "--out", str(run), *OLD)
    assert done.returncode == 0, done.stderr
    return run


@pytest.mark.timeout(900)
def test_a_kill_at_every_write_of_an_overwrite_leaves_the_old_or_the_new_run(
    old_run, tmp_path, cli
):
    old_mse = json.loads(cli("evaluate", str(old_run)).stdout)["mse"]
    reference = tmp_path / "reference"
    assert cli("train", "ae", "--out", str(reference), *NEW).returncode == 0
    new_mse = json.loads(cli("evaluate", str(reference)).stdout)["mse"]
    outcomes = []
    for limit in range(1, 40):
        run = tmp_path / f"cut-{limit}" / "run"
        shutil.copytree(old_run, run)
        done = cli("train", "ae", "--out", str(run), "--overwrite", *NEW, stop_after=limit)
        if done.returncode == 0:  # it finished before the limit: every boundary was tried
            break
        assert done.returncode == 9, done.stderr
        state = fingerprint(run)
        assert state in ((2, 1), (3, 2)), (limit, state)
        mse = json.loads(cli("evaluate", str(run)).stdout)["mse"]
        assert mse == (old_mse if state == (2, 1) else new_mse), limit
        outcomes.append(state)
    else:
        pytest.fail("the overwrite never finished within 40 writes")
    assert outcomes[0] == (2, 1) and outcomes[-1] == (3, 2)  # both sides were seen
    print(f"{len(outcomes)} kills: {outcomes.count((2, 1))} old run, {outcomes.count((3, 2))} new")
    leftovers = [p.name for p in run.parent.iterdir() if p.name != "run"]
    assert not leftovers


@pytest.mark.timeout(900)
def test_a_kill_at_every_write_of_a_new_run_leaves_nothing_loadable_or_the_new_run(tmp_path, cli):
    reference = tmp_path / "reference"
    assert cli("train", "ae", "--out", str(reference), *NEW).returncode == 0
    expected = fingerprint(reference)
    for limit in range(1, 40):
        run = tmp_path / f"cut-{limit}" / "run"
        done = cli("train", "ae", "--out", str(run), *NEW, stop_after=limit)
        if done.returncode == 0:
            break
        assert done.returncode == 9, done.stderr
        if (run / "config.json").exists():
            assert fingerprint(run) == expected, limit
        else:  # an unfinished run: not a model, and it resumes (or starts) to the same end
            with pytest.raises(RunFileError):
                aekit.load(run)
            again = "--resume" if (run / "run.json").exists() else "--overwrite"
            assert cli("train", "ae", "--out", str(run), again, *NEW).returncode == 0
            assert fingerprint(run) == expected, limit
            # a kill between an epoch's checkpoint and its metrics.json loses no epoch
            assert history(run) == history(reference), limit
    else:
        pytest.fail("the run never finished within 40 writes")


@pytest.mark.timeout(300)
def test_a_second_writer_is_refused_at_once_and_the_first_run_stays_whole(tmp_path, cli):
    run = tmp_path / "run"
    args = ["train", "ae", "--out", str(run), "--overwrite", "--epochs", "100", "--quiet"]
    args += ["--hidden", "16", "--latent-dim", "2", "--batch-size", "32", "--early-stopping", "0"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    first = subprocess.Popen([sys.executable, "-m", "aekit", *args], env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    deadline = time.monotonic() + 120
    while not (run / "checkpoint.safetensors").exists():  # the first one is training
        assert first.poll() is None and time.monotonic() < deadline, first.stderr.read()
        time.sleep(0.05)
    second = cli(*args)
    assert second.returncode == 2
    assert f"another aekit process (pid {first.pid})" in second.stderr
    assert second.stderr.strip().count("\n") == 0
    assert first.wait(timeout=240) == 0, first.stderr.read()
    assert fingerprint(run) == (2, 100)


def test_a_full_disk_leaves_the_old_run_whole(old_run, tmp_path, cli):
    disk = tmp_path / f"small-disk-{uuid.uuid4().hex[:6]}"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=160k", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small filesystem here: {mounted.stderr.decode().strip()}")
    try:
        run = disk / "run"
        shutil.copytree(old_run, run)
        big = ["--epochs", "2", "--hidden", "64", "--latent-dim", "3", "--quiet"]
        done = cli("train", "ae", "--out", str(run), "--overwrite", *big)
        assert done.returncode == 2, done.stderr
        assert "No space left" in done.stderr and "Traceback" not in done.stderr
        assert done.stderr.strip().count("\n") == 0
        assert fingerprint(run) == (2, 1)
        assert sorted(p.name for p in disk.iterdir()) == ["run"]
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_run_files_get_the_users_umask(tmp_path, warm_python):
    run = tmp_path / "run"
    script = "import os, sys; os.umask(0o027); from aekit.cli.main import main; sys.exit(main())"
    args = ["train", "ae", "--out", str(run), *OLD]
    done = warm_python.run(["-c", script, *args])
    assert done.returncode == 0, done.stderr
    for name in ("config.json", "model.safetensors", "run.json", "metrics.json"):
        assert (run / name).stat().st_mode & 0o777 == 0o640, name


def test_a_run_trained_on_a_gpu_evaluates_and_samples_on_the_cpu(old_run, tmp_path, cli):
    from aekit.storage.safe_files import read_json, write_json

    run = tmp_path / "gpu-run"
    shutil.copytree(old_run, run)
    config = read_json(run / "config.json")
    config["params"]["device"] = "cuda"  # as saved on a machine with a GPU
    write_json(run / "config.json", config)
    for command in (["evaluate", str(run)], ["sample", str(run), "-n", "4"]):
        done = cli(*command)
        assert done.returncode == 0, done.stderr
    assert aekit.load(run, device="cpu").device_.type == "cpu"


def test_a_data_folder_named_by_a_run_file_is_never_created(old_run, tmp_path, cli):
    from aekit.storage.safe_files import read_json, write_json

    run = tmp_path / "moved-run"
    shutil.copytree(old_run, run)
    elsewhere = tmp_path / "not" / "here"
    description = read_json(run / "run.json")
    description["data"].update(source="mnist", data_dir=str(elsewhere))
    write_json(run / "run.json", description)
    done = cli("evaluate", str(run))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert not (tmp_path / "not").exists()


def test_a_divergence_leaves_no_new_folder_and_the_old_run_whole(old_run, tmp_path, cli):
    diverging = ["--lr", "100000", "--epochs", "3", "--quiet"]
    done = cli("train", "ae", "--out", str(tmp_path / "new"), *diverging)
    assert done.returncode == 3 and "diverged" in done.stderr
    assert not (tmp_path / "new").exists()
    run = tmp_path / "old"
    shutil.copytree(old_run, run)
    done = cli("train", "ae", "--out", str(run), "--overwrite", *diverging)
    assert done.returncode == 3 and fingerprint(run) == (2, 1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old"]
