"""The command line end to end, in a temporary folder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import aekit
from aekit.cli.main import main

FAST = ["--epochs", "2", "--hidden", "32", "--latent-dim", "4", "--quiet"]


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def ae_run(tmp_path, capsys) -> Path:
    run = tmp_path / "runs" / "ae"
    code, out, err = run_cli(["train", "ae", "--out", run, *FAST], capsys)
    assert code == 0, err
    return run


def test_train_writes_a_complete_run_and_prints_metrics(ae_run, capsys):
    for name in [
        "run.json",
        "config.json",
        "model.safetensors",
        "metrics.json",
        "checkpoint.safetensors",
    ]:
        assert (ae_run / name).is_file(), name
    model = aekit.load(ae_run)
    assert isinstance(model, aekit.Autoencoder) and model.latent_dim == 4
    assert len(model.history_) == 2
    code, out, _ = run_cli(["evaluate", ae_run], capsys)
    metrics = json.loads(out)
    assert code == 0 and metrics["split"] == "test" and metrics["n"] > 300
    assert metrics["score"] == pytest.approx(-metrics["mse"])
    assert metrics["psnr_db"] == pytest.approx(10 * np.log10(1 / metrics["mse"]))


def test_evaluate_matches_the_python_api(ae_run, capsys):
    from aekit.data import load_data

    code, out, _ = run_cli(["evaluate", ae_run, "--split", "val"], capsys)
    data = load_data("digits")
    assert json.loads(out)["mse"] == pytest.approx(
        aekit.load(ae_run).reconstruction_error(data.val.X), rel=1e-6
    )


def test_split_seed_chooses_the_split_of_evaluate_and_report(ae_run, capsys):
    from aekit.data import load_data

    model = aekit.load(ae_run)
    default = json.loads(run_cli(["evaluate", ae_run], capsys)[1])["mse"]
    code, out, err = run_cli(["evaluate", ae_run, "--split-seed", "7"], capsys)
    assert code == 0, err
    other = load_data("digits", random_state=7).test.X
    assert json.loads(out)["mse"] == pytest.approx(model.reconstruction_error(other), rel=1e-6)
    assert json.loads(out)["mse"] != pytest.approx(default, rel=1e-6)


def test_reconstruct_draws_a_png(ae_run, tmp_path, capsys):
    png = tmp_path / "rec.png"
    code, out, err = run_cli(["reconstruct", ae_run, "--out", png, "-n", "6"], capsys)
    assert code == 0, err
    with Image.open(png) as im:
        im.load()
        assert im.width > 300 and im.height > 100
    code, _, err = run_cli(["reconstruct", ae_run, "--noise", "0.5", "--out", png], capsys)
    assert code == 0, err


def test_resume_continues_a_run_to_more_epochs(ae_run, capsys):
    code, _, err = run_cli(
        [
            "train",
            "ae",
            "--out",
            ae_run,
            "--resume",
            *FAST[:0],
            "--epochs",
            "3",
            "--hidden",
            "32",
            "--latent-dim",
            "4",
            "--quiet",
        ],
        capsys,
    )
    assert code == 0, err
    assert [h["epoch"] for h in aekit.load(ae_run).history_] == [1, 2, 3]


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "nope"], "Invalid value for '{pca|linear|ae|dae|vae|vqvae}'"),
        (["train", "ae", "--epochs", "many"], "'many' is not a valid integer"),
        (["train", "ae", "--latent-dim", "0"], "0 is not in the range x>=1"),
        (["train", "ae", "--hidden", "3,x"], "comma-separated integers"),
        (["train", "ae", "--beta", "2"], "--beta does not apply to 'ae' models"),
        (["train", "vae", "--walkback", "1"], "--walkback does not apply to 'vae' models"),
        (["train", "dae", "--walkback", "1", "--noise-std", "0"], "walkback needs a corruption"),
        (["train", "ae", "--data", "nowhere.npy"], "unknown data source 'nowhere.npy'"),
        (["train", "ae", "--frobnicate"], "No such option '--frobnicate'"),
        (["evaluate", "does/not/exist"], "is not a run folder"),
    ],
)
def test_bad_arguments_give_one_sentence_and_exit_2(args, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(args, capsys)
    assert code == 2
    assert message in err
    assert "Traceback" not in err
    assert not (tmp_path / "runs").exists()  # nothing written


def test_an_existing_run_is_not_overwritten_without_asking(ae_run, capsys):
    before = (ae_run / "model.safetensors").read_bytes()
    code, _, err = run_cli(["train", "ae", "--out", ae_run, *FAST], capsys)
    assert code == 2 and "--overwrite" in err
    assert (ae_run / "model.safetensors").read_bytes() == before
    code, _, err = run_cli(["train", "ae", "--out", ae_run, "--overwrite", *FAST], capsys)
    assert code == 0, err


def test_bad_user_data_is_refused_cleanly(tmp_path, capsys):
    bad = tmp_path / "bad.npy"
    values = np.random.default_rng(0).random((40, 3))
    values[7, 1] = np.nan
    np.save(bad, values)
    code, _, err = run_cli(["train", "ae", "--data", bad, "--out", tmp_path / "r", *FAST], capsys)
    assert code == 2 and "NaN" in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_python_dash_m_and_console_script(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "aekit", "train", "ae", "--epochs", "x"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0  # one line
    proc = subprocess.run([sys.executable, "-m", "aekit", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "train" in proc.stdout


def test_precision_option_reaches_the_training_loop(tmp_path, capsys, monkeypatch):
    seen = {}
    original = aekit.Autoencoder.fit

    def spy(self, X, **kwargs):
        seen.update(kwargs)
        return original(self, X, **kwargs)

    monkeypatch.setattr(aekit.Autoencoder, "fit", spy)
    run = tmp_path / "bf16"
    code, out, err = run_cli(
        ["train", "ae", "--out", run, "--precision", "bfloat16", *FAST], capsys
    )
    assert code == 0, err
    assert seen["precision"] == "bfloat16" and seen["compile"] is False
    assert np.isfinite(json.loads(out)["mse"])


@pytest.mark.parametrize("flag", [["--compile"], ["--precision", "bfloat16"]])
def test_speed_options_do_not_apply_to_pca(tmp_path, capsys, flag):
    code, _, err = run_cli(["train", "pca", "--out", tmp_path / "p", *flag], capsys)
    assert code == 2 and "does not apply to 'pca'" in err
    assert not (tmp_path / "p").exists()


def test_vae_with_a_mixture_prior_trains_samples_and_reloads(tmp_path, capsys):
    run = tmp_path / "vae-mix"
    args = ["train", "vae", "--out", run, "--likelihood", "bernoulli", *FAST]
    code, out, err = run_cli([*args, "--prior", "mixture", "--prior-components", "3"], capsys)
    assert code == 0, err
    model = aekit.load(run)
    assert model.prior == "mixture" and model.module_.prior.means.shape == (3, 4)
    code, out, err = run_cli(["sample", run, "-n", "8"], capsys)
    assert code == 0 and Path(out.strip()).name == "samples-prior.png"
    code, out, err = run_cli(["interpolate", run, "--prior", "--pairs", "2"], capsys)
    assert code == 0, err  # between draws of the learned mixture
    traversal = model.traverse(n_steps=3)  # centred on the codes, not on 0
    assert traversal.shape == (4, 3, 1, 8, 8)
    code, _, err = run_cli(["train", "ae", "--out", tmp_path / "a", "--prior", "mixture"], capsys)
    assert code == 2 and "--prior does not apply to 'ae' models" in err


def test_dae_with_walkback_trains_and_samples_its_chain(tmp_path, capsys):
    run = tmp_path / "dae-walk"
    code, out, err = run_cli(["train", "dae", "--out", run, "--walkback", "2", *FAST], capsys)
    assert code == 0, err
    model = aekit.load(run)
    assert model.walkback == 2 and model.module_.walkback == 2
    code, out, err = run_cli(["sample", run, "-n", "8", "--method", "chain"], capsys)
    assert code == 0 and Path(out.strip()).name == "samples-chain.png"


def test_epoch_lines_reach_a_pipe_and_quiet_silences_them(tmp_path):
    args = ["train", "ae", "--epochs", "3", "--hidden", "16", "--latent-dim", "2"]
    run = [sys.executable, "-m", "aekit", *args]
    loud = subprocess.run([*run, "--out", str(tmp_path / "a")], capture_output=True, text=True)
    assert loud.returncode == 0, loud.stderr
    lines = [line for line in loud.stderr.splitlines() if line.startswith("epoch ")]
    assert [line.split()[1] for line in lines] == ["1/3", "2/3", "3/3"]
    assert all("val: mse " in line and line.endswith(" s") for line in lines)
    quiet = subprocess.run(
        [*run, "--out", str(tmp_path / "b"), "--quiet"], capture_output=True, text=True
    )
    assert quiet.returncode == 0 and "epoch " not in quiet.stderr
