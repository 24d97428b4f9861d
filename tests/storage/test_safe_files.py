"""Saved files are verified and never executed (SPEC §3)."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aekit
from aekit.errors import RunFileError
from aekit.runs.api import run_callbacks
from aekit.storage.safe_files import load_tensors, read_json, save_tensors, write_json

SMALL = dict(latent_dim=2, hidden=(8,), epochs=1, random_state=0, device="cpu")


class Payload:
    """Unpickling this writes a marker file: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "executed"))


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("saved") / "model"
    aekit.Autoencoder(**SMALL).fit(np.random.default_rng(0).random((30, 5))).save(folder)
    return folder


@pytest.mark.parametrize("how", ["pickle", "torch.save"])
@pytest.mark.parametrize("target", ["model.safetensors", "config.json"])
def test_a_pickle_where_a_saved_file_belongs_is_refused_unexecuted(saved, tmp_path, how, target):
    folder = tmp_path / "model"
    shutil.copytree(saved, folder)
    marker = tmp_path / "marker"
    if how == "pickle":
        (folder / target).write_bytes(pickle.dumps(Payload(marker)))
    else:
        torch.save({"weights": Payload(marker)}, folder / target)  # a zip of pickles
    with pytest.raises(RunFileError, match=target.replace(".", r"\.")):
        aekit.load(folder)
    assert not marker.exists()


def test_checkpoint_with_a_pickle_is_refused_on_resume(tmp_path):
    X = np.random.default_rng(0).random((30, 5))
    run = tmp_path / "run"
    aekit.Autoencoder(**SMALL).fit(X, callbacks=run_callbacks(run))
    marker = tmp_path / "marker"
    (run / "checkpoint.safetensors").write_bytes(pickle.dumps(Payload(marker)))
    with pytest.raises(RunFileError, match="checkpoint.safetensors"):
        resumed = aekit.Autoencoder(**{**SMALL, "epochs": 2})
        resumed.fit(X, callbacks=run_callbacks(run, resume=True))
    assert not marker.exists()


def test_config_round_trip_and_any_edit_is_detected(tmp_path):
    path = tmp_path / "config.json"
    write_json(path, {"a": 1, "b": [1.5, "x"]})
    assert read_json(path) == {"a": 1, "b": [1.5, "x"]}
    path.write_text(path.read_text().replace("1.5", "2.5"))
    with pytest.raises(RunFileError, match="config.json"):
        read_json(path)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=400))
def test_config_loader_on_arbitrary_bytes_only_raises_its_own_error(tmp_path, data):
    path = tmp_path / "config.json"
    path.write_bytes(data)
    try:
        read_json(path)
    except RunFileError as exc:
        assert "config.json" in str(exc)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cut=st.integers(min_value=0, max_value=10**6), flip=st.integers(0, 255))
def test_damaged_weights_never_load_silently(saved, tmp_path, cut, flip):
    folder = tmp_path / "model"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(saved, folder)
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    position = cut % len(data)
    if flip:
        data[position] ^= flip  # one damaged byte
    else:
        del data[position:]  # truncated
    weights.write_bytes(bytes(data))
    with pytest.raises(RunFileError, match="model.safetensors"):
        aekit.load(folder)


def test_every_single_byte_damage_to_a_tensor_file_is_refused(tmp_path):
    # Exhaustive, where the property test above samples: each byte flipped three ways,
    # including a space of the header's padding turned into a tab (still valid JSON)
    # and a letter of a metadata key changed (a key safetensors may write first).
    path = tmp_path / "t.safetensors"
    save_tensors(path, {"w": torch.arange(6.0).reshape(2, 3)}, {"epoch": 3})
    assert load_tensors(path)[1] == {"epoch": 3}
    good = path.read_bytes()
    for position in range(len(good)):
        for flip in (0x01, 0x29, 0x80):
            data = bytearray(good)
            data[position] ^= flip
            path.write_bytes(bytes(data))
            with pytest.raises(RunFileError, match="t.safetensors"):
                load_tensors(path)
