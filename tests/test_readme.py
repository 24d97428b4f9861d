"""Every Python block of the README runs as written, in order, in a fresh folder."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_the_readme_has_python_blocks():
    assert len(BLOCKS) >= 3


def test_every_python_block_of_the_readme_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the blocks write runs/ and enc.onnx where they stand
    namespace: dict = {}
    for number, block in enumerate(BLOCKS, 1):
        exec(compile(block, f"README.md python block {number}", "exec"), namespace)
    assert (tmp_path / "runs" / "my-ae" / "config.json").is_file()
    assert (tmp_path / "enc.onnx").stat().st_size > 0
    assert (tmp_path / "runs" / "vae-digits" / "run.json").is_file()
    assert "vae" in capsys.readouterr().out
