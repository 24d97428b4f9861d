"""Fixtures shared by the run tests."""

from __future__ import annotations

import json

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
