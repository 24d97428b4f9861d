"""Runs that travel: a run finds its data from any folder, every command that reads
data takes ``--data``, a model saved from Python opens like a run, and ``--resume``
continues with the options the run was trained with."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import aekit
from aekit.cli.main import main
from aekit.data import load_data
from aekit.storage.safe_files import write_json

FAST = ["--epochs", "1", "--hidden", "16", "--latent-dim", "2", "--quiet"]


def run_cli(args: list, capsys) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def table_run(tmp_path, monkeypatch, capsys) -> Path:
    """An AE trained from the folder ``there`` on ``table.npy`` named relative to it."""
    there = tmp_path / "there"
    there.mkdir()
    np.save(there / "table.npy", np.random.default_rng(0).normal(size=(60, 5)).astype("f4"))
    monkeypatch.chdir(there)
    code, _, err = run_cli(["train", "ae", "--data", "table.npy", "--out", "run", *FAST], capsys)
    assert code == 0, err
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    return there / "run"


def test_a_run_records_its_data_so_that_it_resolves_from_any_folder(table_run, capsys):
    saved = json.loads((table_run / "run.json").read_text())["data"]["source"]
    assert Path(saved).is_absolute() and Path(saved).name == "table.npy"
    for command in (
        ["sample", table_run, "-n", "8", "--out", "s.png"],
        ["interpolate", table_run, "--pairs", "2", "--steps", "3", "--out", "i.png"],
        ["evaluate", table_run],
        ["score", table_run, "--out", "scores.csv"],
        ["reconstruct", table_run, "-n", "3", "--out", "r.png"],
    ):
        code, _, err = run_cli(command, capsys)
        assert code == 0, (command[0], err)


def test_every_command_that_reads_data_takes_data(table_run, tmp_path, capsys):
    moved = tmp_path / "moved.npy"
    shutil.move(tmp_path / "there" / "table.npy", moved)
    code, _, err = run_cli(["sample", table_run, "-n", "8", "--out", "s.png"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    for command in (
        ["sample", table_run, "-n", "8", "--out", "s.png"],
        ["interpolate", table_run, "--pairs", "2", "--steps", "3", "--out", "i.png"],
        ["evaluate", table_run],
        ["score", table_run, "--out", "scores.csv"],
        ["reconstruct", table_run, "-n", "3", "--out", "r.png"],
        ["report", table_run, "--out", "report.html"],
    ):
        code, _, err = run_cli([*command, "--data", moved], capsys)
        assert code == 0, (command[0], err)


def test_commands_accept_a_model_saved_from_python(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    X = load_data("digits").train.X
    aekit.Autoencoder(latent_dim=2, hidden=(16,), epochs=1, random_state=0).fit(X).save("ae")
    code, _, err = run_cli(["evaluate", "ae"], capsys)
    assert code == 2 and "--data" in err and len(err.strip().splitlines()) == 1
    code, out, err = run_cli(["evaluate", "ae", "--data", "digits"], capsys)
    assert code == 0 and json.loads(out)["n"] > 300, err
    for command in (
        ["sample", "ae", "-n", "4", "--out", "s.png"],
        ["interpolate", "ae", "--prior", "--pairs", "2", "--out", "i.png"],
        ["score", "ae", "--data", "digits", "--out", "scores.csv"],
        ["reconstruct", "ae", "--data", "digits", "--out", "r.png"],
        ["export", "ae", "--format", "torchscript", "--out", "e.pt"],
    ):
        code, _, err = run_cli(command, capsys)
        assert code == 0, (command[0], err)


def test_resume_takes_the_options_of_the_run_unless_repeated(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    args = ["--epochs", "1", "--hidden", "16", "--latent-dim", "3", "--val-fraction", "0.2"]
    code, _, err = run_cli(["train", "ae", "--out", "run", *args, "-q"], capsys)
    assert code == 0, err
    resume = ["train", "ae", "--out", "run", "--resume"]
    code, _, err = run_cli([*resume, "--latent-dim", "5"], capsys)
    assert code == 2 and "latent_dim" in err
    code, _, err = run_cli([*resume, "--epochs", "2", "-q"], capsys)
    assert code == 0, err
    model = aekit.load("run")
    assert model.latent_dim == 3 and model.hidden == (16,) and len(model.history_) == 2
    assert json.loads(Path("run/run.json").read_text())["data"]["val_fraction"] == 0.2


def test_a_run_that_recorded_a_relative_path_still_resumes(table_run, capsys, monkeypatch):
    """Runs written before paths were recorded absolute resume from their folder."""
    run_json = table_run / "run.json"
    described = json.loads(run_json.read_text())
    described["data"]["source"] = "table.npy"
    write_json(run_json, described)
    monkeypatch.chdir(table_run.parent)
    resume = ["train", "ae", "--out", "run", "--resume", "--epochs", "2", "-q"]
    code, _, err = run_cli(resume, capsys)
    assert code == 0, err
