"""An image folder of grey pictures saved as RGB can be read as greyscale
(``--channels 1``), and files that are not images are mentioned, not skipped silently."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from PIL import Image

from aekit.cli.main import main
from aekit.data import load_data
from aekit.errors import DataNote


@pytest.fixture
def grey_as_rgb(tmp_path):
    folder = tmp_path / "digits"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(40):
        grey = rng.integers(0, 256, (8, 8), dtype=np.uint8)
        Image.fromarray(np.stack([grey] * 3, -1), "RGB").save(folder / f"{i:02d}.png")
    (folder / "README.txt").write_text("where these came from")
    return folder


def test_channels_1_reads_rgb_images_as_greyscale(grey_as_rgb):
    with pytest.warns(DataNote, match="converted to greyscale"):
        bundle = load_data(str(grey_as_rgb), channels=1)
    assert bundle.sample_shape == (1, 8, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataNote)
        assert load_data(str(grey_as_rgb)).sample_shape == (3, 8, 8)


def test_files_that_are_not_images_are_mentioned(grey_as_rgb):
    with pytest.warns(DataNote, match=r"skipped 1 file that.*README\.txt"):
        load_data(str(grey_as_rgb))


def test_the_command_line_takes_channels_and_the_run_keeps_it(grey_as_rgb, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "pca", "--data", grey_as_rgb, "--channels", "1", "-d", "2", "--out", run]
    assert main([str(a) for a in args]) == 0, capsys.readouterr().err
    assert "skipped 1 file" in capsys.readouterr().err
    assert json.loads((run / "run.json").read_text())["data"]["channels"] == 1
    assert main(["evaluate", str(run)]) == 0, capsys.readouterr().err
