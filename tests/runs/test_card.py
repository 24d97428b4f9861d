"""A run's model card ``README.md``: written with every run, its front matter YAML in
Hugging Face's model-card keys, its metrics those the run printed."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

import aekit
from aekit.cli.main import main
from aekit.errors import RunFileError
from aekit.runs import provenance
from aekit.runs.layout import TRAIN_CONFIG, check_output

FAST = ["--epochs", "2", "--hidden", "32", "--latent-dim", "4", "--quiet"]


def run_cli(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def front_matter(card: str) -> dict:
    assert card.startswith("---\n")
    head, _, _ = card[4:].partition("\n---\n")
    return yaml.safe_load(head)


def test_every_run_folder_has_a_model_card_whose_metrics_are_the_runs(ae_run, capsys):
    folder, metrics = ae_run
    card = (folder / "README.md").read_text()
    head = front_matter(card)
    assert head["library_name"] == "aekit"
    assert {"autoencoder", "ae"} <= set(head["tags"]) and head["datasets"] == ["digits"]
    assert {"mse", "pca_mse", "eckart_young_bound_mse"} <= set(head["metrics"])
    (result,) = head["model-index"][0]["results"]
    assert result["dataset"]["split"] == "test"
    for entry in result["metrics"]:
        assert entry["value"] == metrics[entry["type"]], entry  # exactly the printed ones
    code, out, _ = run_cli(["evaluate", folder], capsys)
    evaluated = json.loads(out)
    assert {e["type"]: e["value"] for e in result["metrics"]} == {
        k: evaluated[k] for k in head["metrics"]
    }
    last = json.loads((folder / "metrics.json").read_text())["history"][-1]
    shown = {k: v for k, v in last.items() if k != "seconds"}
    block = card.split("`metrics.json` has every one):\n\n```json\n")[1].split("\n```")[0]
    assert json.loads(block) == shown
    for words in [
        "| mse | ",
        "squared data units per value",
        "pca_mse",
        "## Intended use and limits",
        "not calibrated for other data",
        'aekit.load("ae")',
        "seed` 0, split seed 0",
        "Linear(in_features=64, out_features=32",
    ]:
        assert words in card, words


def test_a_vae_card_gives_its_nats(tmp_path):
    run = aekit.train_run("vae", "digits", tmp_path / "v", latent_dim=2, hidden=(16,), epochs=1)
    card = (run.path / "README.md").read_text()
    assert f"| elbo_nats | {run.metrics['elbo_nats']!r} | nats per example |" in card
    assert "log-densities are in nats per example of `digits`" in card


def test_a_pca_card_and_config_are_the_runs_own_files(tmp_path):
    run = aekit.train_run("pca", "digits", tmp_path / "pca", n_components=4)
    head = front_matter((run.path / "README.md").read_text())
    assert {e["type"]: e["value"] for e in head["model-index"][0]["results"][0]["metrics"]} == {
        k: run.metrics[k] for k in head["metrics"]
    }
    for name in ("README.md", TRAIN_CONFIG):
        with pytest.raises(RunFileError, match="one of the files that make the run"):
            check_output(run.path / name)


def test_the_card_names_its_licence_its_task_and_the_aekit_that_trained_it(ae_run):
    folder, _ = ae_run
    card = (folder / "README.md").read_text()
    head = front_matter(card)
    assert head["license"] == "mit"  # pyproject.toml: license = { text = "MIT" }
    assert head["pipeline_tag"] == "feature-extraction"
    assert "`license` is aekit's (MIT)" in card
    commit = provenance.source_commit()  # None where git gives none (no checkout, no git)
    if commit is None:
        assert f"Trained with aekit {aekit.__version__} (not from a git checkout)" in card
    else:
        assert f"Trained with aekit {aekit.__version__} (commit `{commit}" in card
        source = Path(aekit.__file__).parent
        head_commit = subprocess.run(["git", "-C", str(source), "rev-parse", "HEAD"],
                                     capture_output=True, text=True).stdout.strip()  # fmt: skip
        assert commit.split("+")[0] == head_commit


def test_outside_a_checkout_the_card_has_no_commit_and_an_unknown_licence_is_other(
    monkeypatch, tmp_path
):
    monkeypatch.setattr(provenance, "PACKAGE_DIR", tmp_path)  # no git repository here
    assert provenance.source_commit() is None
    assert provenance.software()["aekit"] == aekit.__version__
    assert [provenance.hub_license(n) for n in ("MIT", "Apache-2.0", "Proprietary", None)] == [
        "mit",
        "apache-2.0",
        "other",
        "other",
    ]
