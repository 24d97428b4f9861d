"""``aekit.train_run``: the Python API that makes a run, and the CLI's train mapped
onto it."""

from __future__ import annotations

import json

import numpy as np
import pytest

import aekit
from aekit.cli.main import main
from aekit.errors import AekitError
from aekit.training.checkpoint import CHECKPOINT
from aekit.training.epoch_log import METRICS

FAST = {"epochs": 2, "hidden": (16,), "latent_dim": 2, "random_state": 0}


def test_train_run_makes_the_run_the_cli_makes(tmp_path, capsys):
    run = aekit.train_run("ae", "digits", tmp_path / "py", **FAST)
    assert run.path == tmp_path / "py"
    names = {p.name for p in run.path.iterdir()}
    assert {"run.json", "config.json", "model.safetensors", CHECKPOINT, METRICS} <= names
    assert not any(p.name.startswith(".") and p.name != ".lock" for p in tmp_path.iterdir())
    cli_args = ["train", "ae", "--out", str(tmp_path / "cli"), "--epochs", "2", "--hidden", "16",
                "--latent-dim", "2", "--seed", "0", "--quiet"]  # fmt: skip
    assert main(cli_args) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == run.metrics  # same options, same seed: the same run
    X = np.asarray(aekit.load(tmp_path / "cli").transform(np.zeros((3, 1, 8, 8), np.float32)))
    np.testing.assert_array_equal(X, run.model.transform(np.zeros((3, 1, 8, 8), np.float32)))


def test_train_run_resumes_and_refuses_what_it_cannot_do(tmp_path):
    first = aekit.train_run("vae", "digits", tmp_path / "r", **FAST)
    assert len(first.model.history_) == 2
    longer = aekit.train_run("vae", "digits", tmp_path / "r", resume=True, **{**FAST, "epochs": 4})
    assert [h["epoch"] for h in longer.model.history_] == [1, 2, 3, 4]
    resumed = longer.model.history_[:2]
    assert resumed == [
        {**h, "seconds": g["seconds"]} for h, g in zip(first.model.history_, resumed, strict=True)
    ]
    with pytest.raises(AekitError, match="already exists"):
        aekit.train_run("vae", "digits", tmp_path / "r", **FAST)
    with pytest.raises(AekitError, match="tensorboard does not apply to 'pca'"):
        aekit.train_run("pca", "digits", tmp_path / "p", tensorboard=True, n_components=2)
    assert not (tmp_path / "p").exists()
    with pytest.raises(AekitError, match="hidden is not a parameter of PCA"):
        aekit.train_run("pca", "digits", tmp_path / "p", hidden=(8,))


def test_pca_run_is_evaluated_beside_its_bound(tmp_path):
    run = aekit.train_run("pca", "digits", tmp_path / "pca", n_components=4)
    assert run.metrics["kind"] == "pca" and run.model.kind == "pca"
    assert run.metrics["mse"] >= run.metrics["eckart_young_bound_mse"]
    assert run.metrics["mse"] == pytest.approx(run.metrics["pca_mse"])
