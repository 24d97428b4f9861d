"""``aekit detect`` and ``aekit score --explain``: a table in, scores, p-values, flags
and the columns to blame out, end to end in a temporary folder."""

from __future__ import annotations

import csv
import io

import numpy as np

import aekit
from aekit.cli.main import main

CORRUPTED_ROWS = 6
COLUMN = 2  # named "c"


def run_cli(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def write_table(path, seed=0):
    """Six columns driven by three factors; the first rows' column c shifted by 8."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(500, 3)) @ np.random.default_rng(7).normal(size=(3, 6))
    X += 0.2 * rng.normal(size=X.shape)
    X[:CORRUPTED_ROWS, COLUMN] += 8.0
    np.savetxt(path, X, delimiter=",", header="a,b,c,d,e,f", comments="")
    return X


def rows_of(text):
    return list(csv.DictReader(io.StringIO(text)))


def test_detect_flags_and_explains_the_corrupted_rows(tmp_path, capsys):
    X = write_table(tmp_path / "t.csv")
    code, out, err = run_cli(["detect", tmp_path / "t.csv", "--explain", "2"], capsys)
    assert code == 0, err
    rows = rows_of(out)
    assert len(rows) == len(X)
    # every row fitted by default, so no p-values (they need rows held out)
    assert list(rows[0]) == ["index", "score", "flag", "column1", "share1", "column2", "share2"]
    for row in rows[:CORRUPTED_ROWS]:
        assert row["flag"] == "-1" and row["column1"] == "c" and float(row["share1"]) > 0.5
    assert sum(row["flag"] == "-1" for row in rows[CORRUPTED_ROWS:]) < 0.1 * len(X)
    assert f"{len(X)} rows scored" in err


def test_a_saved_detector_scores_new_data_like_python(tmp_path, capsys):
    X = write_table(tmp_path / "t.csv")
    write_table(tmp_path / "new.csv", seed=1)
    code, _, err = run_cli(
        [
            "detect",
            tmp_path / "t.csv",
            "--save",
            tmp_path / "det",
            "--out",
            tmp_path / "s.csv",
            "--calibration",
            "0.2",
        ],
        capsys,
    )
    assert code == 0, err
    code, _, err = run_cli(
        ["score", tmp_path / "det", "--data", tmp_path / "new.csv", "--explain", "1",
         "--out", tmp_path / "new_scores.csv"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    rows = rows_of((tmp_path / "new_scores.csv").read_text())
    detector = aekit.load(tmp_path / "det")
    new = np.loadtxt(tmp_path / "new.csv", delimiter=",", skiprows=1)
    # the command line reads the CSV in float32, as it reads all data
    np.testing.assert_allclose([float(r["score"]) for r in rows], detector.score_samples(new),
                               rtol=1e-5, atol=1e-5)  # fmt: skip
    p_values = np.array([float(r["p_value"]) for r in rows])
    assert np.mean(np.isclose(p_values, detector.p_values(new), rtol=1e-5)) > 0.99
    assert [r["column1"] for r in rows[:CORRUPTED_ROWS]] == ["c"] * CORRUPTED_ROWS
    assert X.shape[1] == detector.n_features_in_


def test_alpha_flags_by_p_value(tmp_path, capsys):
    write_table(tmp_path / "t.csv")
    code, out, err = run_cli(
        ["detect", tmp_path / "t.csv", "--alpha", "0.05", "--calibration", "0.3"], capsys
    )
    assert code == 0, err
    rows = rows_of(out)
    assert all((r["flag"] == "-1") == (float(r["p_value"]) <= 0.05) for r in rows)
    assert "p-value at most 0.05" in err


def test_score_explains_a_run_of_any_kind(tmp_path, capsys):
    write_table(tmp_path / "t.csv")
    run = tmp_path / "pca"
    code, _, err = run_cli(
        ["train", "pca", "--data", tmp_path / "t.csv", "--latent-dim", "3", "--out", run,
         "--quiet"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    code, _, err = run_cli(["score", run, "--explain", "1", "--out", tmp_path / "s.csv"], capsys)
    assert code == 0, err
    rows = rows_of((tmp_path / "s.csv").read_text())
    assert [r["column1"] for r in rows[:CORRUPTED_ROWS]] == ["c"] * CORRUPTED_ROWS


def test_bad_options_get_one_sentence(tmp_path, capsys):
    write_table(tmp_path / "t.csv")
    code, _, err = run_cli(["detect", tmp_path / "t.csv", "--contamination", "lots"], capsys)
    assert code == 2 and "auto" in err and "Traceback" not in err
    code, _, err = run_cli(
        ["detect", tmp_path / "t.csv", "--alpha", "0.05", "--contamination", "0.1"], capsys
    )
    assert code == 2 and "one rule" in err
    code, _, err = run_cli(["detect", tmp_path / "t.csv", "--calibration", "half"], capsys)
    assert code == 2 and "a share in [0, 0.5]" in err
    code, _, err = run_cli(["detect", tmp_path / "missing.csv"], capsys)
    assert code == 2 and "unknown data source" in err


def test_a_column_of_few_values_is_read_as_levels_and_blamed_for_a_rare_one(tmp_path, capsys):
    """Column ``grade`` holds 1 or 3, and 2 (between them) in six rows: as numbers 2 is
    the column's mean, as levels it is rare. The summary line says which columns were
    read as levels; --max-levels 0 reads them as numbers and misses the rows."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3)) @ np.random.default_rng(7).normal(size=(3, 3))
    grade = rng.choice([1.0, 3.0], size=400)
    grade[:CORRUPTED_ROWS] = 2.0
    np.savetxt(tmp_path / "t.csv", np.column_stack([X, grade]), delimiter=",",
               header="a,b,c,grade", comments="")  # fmt: skip
    code, out, err = run_cli(["detect", tmp_path / "t.csv", "--explain", "1"], capsys)
    assert code == 0, err
    assert "1 column read as levels (grade)" in err
    rows = rows_of(out)
    for row in rows[:CORRUPTED_ROWS]:
        assert row["flag"] == "-1" and row["column1"] == "grade"
    code, out, err = run_cli(["detect", tmp_path / "t.csv", "--max-levels", "0"], capsys)
    assert code == 0, err
    assert "read as levels" not in err and len(rows_of(out)) == 400
