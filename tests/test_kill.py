"""Training killed with SIGKILL at random moments resumes to the same weights (SPEC §3)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
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


def train(out: Path, *extra: str) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "aekit", *TRAIN, "--out", str(out), *extra]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def history(run: Path) -> list[dict]:
    rows = json.loads((run / "metrics.json").read_text())["history"]
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


@pytest.mark.timeout(600)
def test_sigkill_at_20_random_moments_loses_nothing(tmp_path):
    reference = tmp_path / "reference"
    start = time.monotonic()
    proc = train(reference)
    assert proc.wait() == 0, proc.stderr.read().decode()
    duration = time.monotonic() - start

    run = tmp_path / "killed"
    rng = np.random.default_rng(20)
    survived = 0
    for _ in range(KILLS):
        # continue the run if it got as far as writing run.json, else start it anew
        extra = ["--resume"] if (run / "run.json").exists() else ["--overwrite"]
        proc = train(run, *extra)
        time.sleep(rng.uniform(0.2, duration))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            survived += 1
        proc.wait()
        assert proc.returncode in (0, -signal.SIGKILL), proc.stderr.read().decode()
    final = train(run, "--resume")
    assert final.wait() == 0, final.stderr.read().decode()
    assert survived >= KILLS // 2  # most kills landed while training was running
    print(f"{survived} of {KILLS} SIGKILLs landed while training ran; all resumed")

    weights, _ = load_tensors(run / "model.safetensors")
    expected, _ = load_tensors(reference / "model.safetensors")
    assert weights.keys() == expected.keys()
    for name in expected:
        assert np.array_equal(weights[name].numpy(), expected[name].numpy()), name
    assert history(run) == history(reference)
