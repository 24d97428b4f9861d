"""The scripts in examples/ run as written and say what they claim."""

from __future__ import annotations

import runpy
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_tabular_example_end_to_end(capsys):
    example = runpy.run_path(str(EXAMPLES / "tabular.py"))  # defines, does not run, main
    accuracy = example["main"](epochs=30)
    out = capsys.readouterr().out
    names = ", ".join(f"'autoencoder{j}'" for j in range(4))
    assert f"autoencoder codes: [{names}]" in out
    assert "rows reconstructed worst" in out and out.count("  row ") == 5
    # codes of 4 numbers keep most of what tells the tumours apart
    assert accuracy["raw features"] > 0.93
    assert accuracy["4 PCA codes"] > 0.9 and accuracy["4 autoencoder codes"] > 0.85
