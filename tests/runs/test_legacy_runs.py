"""Run folders and saved models written by aekit before the move into layers (main at
819151b) load, score and evaluate to the numbers they gave then.

``tests/legacy_runs`` holds three run folders made by ``aekit train`` on digits (VAE,
AE, PCA) and two models saved with ``model.save`` on a standardised table (AE, VAE),
with ``expected.json``: what that code returned for them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import aekit
from aekit.cli.main import main

LEGACY = Path(__file__).resolve().parents[1] / "legacy_runs"
EXPECTED = json.loads((LEGACY / "expected.json").read_text())
TOLERANCE = 1e-6  # relative; the numbers were equal to the last bit when checked


def _close(got, expected) -> None:
    np.testing.assert_allclose(np.asarray(got, dtype=np.float64), expected, rtol=TOLERANCE)


@pytest.mark.parametrize("name", ["ae-table", "vae-table"])
def test_a_saved_tabular_model_gives_the_same_codes_scores_and_flags(name):
    X = np.load(LEGACY / "table.npy")
    model, expected = aekit.load(LEGACY / name), EXPECTED[name]
    assert model.scale_ == "standard"  # the scaling's part is read back from the old arrays
    _close(model.transform(X[:10]), expected["transform"])
    _close(model.reconstruct(X[:10]), expected["reconstruct"])
    _close(model.score_samples(X[:10]), expected["score_samples"])
    assert model.predict(X).tolist() == expected["predict"]
    if name == "vae-table":
        parts = model.elbo_parts(X)
        keys = sorted(parts)
        _close([parts[k] for k in keys], [expected["elbo_parts"][k] for k in keys])
        ll = model.log_likelihood(X[:10], n_samples=20, random_state=0)
        _close(ll, expected["log_likelihood"])


@pytest.mark.parametrize("run", ["vae-digits", "ae-digits", "pca-digits"])
def test_an_old_run_folder_evaluates_to_the_same_metrics(run, tmp_path, capsys):
    folder = shutil.copytree(LEGACY / run, tmp_path / run)  # nothing is written to it
    samples = ["--nll-samples", "20"] if run.startswith("vae") else []
    assert main(["evaluate", str(folder), *samples]) == 0
    got, expected = json.loads(capsys.readouterr().out), EXPECTED[run]
    # fields added since (issue 29: the estimate at K/10 beside the one at K); the rest as then
    added = {f"log_likelihood_{k}" for k in ("tenth_nats", "tenth_samples", "rise_nats", "note")}
    assert got.keys() - added == expected.keys()
    for key, value in expected.items():
        if isinstance(value, float):
            _close(got[key], value)
        else:
            assert got[key] == value, key
