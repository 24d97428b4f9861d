"""Conditional runs on the command line (issue 30): aekit train --conditional on the
labels of digits or a CSV, aekit sample --class, the report's class grid, resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml

import aekit
from aekit.cli.main import main
from aekit.runs.folder import read_run

FAST = ["--latent-dim", "3", "--hidden", "16", "--epochs", "2", "--seed", "0", "-q"]


def run_cli(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def cond_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "cae"
    assert main(["train", "ae", "--conditional", "--out", str(run), *FAST]) == 0
    return run


def test_a_conditional_run_trains_on_the_labels_and_says_so_in_its_config(cond_run, capsys):
    model = aekit.load(cond_run)
    assert model.classes_.tolist() == list(range(10))
    assert yaml.safe_load((cond_run / "train.yaml").read_text())["conditional"] is True
    code, out, err = run_cli(["train", "ae", "--config", cond_run / "train.yaml",
                              "--print-config"], capsys)  # fmt: skip
    assert code == 0, err
    assert yaml.safe_load(out)["conditional"] is True
    code, out, err = run_cli(["evaluate", cond_run], capsys)
    assert code == 0, err
    assert '"n_classes": 10' in out


def test_sample_class_draws_that_class(cond_run, tmp_path, capsys):
    npy = tmp_path / "threes.npy"
    code, _, err = run_cli(["sample", cond_run, "--class", "3", "-n", "6", "--npy", npy,
                            "--out", tmp_path / "threes.png"], capsys)  # fmt: skip
    assert code == 0, err
    expected = aekit.load(cond_run).sample(6, y=3, random_state=0)
    np.testing.assert_array_equal(np.load(npy), expected)
    # without --class: the classes in turn
    code, _, err = run_cli(["sample", cond_run, "-n", "12", "--npy", npy,
                            "--out", tmp_path / "all.png"], capsys)  # fmt: skip
    assert code == 0, err
    y = np.resize(np.arange(10), 12)
    np.testing.assert_array_equal(
        np.load(npy), aekit.load(cond_run).sample(12, y=y, random_state=0)
    )


def test_sample_class_refusals_are_one_sentence(cond_run, tmp_path, capsys):
    code, _, err = run_cli(["sample", cond_run, "--class", "12", "--out", tmp_path / "a.png"],
                           capsys)  # fmt: skip
    assert code == 2
    assert err.strip() == (
        f"aekit: error: --class 12 is not one of the classes of {cond_run}: "
        "0, 1, 2, 3, 4, 5, 6, 7, 8, 9."
    )
    plain = tmp_path / "plain"
    assert run_cli(["train", "ae", "--out", plain, *FAST], capsys)[0] == 0
    code, _, err = run_cli(["sample", plain, "--class", "3"], capsys)
    assert code == 2
    assert "is not a conditional run: --class applies to runs trained with --conditional" in err
    assert err.count("\n") == 1


def test_the_report_draws_one_row_of_samples_per_class(cond_run, tmp_path, capsys):
    code, _, err = run_cli(["report", cond_run, "--out", tmp_path / "r.html"], capsys)
    assert code == 0, err
    assert (tmp_path / "r-figures" / "class_grid.png").is_file()
    assert "Samples per class" in (tmp_path / "r.html").read_text()


def test_a_csv_trains_conditionally_on_its_label_column_and_without_one_is_refused(
    tmp_path, capsys
):
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 40)
    X = rng.random((120, 5)) + y[:, None]
    header = "a,b,c,d,e,kind"
    csv = tmp_path / "t.csv"
    np.savetxt(csv, np.column_stack([X, y]), delimiter=",", header=header, comments="")
    code, _, err = run_cli(["train", "vae", "--data", csv, "--label-column", "kind",
                            "--conditional", "--out", tmp_path / "v", *FAST], capsys)  # fmt: skip
    assert code == 0, err
    assert aekit.load(tmp_path / "v").classes_.tolist() == [0, 1, 2]
    bare = tmp_path / "bare.csv"
    np.savetxt(bare, X, delimiter=",", header="a,b,c,d,e", comments="")
    code, _, err = run_cli(["train", "ae", "--data", bare, "--conditional",
                            "--out", tmp_path / "b", *FAST], capsys)  # fmt: skip
    assert code == 2
    assert "holds no labels for a conditional model" in err
    assert not (tmp_path / "b").exists()


def test_a_resumed_conditional_run_continues_with_its_labels(tmp_path, capsys):
    """Two epochs, then resumed to four: the first two epochs are the checkpointed
    run's own, and the model keeps its classes."""
    args = ["train", "ae", "--conditional", *FAST[:4], "--seed", "0", "-q", "--out", tmp_path]
    assert run_cli([*args, "--epochs", "2"], capsys)[0] == 0
    first = aekit.load(tmp_path).history_
    resume = ["train", "ae", "--out", tmp_path, "--resume", "--epochs", "4", "-q"]
    code, _, err = run_cli(resume, capsys)
    assert code == 0, err
    resumed = aekit.load(tmp_path)
    assert resumed.classes_.tolist() == list(range(10))
    assert [h["epoch"] for h in resumed.history_] == [1, 2, 3, 4]
    drop = lambda h: {k: v for k, v in h.items() if k != "seconds"}  # noqa: E731
    assert [drop(h) for h in resumed.history_[:2]] == [drop(h) for h in first]


def test_a_conditional_run_cut_short_and_resumed_ends_with_the_weights_of_a_straight_one(
    cut_and_resumed,
):
    """A conditional VAE (its labels, its validation share held out of the training
    split, its sampling noise) stopped after 2 of 4 epochs, or crashed in its third,
    and resumed, ends bitwise where a straight 4-epoch run does. Extending a finished
    run needs a schedule that does not span the epochs: cosine (the default) decays
    over the epochs given at each start, for any run."""
    train = ["train", "vae", "--conditional", *FAST[:4], "--seed", "0", "-q",
             "--lr-schedule", "none"]  # fmt: skip
    runs = cut_and_resumed(train)
    full = aekit.load(runs["full"]).module_.state_dict()
    for name in ("extended", "crashed"):
        resumed = aekit.load(runs[name]).module_.state_dict()
        assert resumed.keys() == full.keys()
        assert all(torch.equal(resumed[k], full[k]) for k in full), name


def test_evaluate_reports_a_conditional_vaes_elbo_and_log_p_x_given_y(tmp_path, capsys):
    run = tmp_path / "cvae"
    assert run_cli(["train", "vae", "--conditional", "--out", run, *FAST], capsys)[0] == 0
    code, out, err = run_cli(["evaluate", run, "--nll-samples", "20"], capsys)
    assert code == 0, err
    metrics = json.loads(out)
    model, test = aekit.load(run), read_run(run)[1].load().test
    assert metrics["score"] == metrics["elbo_nats"] == pytest.approx(model.score(test.X, test.y))
    assert "at each example's label" in metrics["score_measures"]
    log_p = model.log_likelihood(test.X, n_samples=20, y=test.y)
    assert metrics["log_likelihood_nats"] == pytest.approx(log_p.mean())
    assert metrics["log_likelihood_nats"] > metrics["elbo_nats"] - 1  # the bound tightens


def test_interpolate_draws_a_conditional_runs_paths_at_a_class(cond_run, tmp_path, capsys):
    """--class 3: every path at class 3, between examples labelled 3; without it the
    classes in turn, each path between two examples of its own class; refusals as
    sample --class's."""
    model, test = aekit.load(cond_run), read_run(cond_run)[1].load().test
    calls = []
    interpolate = type(model).interpolate

    def spy(self, X_a, X_b, n_steps=10, **kw):
        calls.append((X_a, X_b, kw["y"]))
        return interpolate(self, X_a, X_b, n_steps, **kw)

    png = tmp_path / "paths.png"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(type(model), "interpolate", spy)
        for extra in (["--class", "3"], []):
            code, out, err = run_cli(["interpolate", cond_run, "--pairs", "3", "--steps", "4",
                                      "--out", png, *extra], capsys)  # fmt: skip
            assert code == 0, err
            assert out.strip() == str(png) and png.stat().st_size > 0
    threes = test.X[test.y == 3]
    (a3, b3, y3), (a, b, y) = calls
    np.testing.assert_array_equal(y3, [3, 3, 3])
    np.testing.assert_array_equal(a3, threes[[0, 2, 4]])
    np.testing.assert_array_equal(b3, threes[[1, 3, 5]])
    np.testing.assert_array_equal(y, [0, 1, 2])
    for k in range(3):
        own = test.X[test.y == k]
        np.testing.assert_array_equal([a[k], b[k]], own[:2])
    code, _, err = run_cli(["interpolate", cond_run, "--prior", "--class", "3", "--out", png],
                           capsys)  # fmt: skip
    assert code == 0, err
    code, _, err = run_cli(["interpolate", cond_run, "--class", "12", "--out", png], capsys)
    assert code == 2
    assert err.strip() == (
        f"aekit: error: --class 12 is not one of the classes of {cond_run}: "
        "0, 1, 2, 3, 4, 5, 6, 7, 8, 9."
    )
    code, _, err = run_cli(["interpolate", cond_run, "--class", "3", "--pairs", "32",
                            "--out", png], capsys)  # fmt: skip
    assert code == 2
    assert err.strip().endswith("the test split has fewer than 38 examples of class 3.")


def test_interpolate_class_is_refused_on_a_run_without_classes(tmp_path, capsys):
    plain = tmp_path / "plain"
    assert run_cli(["train", "ae", "--out", plain, *FAST], capsys)[0] == 0
    code, _, err = run_cli(["interpolate", plain, "--class", "3"], capsys)
    assert code == 2
    assert err.strip() == (
        f"aekit: error: {plain} is not a conditional run: --class applies to runs trained "
        "with --conditional."
    )


def test_sample_method_chain_runs_a_conditional_runs_chains_at_their_classes(
    cond_run, tmp_path, capsys
):
    model, npy = aekit.load(cond_run), tmp_path / "chain.npy"
    chain = ["sample", cond_run, "--method", "chain", "--noise", "0.3", "--burn-in", "2",
             "-n", "12", "--npy", npy, "--out", tmp_path / "c.png"]  # fmt: skip
    options = dict(noise_std=0.3, burn_in=2, random_state=0)
    for extra, y in ((["--class", "3"], 3), ([], np.arange(12) % 10)):
        code, _, err = run_cli([*chain, *extra], capsys)
        assert code == 0, err
        np.testing.assert_array_equal(np.load(npy), model.sample_chain(12, y=y, **options))


@pytest.mark.parametrize("format_", ["onnx", "torchscript"])
def test_export_writes_a_conditional_runs_networks_with_the_class_as_input(
    cond_run, format_, tmp_path, capsys
):
    """The encoder and the whole autoencoder of a --conditional run, as files that
    take the class index beside the examples and give transform / inverse_transform
    at those classes."""
    ort = pytest.importorskip("onnxruntime")
    model, test = aekit.load(cond_run), read_run(cond_run)[1].load().test
    X, y = test.X[:20], test.y[:20]
    c = np.searchsorted(model.classes_, y).astype(np.int64)
    Z = model.transform(X, y)
    expected = {"encoder": Z, "both": model.inverse_transform(Z, y)}
    for part, wanted in expected.items():
        out = tmp_path / f"{part}.{format_}"
        code, _, err = run_cli(["export", cond_run, "--format", format_, "--part", part,
                                "--out", out], capsys)  # fmt: skip
        assert code == 0, err
        if format_ == "onnx":
            session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
            (got,) = session.run(None, {"input": X, "class": c})
        else:
            with torch.no_grad():
                got = torch.jit.load(str(out))(torch.from_numpy(X), torch.from_numpy(c)).numpy()
        np.testing.assert_allclose(got, wanted, atol=1e-5)
