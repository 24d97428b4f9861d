"""A run's ``train.yaml`` (``aekit train --config`` / ``--print-config``): written with
every run, read back by the command."""

from __future__ import annotations

import json

import click
import pytest
import yaml

import aekit
from aekit.cli.main import cli, main
from aekit.data.sources import DataSpec
from aekit.models.registry import ESTIMATORS
from aekit.runs.config import NO_OPTION, read_config, run_config
from aekit.runs.layout import TRAIN_CONFIG

FAST = ["--epochs", "2", "--hidden", "32", "--latent-dim", "4", "--quiet"]


def run_cli(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def printed_config(args, capsys) -> dict:
    code, out, err = run_cli(["train", *args, "--print-config"], capsys)
    assert code == 0, err
    return yaml.safe_load(out)


def test_a_run_repeated_from_its_own_train_yaml_gives_the_same_metrics(ae_run, capsys):
    folder, metrics = ae_run
    again = folder.parent / "again"
    code, out, err = run_cli(["train", "--config", folder / TRAIN_CONFIG, "--out", again], capsys)
    assert code == 0, err
    assert json.loads(out) == metrics
    assert read_config(again / TRAIN_CONFIG) == read_config(folder / TRAIN_CONFIG)


def test_options_on_the_command_line_win_over_the_config_file(tmp_path, capsys):
    given = tmp_path / "run.yaml"
    given.write_text("kind: ae\nlatent_dim: 3\nhidden: [16, 8]\nepochs: 1\nlr: 0.01\n")
    config = printed_config(["--config", given, "--latent-dim", "2", "--lr", "0.5"], capsys)
    assert config["kind"] == "ae" and config["hidden"] == [16, 8] and config["epochs"] == 1
    assert config["latent_dim"] == 2 and config["lr"] == 0.5  # the flags'
    # a kind on the command line wins too; an option of the file it does not take is refused
    assert printed_config(["dae", "--config", given], capsys)["kind"] == "dae"
    given.write_text("kind: vae\nbeta: 2.0\n")
    code, _, err = run_cli(["train", "ae", "--config", given, "--print-config"], capsys)
    assert code == 2 and "--beta does not apply to 'ae' models" in err


def test_a_trained_run_records_the_options_the_command_line_overrode(ae_run, capsys):
    folder, _ = ae_run
    other = folder.parent / "other"
    code, out, err = run_cli(
        ["train", "--config", folder / TRAIN_CONFIG, "--out", other, "--latent-dim", "3"], capsys
    )
    assert code == 0, err
    assert aekit.load(other).latent_dim == 3 and json.loads(out)["latent_dim"] == 3
    assert read_config(other / TRAIN_CONFIG) == {
        **read_config(folder / TRAIN_CONFIG),
        "latent_dim": 3,
    }


@pytest.mark.parametrize(
    "text, message",
    [
        ("kind: ae\nlatnet_dim: 3\n", "unknown key 'latnet_dim'"),
        ("kind: ae\nout: x\nconfig: other.yaml\n", "unknown key 'config'"),
        ("kind: ae\nlatent_dim: [3\n", "is not valid YAML (line"),
        ("- ae\n- 3\n", "must be a YAML mapping of option names"),
        ("kind: ae\nlatent_dim: -1\n", "latent"),
        ("kind: gan\n", "gan"),
    ],
)
def test_a_bad_config_file_is_refused_in_one_sentence(tmp_path, capsys, text, message):
    given = tmp_path / "bad.yaml"
    given.write_text(text)
    code, out, err = run_cli(["train", "--config", given, "--out", tmp_path / "r"], capsys)
    assert code == 2 and message in err and out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "r").exists()


def test_a_missing_config_file_is_refused_in_one_sentence(tmp_path, capsys):
    code, _, err = run_cli(["train", "--config", tmp_path / "none.yaml"], capsys)
    assert code == 2 and "does not exist" in err and len(err.strip().splitlines()) == 1


def test_print_config_prints_the_defaults_of_a_kind_as_yaml(tmp_path, capsys):
    code, out, err = run_cli(["train", "pca", "--print-config"], capsys)
    assert code == 0 and "\nkind: pca\ndata: digits\n" in out  # one option a line
    code, out, err = run_cli(["train", "ae", "--hidden", "32,16", "--print-config"], capsys)
    assert "\nhidden: [32, 16]\n" in out
    config = printed_config(["vae"], capsys)
    assert config["kind"] == "vae" and config["data"] == "digits"
    assert config["latent_dim"] == 16 and config["seed"] == 0  # the command's defaults
    assert config["beta"] == aekit.VAE().beta and config["likelihood"] == aekit.VAE().likelihood
    assert "noise_std" not in config  # a DAE's option
    # the printed file, given back, prints itself again
    saved = tmp_path / "vae.yaml"
    saved.write_text(yaml.safe_dump(config))
    assert printed_config(["--config", saved], capsys) == config


def test_a_config_file_takes_lists_and_a_mapping_of_column_types(tmp_path, capsys):
    given = tmp_path / "table.yaml"
    given.write_text(
        "kind: ae\ndata: t.csv\nhidden: [8]\ncolumn_type: {city: categorical, n: count}\n"
    )
    config = printed_config(["--config", given], capsys)
    assert config["hidden"] == [8]
    assert config["column_type"] == {"city": "categorical", "n": "count"}


def test_every_key_of_a_run_config_is_an_option_of_train():
    train = cli.get_command(click.Context(cli), "train")
    names = {p.name.rstrip("_") for p in train.params}
    assert not names & NO_OPTION
    for kind, cls in ESTIMATORS.items():
        assert set(run_config(kind, DataSpec(), cls().get_params())) <= names, kind


def test_a_python_run_says_which_of_its_settings_its_file_cannot_repeat(tmp_path):
    run = aekit.train_run("pca", "digits", tmp_path / "p", n_components=3, dtype="float64")
    text = (run.path / TRAIN_CONFIG).read_text()
    assert "not repeated by this file: dtype" in text
    assert read_config(run.path / TRAIN_CONFIG)["latent_dim"] == 3


def test_a_mixed_table_run_repeats_from_its_file_with_its_column_types(tmp_path, capsys):
    rows = [f"{i / 60:.3f},{'xyz'[i % 3]},{'' if i % 7 == 0 else i % 10}" for i in range(60)]
    table = tmp_path / "t.csv"
    table.write_text("a,b,c\n" + "\n".join(rows) + "\n")
    args = ["--epochs", "1", "--hidden", "4", "-d", "2", "--quiet", "--column-type", "c=count"]
    code, first, err = run_cli(
        ["train", "ae", "--data", table, "--out", tmp_path / "r", *args], capsys
    )
    assert code == 0, err
    assert read_config(tmp_path / "r" / TRAIN_CONFIG)["column_type"] == {"c": "count"}
    again = ["train", "--config", tmp_path / "r" / TRAIN_CONFIG, "--out", tmp_path / "r2"]
    code, second, err = run_cli(again, capsys)
    assert code == 0, err
    assert json.loads(second) == json.loads(first)
    assert "most frequent level (`majority_accuracy`)" in (tmp_path / "r" / "README.md").read_text()
