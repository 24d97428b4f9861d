"""A mixed table through the command line (issue 28): ``aekit train`` on a CSV with
text, missing cells and a label column, ``aekit evaluate`` per column, ``aekit score
--explain`` by the CSV's column names."""

from __future__ import annotations

import csv
import html
import io
import json
import re

import numpy as np
import pytest

import aekit
from aekit.cli.main import main
from aekit.runs.folder import open_run

pd = pytest.importorskip("pandas")

TINY = ["--latent-dim", "2", "--hidden", "16", "--epochs", "30", "--batch-size", "32",
        "--lr", "0.01", "--quiet"]  # fmt: skip


def write_table(path, n=300, seed=0):
    """A city sets x and the smoker flag; ``?`` and empty cells missing; a text label."""
    rng = np.random.default_rng(seed)
    city = rng.choice(["Oslo", "Rome", "Lima"], n)
    x = pd.Series(city).map({"Oslo": -2.0, "Rome": 0.0, "Lima": 2.0}) + 0.3 * rng.normal(size=n)
    df = pd.DataFrame(
        {
            "x": x.round(3),
            "city": city,
            "smoker": np.where(city == "Rome", "yes", "no"),
            "visits": rng.poisson(2.0, n),
            "class": np.where(x > 0, ">50K", "<=50K"),
        }
    )
    df.loc[rng.random(n) < 0.05, "city"] = "?"
    df.loc[3, "x"] = np.nan  # written as an empty cell
    df.to_csv(path, index=False)
    return df


@pytest.fixture(scope="module")
def table_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mixed")
    write_table(folder / "people.csv")
    out = folder / "run"
    code = main(["train", "ae", "--data", str(folder / "people.csv"), "--label-column", "class",
                 "--column-type", "visits=categorical", "--out", str(out), *TINY])  # fmt: skip
    assert code == 0
    return out


def test_train_keeps_the_label_out_and_saves_the_column_kinds(table_run):
    model = aekit.load(table_run)
    kinds = {c.name: c.kind for c in model.table_.columns}
    assert kinds == {"x": "numeric", "city": "categorical", "smoker": "binary",
                     "visits": "categorical"}  # fmt: skip
    data = json.loads((table_run / "run.json").read_text())
    assert data["data"]["label_column"] == "class" and data["data"]["as_table"] is True
    assert data["options"]["column_types"] == {"visits": "categorical"}


def test_train_vae_takes_the_csv_as_it_is(tmp_path, capsys):
    write_table(tmp_path / "people.csv", n=120)
    out = tmp_path / "vae"
    args = ["train", "vae", "--data", str(tmp_path / "people.csv"), "--label-column", "class"]
    short = ["--latent-dim", "2", "--hidden", "16", "--epochs", "3", "--quiet"]
    assert main([*args, "--out", str(out), *short]) == 0
    model = aekit.load(out)
    assert type(model) is aekit.VAE and model.table_.names == ["x", "city", "smoker", "visits"]
    assert [c.kind for c in model.table_.columns] == ["numeric", "categorical", "binary", "count"]
    assert np.isfinite(model.score_samples(pd.read_csv(tmp_path / "people.csv"))).all()


def test_evaluate_reports_each_column_beside_its_baseline(table_run, capsys):
    assert main(["evaluate", str(table_run)]) == 0
    metrics = json.loads(capsys.readouterr().out)
    columns = metrics["columns"]
    assert set(columns) == {"x", "city", "smoker", "visits"}
    for name in ("city", "smoker"):
        assert columns[name]["accuracy"] > columns[name]["majority_accuracy"], columns[name]
    assert columns["x"]["mse"] < columns["x"]["mean_mse"]
    assert 0 < columns["x"]["pca_mse"] < columns["x"]["mean_mse"]  # PCA on the one-hot table
    assert columns["city"]["pca_accuracy"] > columns["city"]["majority_accuracy"]
    assert columns["city"]["n_observed"] < metrics["n"]  # its missing cells are not counted
    nll = sum(c["nll_nats"] * c["n_observed"] for c in columns.values()) / metrics["n"]
    assert metrics["nll_nats"] == pytest.approx(nll) and metrics["score"] == -metrics["nll_nats"]


def test_score_explains_rows_by_the_csv_columns(table_run, tmp_path, capsys):
    out = tmp_path / "scores.csv"
    assert main(["score", str(table_run), "--explain", "2", "--out", str(out)]) == 0
    assert "log-likelihood" in capsys.readouterr().err
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == 300
    assert {r["column1"] for r in rows} <= {"x", "city", "smoker", "visits"}
    assert all(0 <= float(r["share1"]) <= 1 for r in rows)


def test_a_numeric_csv_becomes_a_table_only_when_asked(tmp_path, capsys):
    rng = np.random.default_rng(0)
    pd.DataFrame({"a": rng.normal(size=60), "b": rng.integers(0, 3, 60)}).to_csv(
        tmp_path / "n.csv", index=False
    )
    args = ["train", "ae", "--data", str(tmp_path / "n.csv"), *TINY]
    assert main([*args, "--out", str(tmp_path / "plain")]) == 0
    assert aekit.load(tmp_path / "plain").table_ is None  # numbers, as before
    assert main([*args, "--out", str(tmp_path / "t"), "--column-type", "b=categorical"]) == 0
    assert [c.kind for c in aekit.load(tmp_path / "t").table_.columns] == ["numeric", "categorical"]
    capsys.readouterr()
    assert main([*args, "--out", str(tmp_path / "x"), "--column-type", "b"]) == 2
    assert "COL=KIND" in capsys.readouterr().err


def test_a_mixed_table_is_refused_by_models_of_numbers_and_a_missing_label(tmp_path, capsys):
    write_table(tmp_path / "people.csv", n=60)
    data = ["--data", str(tmp_path / "people.csv")]
    assert main(["train", "pca", *data, "--out", str(tmp_path / "p")]) == 2
    err = capsys.readouterr().err
    assert "mixed table" in err and "ae, dae, vae" in err and err.count("\n") == 1
    assert main(["train", "ae", *data, "--label-column", "income", "--out", str(tmp_path / "q"),
                 *TINY]) == 2  # fmt: skip
    assert "no column 'income'" in capsys.readouterr().err


def test_report_of_a_table_run_shows_columns_evaluation_explanations_and_rows(table_run):
    assert main(["report", str(table_run)]) == 0
    page = (table_run / "report.html").read_text()
    _, spec, model = open_run(table_run)
    assert "http://" not in page and "https://" not in page  # self-contained
    for line in model.table_.summary():  # the column kinds, one line each as fit shows them
        assert html.escape(line) in page
    evaluation = re.search(r'<table class="aekit-columns-eval">(.*?)</table>', page).group(1)
    for name in ("x", "city", "smoker", "visits"):
        assert f"<td>{name}</td>" in evaluation
    assert evaluation.count("<td>accuracy</td>") == 3  # city, smoker, visits (categorical)
    assert evaluation.count("MSE (column&#x27;s units)") == 1  # x
    for title in ("Which columns drive the outlier score", "Outlier scores", "Least normal rows",
                  "Code map"):  # fmt: skip
        assert f"<h2>{title}</h2>" in page
    assert (table_run / "figures" / "feature_shares.png").exists()
    data = json.loads(re.search(r'id="aekit-map-data">(.*?)</script>', page).group(1))
    ex = data["examples"]  # the code map's rows in the user's terms: level strings
    assert ex["kind"] == "table" and ex["names"] == ["x", "city", "smoker", "visits"]
    assert ex["levelled"] == [False, True, True, True]
    rows = spec.load().test.X.iloc[data["index"]]
    assert [r[1] for r in ex["values"]] == [None if pd.isna(v) else v for v in rows["city"]]
    assert [r[2] for r in ex["recon"]] == model.reconstruct(rows)["smoker"].tolist()
    assert {r[2] for r in ex["recon"]} <= {"yes", "no"}
