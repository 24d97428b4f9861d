"""Runs tracked in MLflow (``aekit train --mlflow``, ``train_run(tracking="mlflow")``),
against the real thing: an SQLite-backed tracking store in a temporary folder, once a
local ``mlflow server`` over HTTP, and once ``mlflow models serve``; every run is read
back through ``MlflowClient`` and its pyfunc model compared with the estimator."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import aekit
from aekit.cli.main import cli, main
from aekit.data import load_data
from aekit.errors import AekitError
from aekit.runs.config import read_config
from aekit.runs.layout import CARD, REPORT_FILE, TRAIN_CONFIG
from aekit.training.epoch_log import METRICS

FAST = ["--epochs", "3", "--hidden", "32", "--latent-dim", "4", "--quiet"]
EXPERIMENT = "aekit-tests"
NEEDS_MLFLOW = "the MLflow tests need the mlflow extra: pip install 'aekit[mlflow]'"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """An SQLite-backed MLflow tracking store in a temporary folder (as
    ``MLFLOW_TRACKING_URI``), with the experiment :data:`EXPERIMENT` whose artifacts
    go to the same folder; its client."""
    mlflow = pytest.importorskip("mlflow", reason=NEEDS_MLFLOW)
    folder = tmp_path_factory.mktemp("mlflow")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{folder / 'mlflow.db'}")
        client = mlflow.MlflowClient()
        client.create_experiment(EXPERIMENT, artifact_location=(folder / "artifacts").as_uri())
        yield client


@pytest.fixture(scope="module")
def cli_run(store, tmp_path_factory):
    """An ae run trained by ``aekit train --mlflow``: its folder, printed metrics and
    MLflow run id."""
    folder = tmp_path_factory.mktemp("runs") / "ae"
    args = ["train", "ae", "--out", str(folder), *FAST, "--mlflow"]
    result = CliRunner().invoke(
        cli, [*args, "--mlflow-experiment", EXPERIMENT], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("logged to MLflow: run "), result.stderr
    return folder, json.loads(result.stdout), line.split()[4]


def digits_test() -> tuple[np.ndarray, pd.DataFrame]:
    """The test split of digits, as arrays and as the DataFrame a pyfunc model takes."""
    X = load_data("digits").test.X
    return X, pd.DataFrame(X.reshape(len(X), -1))


def assert_pyfunc_matches(uri: str, folder: Path) -> None:
    """The pyfunc model at ``uri`` gives the saved model's codes, reconstructions and
    scores to 1e-5."""
    import mlflow

    pyfunc = mlflow.pyfunc.load_model(uri)
    model = aekit.load(folder)
    X, frame = digits_test()
    np.testing.assert_allclose(pyfunc.predict(frame), model.transform(X), atol=1e-5)
    reconstruction = pyfunc.predict(frame, params={"output": "reconstruction"})
    np.testing.assert_allclose(reconstruction, model.reconstruct(X).reshape(len(X), -1), atol=1e-5)
    scores = pyfunc.predict(frame, params={"output": "score"})
    np.testing.assert_allclose(scores, model.score_samples(X), rtol=1e-5, atol=1e-5)


def assert_history_logged(client, run_id: str, history: list[dict]) -> None:
    """Every value of every epoch of ``history`` is a metric of the run, one point per
    epoch, the epoch its step."""
    for key in history[0]:
        if key == "epoch":
            continue
        points = sorted(client.get_metric_history(run_id, key), key=lambda m: m.step)
        assert [m.step for m in points] == [h["epoch"] for h in history], key
        np.testing.assert_allclose([m.value for m in points], [h[key] for h in history])


def test_a_cli_run_logs_its_options_epochs_metrics_and_files(store, cli_run):
    folder, metrics, run_id = cli_run
    run = store.get_run(run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "ae"
    assert store.get_experiment(run.info.experiment_id).name == EXPERIMENT
    assert run.data.tags["aekit.run_folder"] == str(folder)
    # parameters: the resolved configuration, as train.yaml holds it
    config = read_config(folder / TRAIN_CONFIG)
    assert run.data.params == {key: str(value) for key, value in config.items()}
    # every epoch's metrics, with their steps, as metrics.json holds them
    history = json.loads((folder / METRICS).read_text())["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert_history_logged(store, run_id, history)
    # the test metrics, as the command printed them
    for name in ("mse", "psnr_db", "pca_mse", "eckart_young_bound_mse"):
        assert run.data.metrics[f"test_{name}"] == pytest.approx(metrics[name], rel=1e-12)
    # the run folder's files, the report's figures and the model
    logged = {a.path for a in store.list_artifacts(run_id)}
    assert {CARD, TRAIN_CONFIG, METRICS, REPORT_FILE, "run.json", "figures"} <= logged
    figures = {Path(a.path).name for a in store.list_artifacts(run_id, "figures")}
    assert figures == {p.name for p in (folder / "figures").iterdir()} and figures
    card = Path(store.download_artifacts(run_id, CARD, str(folder.parent)))
    assert card.read_text() == (folder / CARD).read_text()


def test_the_logged_model_predicts_codes_reconstructions_and_scores(cli_run):
    import mlflow

    folder, _, run_id = cli_run
    assert_pyfunc_matches(f"runs:/{run_id}/model", folder)
    pyfunc = mlflow.pyfunc.load_model(f"runs:/{run_id}/model")
    assert [p.name for p in pyfunc.metadata.get_params_schema().params] == ["output"]
    _, frame = digits_test()
    with pytest.raises(mlflow.exceptions.MlflowException, match="output must be one of"):
        pyfunc.predict(frame, params={"output": "samples"})


def test_a_resumed_python_run_logs_every_epoch_as_a_child_run(store, tmp_path):
    import mlflow

    options = dict(hidden=(16,), latent_dim=2, random_state=0, verbose=False)
    folder = tmp_path / "vae"
    aekit.train_run("vae", "digits", folder, epochs=2, **options)  # not tracked
    options.update(tracking="mlflow", mlflow_experiment=EXPERIMENT)
    experiment = store.get_experiment_by_name(EXPERIMENT).experiment_id
    with mlflow.start_run(experiment_id=experiment) as parent:  # the user's own run
        run = aekit.train_run("vae", "digits", folder, resume=True, epochs=3, **options)
        assert mlflow.active_run().info.run_id == parent.info.run_id  # left as it was
    (child,) = store.search_runs([experiment], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert child.info.status == "FINISHED"
    assert_history_logged(store, child.info.run_id, run.model.history_)  # 1, 2 and 3
    assert store.get_run(child.info.run_id).data.metrics["test_elbo_nats"] == pytest.approx(
        run.metrics["elbo_nats"]
    )
    assert_pyfunc_matches(f"runs:/{child.info.run_id}/model", folder)
    logged = {a.path for a in store.list_artifacts(child.info.run_id)}
    assert {CARD, REPORT_FILE, "figures"} <= logged  # a Python run logs its report too
    assert (folder / REPORT_FILE).is_file()


def test_a_mixed_table_run_logs_its_report_and_its_model_takes_the_table(
    store, tmp_path, people_csv
):
    import mlflow

    data = people_csv(120)
    folder = tmp_path / "people"
    options = dict(hidden=(8,), latent_dim=2, epochs=2, random_state=0, verbose=False)
    run = aekit.train_run("ae", data, folder, tracking="mlflow", mlflow_experiment=EXPERIMENT,
                          **options)  # fmt: skip
    run_id = mlflow.last_active_run().info.run_id
    assert store.get_run(run_id).data.metrics["test_nll_nats"] == pytest.approx(
        run.metrics["nll_nats"]
    )
    logged = {a.path for a in store.list_artifacts(run_id)}
    assert {CARD, REPORT_FILE, "figures"} <= logged
    figures = {Path(a.path).name for a in store.list_artifacts(run_id, "figures")}
    assert {"feature_shares.png", "scores.png"} <= figures
    assert figures == {p.name for p in (folder / "figures").iterdir()}
    page = Path(store.download_artifacts(run_id, REPORT_FILE, str(tmp_path)))
    assert "Evaluation per column" in page.read_text()

    pyfunc = mlflow.pyfunc.load_model(f"runs:/{run_id}/model")
    X = load_data(data).test.X
    rows = X.reset_index(drop=True)  # as a client sends them
    np.testing.assert_allclose(pyfunc.predict(rows), run.model.transform(X), atol=1e-5)
    reconstruction = pyfunc.predict(rows, params={"output": "reconstruction"})
    expected = run.model.reconstruct(X)
    assert isinstance(reconstruction, pd.DataFrame)
    assert list(reconstruction.columns) == ["x", "city", "smoker"]
    assert reconstruction["city"].tolist() == expected["city"].tolist()
    assert reconstruction["smoker"].tolist() == expected["smoker"].tolist()
    np.testing.assert_allclose(reconstruction["x"], expected["x"], atol=1e-5)
    scores = pyfunc.predict(rows, params={"output": "score"})
    np.testing.assert_allclose(scores, run.model.score_samples(X), rtol=1e-5, atol=1e-5)


def test_without_mlflow_tracking_is_refused_in_one_sentence(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # its import fails
    out = tmp_path / "run"
    code = main(["train", "ae", "--out", str(out), *FAST, "--mlflow"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert "MLflow tracking needs the optional mlflow package: pip install 'aekit[mlflow]'" in err
    assert not out.exists()  # refused before writing anything
    with pytest.raises(AekitError, match="optional mlflow package"):
        aekit.train_run("pca", "digits", out, tracking="mlflow", n_components=2)


def test_tracking_options_are_checked(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "ae", "--out", str(out), *FAST, "--mlflow-experiment", "x"])
    assert code == 2 and "add --mlflow" in capsys.readouterr().err
    given = tmp_path / "run.yaml"  # the options are keys of a config file too
    given.write_text("kind: ae\nmlflow: false\nmlflow_experiment: x\n")
    code = main(["train", "--config", str(given), "--out", str(out)])
    assert code == 2 and "add --mlflow" in capsys.readouterr().err
    with pytest.raises(AekitError, match="tracking must be None or 'mlflow'; got 'wandb'"):
        aekit.train_run("pca", "digits", out, tracking="wandb", n_components=2)
    with pytest.raises(AekitError, match="applies only with tracking='mlflow'"):
        aekit.train_run("pca", "digits", out, mlflow_experiment="x", n_components=2)
    assert not out.exists()


# -- real servers --------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serving(argv: list[str], url: str, log: Path, timeout: float = 120):
    """Run the server ``argv`` until ``url`` answers; stop it (and its workers) on leaving."""
    # MLflow starts uvicorn by name: this Python's scripts first (a venv need not be active)
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    with open(log, "wb") as out:
        server = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "PATH": path},
        )
    try:
        deadline = time.monotonic() + timeout
        while True:
            assert server.poll() is None, f"the server stopped:\n{log.read_text()[-3000:]}"
            try:
                with urllib.request.urlopen(url, timeout=2):
                    break
            except OSError:
                assert time.monotonic() < deadline, f"no answer in {timeout} s:\n{log.read_text()}"
                time.sleep(0.25)
        yield
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the server's own process group
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def mlflow_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "mlflow", *args]


@pytest.mark.slow
def test_a_run_logged_to_a_local_mlflow_server_over_http(tmp_path, monkeypatch):
    pytest.importorskip("mlflow", reason=NEEDS_MLFLOW)
    from mlflow import MlflowClient

    port = free_port()
    argv = mlflow_command(
        "server",
        "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
        "--artifacts-destination", str(tmp_path / "server-artifacts"),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    )  # fmt: skip
    uri = f"http://127.0.0.1:{port}"
    with serving(argv, f"{uri}/health", tmp_path / "server.log"):
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        folder = tmp_path / "pca"
        run = aekit.train_run("pca", "digits", folder, n_components=4, tracking="mlflow")
        client = MlflowClient(uri)
        logged = client.search_runs([e.experiment_id for e in client.search_experiments()])
        assert len(logged) == 1 and logged[0].info.status == "FINISHED"
        run_id = logged[0].info.run_id
        assert logged[0].data.params["latent_dim"] == "4"
        assert logged[0].data.metrics["test_mse"] == pytest.approx(run.metrics["mse"])
        assert {CARD, TRAIN_CONFIG} <= {a.path for a in client.list_artifacts(run_id)}
        assert_pyfunc_matches(f"runs:/{run_id}/model", folder)
    assert (tmp_path / "server-artifacts").is_dir()  # the server kept the files


@pytest.mark.slow
def test_the_logged_model_served_by_mlflow_answers_a_request(store, cli_run, tmp_path):
    folder, _, run_id = cli_run
    port = free_port()
    argv = mlflow_command(
        "models", "serve", "-m", f"runs:/{run_id}/model", "--env-manager", "local",
        "-h", "127.0.0.1", "-p", str(port),
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    X, frame = digits_test()
    model = aekit.load(folder)
    with serving(argv, f"{url}/ping", tmp_path / "serve.log"):
        for output, expected in [("codes", model.transform(X)), ("score", model.score_samples(X))]:
            body = {"dataframe_split": frame.to_dict(orient="split"), "params": {"output": output}}
            request = urllib.request.Request(
                f"{url}/invocations",
                data=json.dumps(body).encode(),
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=60) as answer:
                predictions = json.loads(answer.read())["predictions"]
            np.testing.assert_allclose(np.array(predictions), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_under_torchrun_rank_0_alone_logs(store, tmp_path):
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_gloo_available()):
        pytest.skip("no gloo backend for two CPU processes")
    out = tmp_path / "two"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
               f"--master_port={free_port()}", "-m", "aekit", "train", "ae", "--out", str(out),
               *FAST, "--mlflow", "--mlflow-experiment", EXPERIMENT]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr.count("logged to MLflow: run ") == 1
    experiment = store.get_experiment_by_name(EXPERIMENT).experiment_id
    (run,) = store.search_runs([experiment], f"tags.`aekit.run_folder` = '{out}'")
    history = json.loads((out / METRICS).read_text())["history"]
    assert_history_logged(store, run.info.run_id, history)  # once each: rank 0's


def test_a_conditional_runs_model_takes_each_rows_class_as_the_column_class(store, tmp_path):
    """Codes and reconstructions at the class of each row (the column ``class``);
    without that column, or asked for a score, the model refuses in one sentence."""
    import mlflow

    folder = tmp_path / "cae"
    args = ["train", "ae", "--conditional", "--out", str(folder), *FAST, "--mlflow",
            "--mlflow-experiment", EXPERIMENT]  # fmt: skip
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    run_id = result.stderr.strip().splitlines()[-1].split()[4]
    pyfunc = mlflow.pyfunc.load_model(f"runs:/{run_id}/model")
    model, test = aekit.load(folder), load_data("digits").test
    X, y = test.X, test.y
    frame = pd.DataFrame(X.reshape(len(X), -1)).assign(**{"class": y})
    np.testing.assert_allclose(pyfunc.predict(frame), model.transform(X, y), atol=1e-5)
    reconstruction = pyfunc.predict(frame, params={"output": "reconstruction"})
    expected = model.inverse_transform(model.transform(X, y), y).reshape(len(X), -1)
    np.testing.assert_allclose(reconstruction, expected, atol=1e-5)
    with pytest.raises(mlflow.exceptions.MlflowException, match="gives no outlier score"):
        pyfunc.predict(frame, params={"output": "score"})
    bare = pyfunc.unwrap_python_model()  # MLflow's own schema check would refuse first
    with pytest.raises(mlflow.exceptions.MlflowException, match="needs a column 'class'"):
        bare.predict(None, frame.drop(columns="class"))
    # logging such a model without the example rows' classes is refused in one sentence
    from aekit.runs.tracking import log_pyfunc_model

    with pytest.raises(ValueError, match="needs the classes of its example rows: pass y"):
        log_pyfunc_model(folder, model, X)
