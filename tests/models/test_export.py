"""Exported encoders and decoders compute what transform and inverse_transform do."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

import aekit
from aekit.cli.main import main
from aekit.export import autoencoder_module, decoder_module, encoder_module, export_model

ort = pytest.importorskip("onnxruntime")

MODELS = {
    "pca": lambda: aekit.PCA(5, whiten=True),
    "ae": lambda: aekit.Autoencoder(5, hidden=(32,), epochs=3, random_state=0),
    "ae-conv": lambda: aekit.Autoencoder(
        5, architecture="conv", hidden=(4, 8), epochs=2, random_state=0
    ),
    "vae": lambda: aekit.VAE(5, hidden=(32,), epochs=3, random_state=0),
    "ae-scaled": lambda: aekit.Autoencoder(
        5, hidden=(32,), epochs=3, scale="standard", random_state=0
    ),
}


@pytest.fixture(scope="module")
def images():
    return (load_digits().images[:200, None] / 16.0).astype(np.float32)


def fitted(name: str, images: np.ndarray):
    X = images * 40.0 + 3.0 if name == "ae-scaled" else images  # data outside [0, 1]
    return MODELS[name]().fit(X), X


@pytest.mark.parametrize("name", list(MODELS))
def test_plain_modules_equal_the_estimator(name, images):
    model, X = fitted(name, images)
    x = torch.from_numpy(X)
    with torch.no_grad():
        codes = encoder_module(model)(x).numpy()
        Z = model.transform(X)
        np.testing.assert_allclose(codes, Z, atol=1e-5)
        decoded = decoder_module(model)(torch.from_numpy(Z.astype(np.float32))).numpy()
        np.testing.assert_allclose(decoded, model.inverse_transform(Z), atol=1e-4 * X.max())
        both = autoencoder_module(model)(x).numpy()
        np.testing.assert_allclose(both, model.reconstruct(X), atol=1e-4 * X.max())


@pytest.mark.parametrize("name", ["pca", "ae", "ae-conv", "vae"])
@pytest.mark.parametrize("part", ["encoder", "decoder"])
def test_onnx_and_torchscript_files_equal_the_estimator(name, part, images, tmp_path):
    model, X = fitted(name, images)
    Z = model.transform(X).astype(np.float32)
    given, expected = (X, Z) if part == "encoder" else (Z, model.inverse_transform(Z))
    onnx_file = export_model(model, tmp_path / "m.onnx", format="onnx", part=part)
    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    for rows in (slice(None), slice(0, 1)):  # the batch size is dynamic
        (out,) = session.run(None, {session.get_inputs()[0].name: given[rows]})
        np.testing.assert_allclose(out, expected[rows], atol=1e-5)
    script = torch.jit.load(
        str(export_model(model, tmp_path / "m.pt", format="torchscript", part=part))
    )
    with torch.no_grad():
        np.testing.assert_allclose(script(torch.from_numpy(given)).numpy(), expected, atol=1e-5)


def test_cli_export(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "ae", "--epochs", "2", "--hidden", "16", "--out", str(run), "-q"]) == 0
    assert main(["export", str(run), "--format", "onnx", "--part", "both"]) == 0
    assert "wrote the whole autoencoder (encoder and decoder) as onnx" in capsys.readouterr().err
    session = ort.InferenceSession(str(run / "both.onnx"), providers=["CPUExecutionProvider"])
    X = (load_digits().images[:10, None] / 16.0).astype(np.float32)
    (out,) = session.run(None, {"input": X})
    np.testing.assert_allclose(out, aekit.load(run).reconstruct(X), atol=1e-5)
    assert (
        main(["export", str(run), "--format", "torchscript", "--out", str(tmp_path / "e.pt")]) == 0
    )
    assert main(["export", str(run), "--format", "tflite"]) == 2


@pytest.fixture(scope="module")
def conditional(images):
    """A conditional VAE of digits with its labels, and each example's class index."""
    y = load_digits().target[: len(images)]
    model = aekit.VAE(3, hidden=(16,), epochs=2, conditional=True, random_state=0)
    model.fit(images, y)
    return model, y, np.searchsorted(model.classes_, y).astype(np.int64)


@pytest.mark.parametrize("part", ["encoder", "decoder", "both"])
def test_a_conditional_models_files_take_the_class_index_as_a_second_input(
    part, conditional, images, tmp_path
):
    model, y, c = conditional
    Z = model.transform(images, y)
    decoded = model.inverse_transform(Z, y)
    given, expected = {"encoder": (images, Z), "decoder": (Z, decoded), "both": (images, decoded)}[
        part
    ]
    with torch.no_grad():
        plain = {"encoder": encoder_module, "decoder": decoder_module, "both": autoencoder_module}
        out = plain[part](model)(torch.from_numpy(given), torch.from_numpy(c)).numpy()
        np.testing.assert_allclose(out, expected, atol=1e-5)
    session = ort.InferenceSession(
        str(export_model(model, tmp_path / "m.onnx", part=part)), providers=["CPUExecutionProvider"]
    )
    assert [i.name for i in session.get_inputs()] == ["input", "class"]
    for rows in (slice(None), slice(0, 1)):
        (out,) = session.run(None, {"input": given[rows], "class": c[rows]})
        np.testing.assert_allclose(out, expected[rows], atol=1e-5)
    script = torch.jit.load(str(export_model(model, tmp_path / "m.pt", format="torchscript",
                                             part=part)))  # fmt: skip
    with torch.no_grad():
        out = script(torch.from_numpy(given), torch.from_numpy(c)).numpy()
    np.testing.assert_allclose(out, expected, atol=1e-5)
