"""Training killed with SIGKILL at random moments resumes to the same weights (SPEC §3)."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from aekit.storage.safe_files import load_tensors

EPOCHS = 25
TRAIN = [
    "train", "ae", "--data", "digits", "--epochs", str(EPOCHS), "--hidden", "128,64",
    "--latent-dim", "4", "--batch-size", "16", "--seed", "3", "--quiet",
]  # fmt: skip
KILLS = 20


def train(warm_python, out: Path, *extra: str, kill_after: float | None = None):
    """``aekit train`` in a process of its own, sent SIGKILL ``kill_after`` seconds in."""
    return warm_python.run(["-m", "aekit", *TRAIN, "--out", str(out), *extra], kill_after)


def history(run: Path) -> list[dict]:
    rows = json.loads((run / "metrics.json").read_text())["history"]
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


def epochs_done(run: Path) -> int:
    return len(history(run)) if (run / "metrics.json").exists() else 0


def to_last_epoch(warm_python, out: Path, *extra: str) -> float:
    """Seconds from the command's start to the end of its last epoch (its checkpoint)."""
    start = time.time()
    done = train(warm_python, out, *extra)
    assert done.returncode == 0, done.stderr
    return (out / "checkpoint.safetensors").stat().st_mtime - start


@pytest.mark.timeout(600)
def test_sigkill_at_20_random_moments_loses_nothing(tmp_path, warm_python):
    # an epoch's time, and the start-up of a resumed run (to its first epoch), timed
    # after a first run has read what training needs from the disk
    to_last_epoch(warm_python, tmp_path / "first", "--epochs", "1")
    reference = tmp_path / "reference"
    whole = to_last_epoch(warm_python, reference)
    short = tmp_path / "short"
    epoch = (whole - to_last_epoch(warm_python, short, "--epochs", "1")) / (EPOCHS - 1)
    startup = max(0.05, to_last_epoch(warm_python, short, "--epochs", "2", "--resume") - epoch)

    run = tmp_path / "killed"
    rng = np.random.default_rng(20)
    survived, reached = 0, []
    # 20 random points of training, in order (no import precedes training any more, so a
    # kill drawn over the whole run's time, as before, would end it in two or three). A run
    # resumed at epoch e is killed as it reaches the next point, after its start-up and the
    # epochs between; one already past it, at a random moment of its start-up.
    for point in np.sort(rng.uniform(0, EPOCHS, KILLS)):
        # continue the run if it got as far as writing run.json, else start it anew
        extra = ["--resume"] if (run / "run.json").exists() else ["--overwrite"]
        ahead = point - epochs_done(run)
        kill_after = startup + ahead * epoch if ahead > 0 else rng.uniform(0, startup)
        done = train(warm_python, run, *extra, kill_after=kill_after)
        assert done.returncode in (0, -signal.SIGKILL), done.stderr
        survived += done.returncode == -signal.SIGKILL
        reached.append(epochs_done(run))
    final = train(warm_python, run, "--resume")
    assert final.returncode == 0, final.stderr
    assert survived >= KILLS // 2  # most kills landed while training was running
    assert len(set(reached)) >= KILLS // 4  # ... at many points of it
    print(f"{survived} of {KILLS} SIGKILLs landed while training ran, after epochs {reached}")

    weights, _ = load_tensors(run / "model.safetensors")
    expected, _ = load_tensors(reference / "model.safetensors")
    assert weights.keys() == expected.keys()
    for name in expected:
        assert np.array_equal(weights[name].numpy(), expected[name].numpy()), name
    assert history(run) == history(reference)
