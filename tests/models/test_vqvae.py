"""The VQ-VAE estimator: discrete codes through the shared module and training loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import aekit
from aekit.cli.main import main
from aekit.errors import DataError


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    return (load_digits().data / 16).astype(np.float32)


@pytest.fixture(scope="module")
def fitted(digits):
    model = aekit.VQVAE(
        codebook_size=32,
        latent_dim=8,
        code_dim=8,
        hidden=(128,),
        epochs=40,
        device="cpu",
        random_state=0,
    )
    return model.fit(digits)


def test_a_short_fit_on_digits_uses_most_codes_and_beats_a_random_codebook(fitted, digits):
    metrics = fitted.evaluation_metrics(digits)
    assert metrics["codebook_usage"] >= 0.8
    assert metrics["perplexity"] > 0.5 * 32
    assert metrics["bits_per_example"] == 8 * 5
    history = fitted.history_[-1]
    for name in ("train_perplexity", "train_codebook_usage", "val_perplexity", "train_commitment"):
        assert np.isfinite(history[name])
    trained = fitted.reconstruction_error(digits)
    assert trained < 0.5 * digits.var(axis=0).mean()  # half the mean's error
    book = fitted.module_.head.quantiser.books[0].vectors
    saved = book.clone()
    random_codes = []
    try:  # the same networks with random codebooks of the learned one's scale
        for seed in range(3):
            generator = torch.Generator().manual_seed(seed)
            noise = torch.randn(book.shape, generator=generator)
            book.copy_(noise * saved.std(0) + saved.mean(0))
            random_codes.append(fitted.reconstruction_error(digits))
    finally:
        book.copy_(saved)
    assert trained < 0.85 * min(random_codes), (trained, random_codes)


def test_indices_decode_to_the_reconstruction_and_continuous_codes_too(fitted, digits):
    X = digits[:50]
    indices = fitted.transform(X)
    assert indices.shape == (50, 8) and indices.dtype == np.int64
    assert indices.min() >= 0 and indices.max() < 32
    reconstruction = fitted.reconstruct(X)
    np.testing.assert_allclose(fitted.inverse_transform(indices), reconstruction, atol=1e-6)
    vectors = fitted.transform(X, continuous=True)
    assert vectors.shape == (50, 8 * 8) and vectors.dtype == np.float32
    np.testing.assert_allclose(fitted.inverse_transform(vectors), reconstruction, atol=1e-6)


def test_save_and_load_give_the_same_codes_and_decodings(fitted, digits, tmp_path):
    fitted.save(tmp_path / "vq")
    loaded = aekit.load(tmp_path / "vq")
    assert type(loaded) is aekit.VQVAE and loaded.codebook_size == 32
    indices = fitted.transform(digits)
    np.testing.assert_array_equal(loaded.transform(digits), indices)
    np.testing.assert_array_equal(
        loaded.inverse_transform(indices), fitted.inverse_transform(indices)
    )
    assert loaded.history_ == fitted.history_


def test_conv_codes_are_grids_and_residual_levels_add_an_axis(digits):
    images = digits[:400].reshape(-1, 8, 8)
    model = aekit.VQVAE(
        codebook_size=16,
        code_dim=4,
        levels=2,
        architecture="conv",
        hidden=(8, 16),
        epochs=2,
        device="cpu",
        random_state=0,
    ).fit(images)
    indices = model.transform(images)
    assert indices.shape == (400, 2, 2, 2)  # a 2x2 grid of 2 levels on 8x8 digits
    np.testing.assert_allclose(
        model.inverse_transform(indices), model.reconstruct(images), atol=1e-6
    )
    assert model.transform(images, continuous=True).shape == (400, 4 * 2 * 2)
    assert model.evaluation_metrics(images)["bits_per_example"] == 2 * 2 * 2 * 4


def test_the_same_seed_gives_the_same_fit(digits):
    fits = [
        aekit.VQVAE(
            codebook_size=8, latent_dim=2, hidden=(16,), epochs=2, device="cpu", random_state=3
        ).fit(digits[:300])
        for _ in range(2)
    ]
    np.testing.assert_array_equal(fits[0].transform(digits), fits[1].transform(digits))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"codebook_size": 1}, "codebook_size must be at least 2, since one code carries"),
        ({"decay": 1.0}, "decay must be below 1"),
        ({"architecture": "linear"}, "architecture"),
        ({"levels": 0}, "levels"),
    ],
)
def test_bad_parameters_are_refused_in_one_sentence(digits, params, message):
    with pytest.raises(ValueError, match=message) as caught:
        aekit.VQVAE(**params).fit(digits[:50])
    assert str(caught.value).count(". ") == 0


def test_indices_outside_the_codebook_or_of_the_wrong_shape_are_refused(fitted):
    with pytest.raises(DataError, match=r"indices must be in 0\.\.31"):
        fitted.inverse_transform(np.full((2, 8), 32))
    with pytest.raises(DataError, match=r"indices must have shape \(n, 8\)"):
        fitted.inverse_transform(np.zeros((2, 7), dtype=int))
    with pytest.raises(DataError, match="Z must be indices"):
        fitted.inverse_transform(np.zeros((2, 7), dtype=np.float32))


def test_aekit_train_vqvae_makes_a_run_that_evaluates_its_codebook(tmp_path, capsys):
    run = tmp_path / "vq"
    args = [
        "train",
        "vqvae",
        "--epochs",
        "2",
        "--hidden",
        "32",
        "-d",
        "4",
        "--codebook-size",
        "16",
        "--code-dim",
        "4",
        "-q",
        "--out",
        str(run),
    ]
    assert main(args) == 0, capsys.readouterr().err
    capsys.readouterr()
    assert main(["evaluate", str(run)]) == 0
    out = capsys.readouterr().out
    assert '"codebook_usage"' in out and '"perplexity"' in out
    assert aekit.load(run).transform(np.zeros((1, 8, 8), np.float32)).shape == (1, 4)
    assert main(["train", "ae", "--codebook-size", "8", "--out", str(tmp_path / "ae")]) == 2


def test_the_reconstruction_gradient_reaches_the_encoder_through_the_quantiser():
    torch.manual_seed(0)
    model = aekit.VQVAE(codebook_size=4, latent_dim=2, code_dim=2, hidden=(8,), commitment=0.0)
    module = model.build_module((6,))
    module.head.quantiser.books[0].started.fill_(True)  # a fixed codebook: no EMA start
    module.head.quantiser.eval()
    x = torch.rand(16, 6)
    module(x)["loss"].backward()  # the likelihood's term alone: β = 0
    first = module.encoder.body[0].weight
    assert first.grad is not None and first.grad.abs().sum() > 0


def test_paths_between_examples_run_through_the_quantised_codes(fitted, digits):
    X = digits[:4]
    path = fitted.interpolate(X[:2], X[2:], 5)
    assert path.shape == (2, 5, 64)
    ends = fitted.inverse_transform(fitted.transform(X, continuous=True))
    np.testing.assert_allclose(path[:, 0], ends[:2], atol=1e-6)
    with pytest.raises(ValueError, match="fitted without classes"):
        fitted.interpolate(X[:2], X[2:], 5, y=1)
