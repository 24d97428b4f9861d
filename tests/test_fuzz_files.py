"""Seeded byte fuzzing of a run folder's files and of input files (issue 26).

Each case flips, truncates, extends, swaps or overwrites bytes of one file of a
small run, or of a data file it is evaluated on, then runs ``aekit evaluate`` in
this process under a time limit. It must either print finite metrics or refuse in
one sentence with exit code 2; never a traceback, a hang, or a change to any file.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from aekit.cli.main import main

SEED = 26
CASES = 240
SECONDS_PER_CASE = 10
RUN_FILES = ("config.json", "model.safetensors", "run.json", "metrics.json")
INPUT_FILES = ("table.csv", "table.npy")
MUTATIONS = ("flip", "truncate", "extend", "swap", "overwrite")


def mutate(data: bytes, how: str, rng: np.random.Generator) -> bytes:
    """``data`` changed by one mutation ``how`` at positions drawn from ``rng``."""
    out = bytearray(data)
    at = int(rng.integers(len(out))) if out else 0
    if how == "flip" and out:
        out[at] ^= 1 << int(rng.integers(8))
    elif how == "truncate":
        del out[at:]
    elif how == "extend":
        out += rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8).tobytes()
    elif how == "swap" and out:
        other = int(rng.integers(len(out)))
        out[at], out[other] = out[other], out[at]
    elif how == "overwrite" and out:
        n = int(rng.integers(1, 9))
        out[at : at + n] = rng.integers(0, 256, n, dtype=np.uint8).tobytes()[: len(out) - at]
    return bytes(out)


class TimedOut(Exception):
    pass


def _alarm(signum, frame):
    raise TimedOut


def snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else ""
        for p in sorted(root.rglob("*"))
    }


def finite_numbers(value) -> Iterator[bool]:
    if isinstance(value, dict):
        for v in value.values():
            yield from finite_numbers(v)
    elif isinstance(value, list):
        for v in value:
            yield from finite_numbers(v)
    elif isinstance(value, float):
        yield math.isfinite(value)


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """A small table run and the two input files it can be evaluated on."""
    root = tmp_path_factory.mktemp("fuzz")
    table = np.random.default_rng(0).normal(size=(40, 4)).round(3)
    np.savetxt(root / "table.csv", table, delimiter=",", fmt="%.3f")
    np.save(root / "table.npy", table.astype(np.float32))
    args = ["train", "ae", "--data", str(root / "table.csv"), "--out", str(root / "run")]
    assert main([*args, "--epochs", "1", "--hidden", "4", "--latent-dim", "2", "--quiet"]) == 0
    return root


@pytest.mark.timeout(120)
def test_mutated_files_load_to_finite_numbers_or_are_refused_in_one_sentence(
    source, tmp_path, capsys
):
    rng = np.random.default_rng(SEED)
    capsys.readouterr()
    outcomes = {"evaluated": 0, "refused": 0}
    previous = signal.signal(signal.SIGALRM, _alarm)
    try:
        for case in range(CASES):
            target = (RUN_FILES + INPUT_FILES)[case % (len(RUN_FILES) + len(INPUT_FILES))]
            how = MUTATIONS[int(rng.integers(len(MUTATIONS)))]
            folder = tmp_path / str(case)
            shutil.copytree(source, folder)
            path = folder / "run" / target if target in RUN_FILES else folder / target
            path.write_bytes(mutate(path.read_bytes(), how, rng))
            before = snapshot(folder)
            args = ["evaluate", str(folder / "run")]
            if target in INPUT_FILES:
                args += ["--data", str(path)]
            what = f"seed {SEED}, case {case}: {how} of {target}"
            signal.alarm(SECONDS_PER_CASE)
            try:
                code = main(args)
            except TimedOut:
                pytest.fail(f"{what}: no answer within {SECONDS_PER_CASE} s")
            except Exception as exc:  # a traceback the user would see
                pytest.fail(f"{what}: {type(exc).__name__}: {exc}")
            finally:
                signal.alarm(0)
            out, err = capsys.readouterr()
            assert "Traceback" not in err, f"{what}: {err}"
            if code == 0:
                assert all(finite_numbers(json.loads(out))), f"{what}: {out}"
                outcomes["evaluated"] += 1
            else:
                assert code == 2, f"{what}: exit {code}: {err}"
                assert err.startswith("aekit: error:") and err.count("\n") == 1, f"{what}: {err}"
                outcomes["refused"] += 1
            assert snapshot(folder) == before, f"{what}: a file changed"
            shutil.rmtree(folder)
    finally:
        signal.signal(signal.SIGALRM, previous)
    assert outcomes["evaluated"] and outcomes["refused"], outcomes
