"""torchrun with two CPU processes (gloo) follows the single-process run (issue 8)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch.distributed as dist

from aekit.storage.safe_files import load_tensors

pytestmark = pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()), reason="no gloo backend"
)

TRAIN = [
    "train", "ae", "--data", "digits", "--hidden", "64", "--latent-dim", "4",
    "--batch-size", "64", "--lr-schedule", "none", "--seed", "0", "--quiet",
]  # fmt: skip
# float sums over two ranks differ from one process in the last bits only
TOLERANCE = 1e-5


def run(tmp: Path, out: str, epochs: int, nproc: int, *extra: str) -> subprocess.CompletedProcess:
    launcher = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}"]
    launcher += [f"--master_port={free_port()}"] if nproc > 1 else []
    command = [*launcher, "-m", "aekit"] if nproc > 1 else [sys.executable, "-m", "aekit"]
    command += [*TRAIN, "--epochs", str(epochs), "--out", out, *extra]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(command, cwd=tmp, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def history(run_dir: Path) -> list[dict]:
    return json.loads((run_dir / "metrics.json").read_text())["history"]


def test_two_gloo_ranks_match_one_process_and_resume(tmp_path):
    one = run(tmp_path, "one", 3, 1)
    # two ranks train 2 epochs, then every rank resumes from rank 0's checkpoint on to 3
    two = run(tmp_path, "two", 2, 2)
    assert len(history(tmp_path / "two")) == 2
    resumed = run(tmp_path, "two", 3, 2, "--resume")
    # rank 0 alone reports: one metrics document on stdout
    for proc in (one, two, resumed):
        assert proc.stdout.count('"kind"') == 1
    single, double = history(tmp_path / "one"), history(tmp_path / "two")
    assert len(single) == len(double) == 3
    for a, b in zip(single, double, strict=True):
        assert b["rank_weight_spread"] == 0.0  # identical weights on both ranks, every epoch
        for key in ("train_loss", "val_loss"):
            assert b[key] == pytest.approx(a[key], rel=TOLERANCE), key
    w1, _ = load_tensors(tmp_path / "one" / "model.safetensors")
    w2, _ = load_tensors(tmp_path / "two" / "model.safetensors")
    for name in w1:
        np.testing.assert_allclose(w2[name].numpy(), w1[name].numpy(), rtol=1e-3, atol=1e-5)
