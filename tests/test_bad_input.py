"""Bad input gets one clear sentence, exit code 2, and changes nothing on disk (SPEC §3)."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aekit.cli import main

TINY = ["--epochs", "1", "--hidden", "8", "--latent-dim", "2", "--quiet"]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    """A digits autoencoder run, made once and copied into each case's folder."""
    run = tmp_path_factory.mktemp("fixture") / "ae-run"
    assert main(["train", "ae", "--out", str(run), *TINY]) == 0
    return run


def snapshot(root: Path) -> dict[str, str]:
    """Every path under ``root`` with the hash of its bytes (folders hash to '')."""
    out = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        out[key] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
    return out


def npy(values) -> Callable[[Path], str]:
    def make(folder: Path) -> str:
        np.save(folder / "data.npy", np.asarray(values))
        return str(folder / "data.npy")

    return make


def text_file(name: str, text: str | bytes) -> Callable[[Path], str]:
    def make(folder: Path) -> str:
        path = folder / name
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        return str(path)

    return make


def image_folder(*specs: tuple[str, tuple[int, int]]) -> Callable[[Path], str]:
    def make(folder: Path) -> str:
        images = folder / "images"
        images.mkdir()
        for i, (mode, size) in enumerate(specs * 3):
            Image.new(mode, size, color=40 * i % 255).save(images / f"{i}.png")
        return str(images)

    return make


def nan_values() -> np.ndarray:
    values = np.random.default_rng(0).random((40, 3))
    values[5, 1] = np.nan
    return values


def inf_values() -> np.ndarray:
    values = np.random.default_rng(0).random((40, 3))
    values[9, 0] = np.inf
    return values


def train_on(make: Callable[[Path], str]):
    return lambda folder, run: ["train", "ae", "--data", make(folder), "--out", "new", *TINY]


def train_with(*options: str):
    return lambda folder, run: ["train", "ae", "--out", "new", *TINY, *options]


def on_run(command: str, *options: str):
    return lambda folder, run: [command, str(run), *options]


def evaluate_on(make: Callable[[Path], str]):
    return lambda folder, run: ["evaluate", str(run), "--data", make(folder)]


def not_writable_out(folder: Path, run: Path) -> list[str]:
    (folder / "a-file").write_text("not a folder")
    return ["train", "ae", "--out", str(folder / "a-file" / "run"), *TINY]


def png_into_a_file(folder: Path, run: Path) -> list[str]:
    (folder / "a-file").write_text("not a folder")
    return ["reconstruct", str(run), "--out", str(folder / "a-file" / "rec.png")]


CASES = {
    "NaN values": (train_on(npy(nan_values())), "NaN"),
    "infinite values": (train_on(npy(inf_values())), "infinite"),
    "empty data": (train_on(npy(np.zeros((0, 4)))), "0 examples"),
    "a single example": (train_on(npy(np.ones((1, 4)))), "example"),
    "non-numeric CSV": (train_on(text_file("d.csv", "1,2,3\n4,x,6\n7,8,9\n")), "not a number"),
    "ragged CSV": (train_on(text_file("d.csv", "1,2,3\n4,5\n7,8,9\n")), "d.csv"),
    "empty CSV": (train_on(text_file("d.csv", "")), "d.csv"),
    "garbage .npy": (train_on(text_file("d.npy", b"\x93NUMPY garbage")), "d.npy"),
    "garbage .npz": (train_on(text_file("d.npz", b"PK\x03\x04 broken zip")), "d.npz"),
    "mixed image sizes": (train_on(image_folder(("L", (8, 8)), ("L", (9, 8)))), "size"),
    "mixed channels": (train_on(image_folder(("L", (8, 8)), ("RGB", (8, 8)))), "mode"),
    "a string for a number": (train_with("--lr", "fast"), "'fast' is not a valid float"),
    "zero latent size": (train_with("--latent-dim", "0"), "x>=1"),
    "bad widths": (train_with("--hidden", "8,x"), "comma-separated integers"),
    "negative noise": (train_with("--noise-std", "-1"), "x>=0"),
    "fractions over 1": (train_with("--val-fraction", "0.6", "--test-fraction", "0.6"), "below 1"),
    "an option of another model": (train_with("--beta", "2"), "does not apply"),
    "unknown dataset": (train_with("--data", "mnits"), "unknown data source"),
    "unknown option": (train_with("--frobnicate"), "No such option"),
    "unknown model kind": (lambda f, r: ["train", "gan"], "Invalid value"),
    "missing run folder": (lambda f, r: ["evaluate", str(f / "nowhere")], "run folder"),
    "a folder that is not a run": (lambda f, r: ["evaluate", str(f)], "run folder"),
    "existing run without --overwrite": (
        lambda f, r: ["train", "ae", "--out", str(r), *TINY],
        "--overwrite",
    ),
    "resume as another model": (
        lambda f, r: ["train", "vae", "--out", str(r), "--resume", *TINY],
        "is a 'ae' run",
    ),
    "wrong image size at evaluate": (evaluate_on(npy(np.zeros((40, 5, 5)))), "shape"),
    "wrong feature count at evaluate": (evaluate_on(npy(np.zeros((40, 7)))), "shape"),
    "NaN at evaluate": (evaluate_on(npy(nan_values())), "NaN"),
    "unknown split": (on_run("evaluate", "--split", "everything"), "Invalid value"),
    "output folder not writable": (not_writable_out, "a-file"),
    "figure into a file's folder": (png_into_a_file, "a-file"),
    "chain sampling without noise": (on_run("sample", "--method", "chain", "-n", "4"), "noise"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_gets_one_sentence_and_changes_nothing(case, trained_run, tmp_path, capsys):
    build, message = CASES[case]
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    args = build(cwd, run)
    before = snapshot(tmp_path)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(cwd)
        code = main([str(a) for a in args])
    err = capsys.readouterr().err
    assert code == 2, (case, err)
    assert message in err, (case, err)
    assert "Traceback" not in err
    assert err.strip().count("\n") <= 2, err  # one sentence (click may add a usage line)
    assert snapshot(tmp_path) == before, case


def test_there_are_at_least_25_cases():
    assert len(CASES) >= 25
