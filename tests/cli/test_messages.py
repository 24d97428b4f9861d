"""Messages of the command line name the command line's options, not the Python API's
parameters, and read as English."""

from __future__ import annotations

import pytest

from aekit.cli.main import main


@pytest.fixture
def ae_run(tmp_path, capsys):
    run = tmp_path / "ae"
    args = ["train", "ae", "--epochs", "1", "--hidden", "16", "-d", "2", "-q", "--out", run]
    assert main([str(a) for a in args]) == 0
    capsys.readouterr()
    return run


def test_the_chain_sampler_asks_for_the_cli_option(ae_run, tmp_path, capsys):
    code = main(["sample", str(ae_run), "--method", "chain", "--out", str(tmp_path / "s.png")])
    err = capsys.readouterr().err
    assert code == 2 and "--noise" in err and "noise_std" not in err


def test_exporting_both_parts_says_what_was_written(ae_run, tmp_path, capsys):
    out = tmp_path / "both.pt"
    code = main(["export", str(ae_run), "--part", "both", "--format", "torchscript",
                 "--out", str(out)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0 and out.is_file(), err
    assert "the both" not in err and "encoder and decoder" in err
