"""Fixtures shared by the run tests."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from aekit.cli.main import cli

FAST = ["--epochs", "2", "--hidden", "32", "--latent-dim", "4", "--quiet"]


@pytest.fixture(scope="module")
def ae_run(tmp_path_factory):
    """One small ae run made by the command line, and the metrics it printed."""
    folder = tmp_path_factory.mktemp("runs") / "ae"
    result = CliRunner().invoke(
        cli, ["train", "ae", "--out", str(folder), *FAST], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return folder, json.loads(result.stdout)


@pytest.fixture
def people_csv(tmp_path):
    """Writes a small mixed table of ``n`` rows (a number, a city, whether one smokes:
    "yes" for Rome) to ``tmp_path/people.csv`` and gives its path as a string."""
    pd = pytest.importorskip("pandas")

    def write(n: int) -> str:
        rng = np.random.default_rng(0)
        city = rng.choice(["Oslo", "Rome", "Lima"], n)
        frame = pd.DataFrame({"x": rng.normal(size=n).round(3), "city": city,
                              "smoker": np.where(city == "Rome", "yes", "no")})  # fmt: skip
        frame.to_csv(tmp_path / "people.csv", index=False)
        return str(tmp_path / "people.csv")

    return write
