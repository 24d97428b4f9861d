"""A progress bar within each epoch where stderr can redraw one (a terminal or a
notebook), and none in a log or a pipe, where only the epoch lines go."""

from __future__ import annotations

import numpy as np
import pytest

import aekit
from aekit.training import loop

X = np.random.default_rng(0).random((512, 6), dtype=np.float32)


@pytest.mark.parametrize("terminal", [True, False])
def test_the_bar_is_drawn_only_where_it_can_be_redrawn(terminal, monkeypatch, capsys):
    monkeypatch.setattr(loop, "live_progress", lambda: terminal)
    aekit.Autoencoder(2, hidden=(8,), epochs=1, batch_size=32, verbose=True).fit(X)
    err = capsys.readouterr().err
    assert ("16/16" in err) == terminal  # the bar counts the epoch's 16 batches
    assert "epoch 1/1" in err
