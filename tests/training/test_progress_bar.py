"""A progress bar within each epoch where stderr can redraw one (a terminal or a
notebook), and none in a log or a pipe, where only the epoch lines go."""

from __future__ import annotations

import re

import numpy as np
import pytest

import aekit
from aekit.training import loop

X = np.random.default_rng(0).random((512, 6), dtype=np.float32)


@pytest.mark.parametrize("terminal", [True, False])
def test_the_bar_is_drawn_only_where_it_can_be_redrawn(terminal, monkeypatch, capsys):
    monkeypatch.setattr(loop, "live_progress", lambda: terminal)
    model = aekit.Autoencoder(2, hidden=(8,), epochs=1, batch_size=32, verbose=True)
    model.set_params(validation_fraction=0.0).fit(X)  # all of X: 16 batches
    err = capsys.readouterr().err
    # the bar counts the epoch's 16 batches (how far it is drawn depends on timing:
    # tqdm redraws at most every 0.1 s, and a fast epoch ends before a redraw)
    assert (re.search(r"\d+/16 ", err) is not None) == terminal
    assert "epoch 1/1" in err
