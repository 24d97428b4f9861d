"""Training killed with SIGKILL at random moments resumes to the same weights (SPEC §3)."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from aekit.storage.safe_files import load_tensors

TRAIN = [
    "train", "ae", "--data", "digits", "--epochs", "25", "--hidden", "128,64",
    "--latent-dim", "4", "--batch-size", "16", "--seed", "3", "--quiet",
]  # fmt: skip
KILLS = 20


def train(warm_python, out: Path, *extra: str, kill_after: float | None = None):
    """``aekit train`` in a process of its own, sent SIGKILL ``kill_after`` seconds in."""
    return warm_python.run(["-m", "aekit", *TRAIN, "--out", str(out), *extra], kill_after)


def history(run: Path) -> list[dict]:
    rows = json.loads((run / "metrics.json").read_text())["history"]
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


@pytest.mark.timeout(600)
def test_sigkill_at_20_random_moments_loses_nothing(tmp_path, warm_python):
    reference = tmp_path / "reference"
    start = time.monotonic()
    done = train(warm_python, reference)
    assert done.returncode == 0, done.stderr
    duration = time.monotonic() - start

    run = tmp_path / "killed"
    rng = np.random.default_rng(20)
    survived = 0
    reached = []
    for _ in range(KILLS):
        # continue the run if it got as far as writing run.json, else start it anew
        extra = ["--resume"] if (run / "run.json").exists() else ["--overwrite"]
        # each run resumes at its last epoch: a quarter of the run's time each spreads the
        # kills over all of it, where its whole time would finish it in two or three runs
        done = train(warm_python, run, *extra, kill_after=rng.uniform(0.2, duration / 4))
        assert done.returncode in (0, -signal.SIGKILL), done.stderr
        survived += done.returncode == -signal.SIGKILL
        reached.append(len(history(run)) if (run / "metrics.json").exists() else 0)
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
