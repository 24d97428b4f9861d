"""The VQ-VAE's code prior: a normalised, causal autoregressive model over its codes,
its samples, the bound on log p(x), export to and from indices, and the report."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

import aekit
from aekit.cli.main import main
from aekit.core.code_prior import CodePrior
from aekit.export import decoder_module, encoder_module, export_model


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    return (load_digits().data / 16).astype(np.float32)


@pytest.fixture(scope="module")
def grid_model(digits):
    """A conv VQ-VAE whose codes are 2×2 grids of K = 3 codes (81 possible codes)."""
    return aekit.VQVAE(
        codebook_size=3,
        code_dim=4,
        architecture="conv",
        hidden=(8, 16),
        epochs=2,
        prior_epochs=3,
        prior_width=16,
        prior_heads=2,
        device="cpu",
        random_state=0,
    ).fit(digits[:600].reshape(-1, 8, 8))


def test_the_prior_is_a_normalised_distribution_over_every_code_grid(grid_model):
    assert grid_model.code_shape_ == (2, 2)
    every = torch.tensor(list(itertools.product(range(3), repeat=4)))  # all 3^4 grids
    total = torch.exp(grid_model.prior_.log_prob(every).double()).sum()
    assert abs(float(total) - 1.0) < 1e-5
    torch.manual_seed(0)  # and with two residual levels: positions × levels indices
    levelled = CodePrior(4, 3, levels=2, width=8, layers=1, heads=2)
    assert abs(float(torch.exp(levelled.log_prob(every).double()).sum()) - 1.0) < 1e-5


def test_a_later_code_does_not_change_the_conditional_of_an_earlier_one():
    torch.manual_seed(0)
    prior = CodePrior(6, 5, width=16, layers=2, heads=2).eval()
    codes = torch.randint(0, 5, (4, 6))
    for t in range(6):
        changed = codes.clone()
        changed[:, t] = (changed[:, t] + 1) % 5
        before, after = prior.logits(codes), prior.logits(changed)
        torch.testing.assert_close(before[:, : t + 1], after[:, : t + 1], rtol=0, atol=1e-6)
        if t < 5:  # and it does reach the later ones
            assert not torch.allclose(before[:, t + 1 :], after[:, t + 1 :])


def test_sampling_near_temperature_zero_follows_the_most_likely_path(grid_model):
    prior = grid_model.prior_
    codes = torch.zeros((1, 4), dtype=torch.long)
    for t in range(4):  # the greedy path, index by index
        codes[0, t] = prior.logits(codes)[0, t].argmax()
    drawn = prior.sample(20, torch.Generator().manual_seed(1), temperature=1e-6)
    assert (drawn == codes).all()
    samples = grid_model.sample(3, random_state=5, temperature=1e-6)
    np.testing.assert_array_equal(samples, grid_model.inverse_transform(np.tile(
        codes.numpy().reshape(1, 2, 2), (3, 1, 1))))  # fmt: skip
    varied = prior.sample(50, torch.Generator().manual_seed(1), temperature=1.0)
    assert len(torch.unique(varied, dim=0)) > 1


def test_temperature_must_be_positive(grid_model):
    for bad in (0.0, -1.0):
        with pytest.raises(ValueError, match="temperature must be > 0") as caught:
            grid_model.sample(2, temperature=bad)
        assert str(caught.value).count(". ") == 0


def test_save_and_load_keep_the_prior_its_samples_and_bound(grid_model, digits, tmp_path):
    images = digits[600:700].reshape(-1, 8, 8)
    grid_model.save(tmp_path / "vq")
    loaded = aekit.load(tmp_path / "vq")
    np.testing.assert_array_equal(
        loaded.sample(16, random_state=3), grid_model.sample(16, random_state=3)
    )
    assert not np.array_equal(
        grid_model.sample(16, random_state=3), grid_model.sample(16, random_state=4)
    )
    np.testing.assert_array_equal(loaded.score_samples(images), grid_model.score_samples(images))
    assert loaded.prior_history_ == grid_model.prior_history_
    assert loaded.offset_ == grid_model.offset_


def test_the_bound_is_the_decoder_likelihood_plus_the_prior_log_probability(grid_model, digits):
    images = digits[:20].reshape(-1, 8, 8)
    log_px, log_pz = grid_model.bound_terms(images)
    codes = torch.from_numpy(grid_model.transform(images).reshape(20, -1))
    np.testing.assert_allclose(
        log_pz, grid_model.prior_.log_prob(codes).detach().numpy(), rtol=1e-6
    )
    x_hat = grid_model.reconstruct(images).reshape(20, -1)  # Gaussian σ = 1, unscaled data
    gauss = -0.5 * ((images.reshape(20, -1) - x_hat) ** 2).sum(1) - 32 * np.log(2 * np.pi)
    np.testing.assert_allclose(log_px, gauss, rtol=1e-5)
    np.testing.assert_allclose(grid_model.score_samples(images), log_px + log_pz)
    assert (log_pz < 0).all()
    metrics = grid_model.evaluation_metrics(images)
    assert metrics["bound_nats"] == pytest.approx(np.mean(log_px + log_pz))
    assert metrics["code_prior_bits"] == pytest.approx(-np.mean(log_pz) / np.log(2))


def test_on_digits_the_prior_beats_the_uniform_prior_on_held_out_codes(digits):
    train, test = digits[:1500], digits[1500:]
    model = aekit.VQVAE(
        codebook_size=32,
        latent_dim=8,
        code_dim=8,
        hidden=(64,),
        epochs=20,
        prior_epochs=15,
        prior_width=32,
        device="cpu",
        random_state=0,
    ).fit(train)
    metrics = model.evaluation_metrics(test)
    uniform = 8 * np.log(32)
    assert metrics["uniform_code_nll_nats"] == pytest.approx(uniform)
    assert metrics["code_prior_nll_nats"] < 0.8 * uniform, metrics


def test_exported_modules_map_examples_to_indices_and_indices_back(grid_model, digits, tmp_path):
    images = digits[:30].reshape(-1, 8, 8)
    indices = grid_model.transform(images)
    with torch.no_grad():
        exported = encoder_module(grid_model)(torch.from_numpy(images))
        assert exported.dtype == torch.int64
        np.testing.assert_array_equal(exported.numpy(), indices)
        decoded = decoder_module(grid_model)(exported).numpy()
    np.testing.assert_allclose(decoded, grid_model.inverse_transform(indices), atol=1e-6)
    for part in ("encoder", "decoder"):
        export_model(grid_model, tmp_path / f"{part}.pt", format="torchscript", part=part)
    encoder = torch.jit.load(tmp_path / "encoder.pt")
    decoder = torch.jit.load(tmp_path / "decoder.pt")
    with torch.no_grad():
        np.testing.assert_array_equal(encoder(torch.from_numpy(images)).numpy(), indices)
        np.testing.assert_allclose(
            decoder(torch.from_numpy(indices)).numpy(),
            grid_model.inverse_transform(indices),
            atol=1e-6,
        )


def test_the_command_line_samples_a_vqvae_run_and_reports_its_codebook(tmp_path, capsys):
    run = tmp_path / "vq"
    args = ["train", "vqvae", "--epochs", "2", "--hidden", "32", "-d", "4", "--codebook-size",
            "8", "--code-dim", "4", "--prior-epochs", "2", "-q", "--out", str(run)]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    assert aekit.load(run).prior_epochs == 2
    out = tmp_path / "s.png"
    assert main(["sample", str(run), "--temperature", "0.5", "--out", str(out)]) == 0
    assert out.stat().st_size > 0
    capsys.readouterr()
    assert main(["sample", str(run), "--temperature", "0", "--out", str(out)]) == 2
    assert "temperature must be > 0" in capsys.readouterr().err
    assert main(["evaluate", str(run)]) == 0
    assert '"bound_nats"' in capsys.readouterr().out
    assert main(["report", str(run)]) == 0
    figures = {p.name for p in (run / "figures").iterdir()}
    assert {"codebook_usage.png", "samples_prior.png"} <= figures


def test_onnx_files_map_examples_to_indices_and_indices_back(grid_model, digits, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    images = digits[:7].reshape(-1, 8, 8)  # a batch size other than the traced one
    indices = grid_model.transform(images)
    outputs = {}
    for part, given in (("encoder", images), ("decoder", indices)):
        path = export_model(grid_model, tmp_path / f"{part}.onnx", format="onnx", part=part)
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        outputs[part] = session.run(None, {"input": given})[0]
    np.testing.assert_array_equal(outputs["encoder"], indices)
    np.testing.assert_allclose(outputs["decoder"], grid_model.inverse_transform(indices), atol=1e-5)


def test_a_vqvae_run_cut_short_and_resumed_ends_where_a_straight_one_does(cut_and_resumed):
    """Stopped after 2 of 4 epochs, or crashed in its third, and resumed: the weights,
    the codebooks (EMA buffers too), the code prior fitted after the last epoch, the
    kept codes and every epoch's metrics are those of a straight 4-epoch run."""
    from safetensors.numpy import load_file

    train = ["train", "vqvae", "--architecture", "conv", "--hidden", "8,16",
             "--codebook-size", "8", "--code-dim", "4", "--prior-epochs", "2",
             "--prior-width", "16", "--prior-heads", "2", "--lr-schedule", "none",
             "--seed", "0", "-q"]  # fmt: skip
    runs = cut_and_resumed(train)
    full = load_file(runs["full"] / "model.safetensors")
    assert any(k.startswith("code_prior.") for k in full)
    assert any(k.startswith("head.quantiser.books.") for k in full)
    straight = aekit.load(runs["full"])
    drop = lambda h: {k: v for k, v in h.items() if k != "seconds"}  # noqa: E731
    for name in ("extended", "crashed"):
        resumed = load_file(runs[name] / "model.safetensors")
        assert resumed.keys() == full.keys(), name
        for key in full:
            np.testing.assert_array_equal(resumed[key], full[key], err_msg=f"{name}: {key}")
        model = aekit.load(runs[name])
        assert [drop(h) for h in model.history_] == [drop(h) for h in straight.history_]
        assert [drop(h) for h in model.prior_history_] == [drop(h) for h in straight.prior_history_]
