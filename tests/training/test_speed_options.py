"""Speed options of the training loop: torch.compile, bf16 autocast, batches moved
to the device one at a time."""

from __future__ import annotations

import copy
import shutil
from typing import ClassVar

import numpy as np
import pytest
import torch
from torch import nn

from aekit import VAE, Autoencoder
from aekit.storage.safe_files import load_tensors
from aekit.training.checkpoint import CHECKPOINT, Checkpointing
from aekit.training.device import to_device
from aekit.training.loop import TrainConfig, Trainer


@pytest.fixture(scope="module")
def X():
    rng = np.random.default_rng(1)
    basis = rng.normal(size=(4, 20))
    return (np.tanh(rng.normal(size=(400, 4)) @ basis) * 0.5 + 0.5).astype(np.float32)


def _ae() -> Autoencoder:
    return Autoencoder(latent_dim=4, hidden=(32,), epochs=4, batch_size=50, random_state=0)


def test_bfloat16_autocast_runs_the_networks_in_bf16_and_keeps_losses_float32(X):
    seen: list[torch.dtype] = []
    model = _ae()
    original_build = model.build_module

    def build_and_watch(shape, start=None):
        module = original_build(shape, start)
        first = next(m for m in module.encoder.modules() if isinstance(m, nn.Linear))
        first.register_forward_hook(lambda mod, inp, out: seen.append(out.dtype))
        return module

    model.build_module = build_and_watch
    model.fit(X, precision="bfloat16")
    plain = _ae().fit(X)
    assert torch.bfloat16 in seen  # the feature is on: matrix products ran in bf16
    assert model.module_.head.linear.weight.dtype == torch.float32  # master weights
    assert model.transform(X).dtype == np.float32
    bf16_mse = [h["train_mse"] for h in model.history_]
    fp32_mse = [h["train_mse"] for h in plain.history_]
    assert bf16_mse != fp32_mse
    # bf16 keeps 8 bits of mantissa: the trajectory follows float32's to a few percent
    np.testing.assert_allclose(bf16_mse, fp32_mse, rtol=0.05)
    assert bf16_mse[-1] < bf16_mse[0]


def test_bfloat16_vae_elbo_stays_float32(X):
    vae = VAE(latent_dim=3, hidden=(32,), likelihood="bernoulli", epochs=2, random_state=0)
    vae.fit(X, precision="bfloat16")
    assert all(np.isfinite(h["train_elbo"]) for h in vae.history_)
    assert vae.log_likelihood(X[:20], n_samples=10).dtype == np.float64


def test_precision_must_be_known(X):
    with pytest.raises(ValueError, match="precision"):
        _ae().fit(X, precision="float8")


@pytest.mark.skipif(shutil.which("cc") is None, reason="TorchInductor needs a C compiler")
def test_compiled_training_matches_eager_and_saves_plain_weights(X, tmp_path):
    def run(compile: bool, run_dir):
        torch.manual_seed(0)
        module = _ae().set_params(epochs=1)
        module.seed_, module.input_shape_ = 0, (20,)
        net = module.build_module((20,))
        cfg = TrainConfig(epochs=2, batch_size=50, random_state=0, compile=compile)
        trainer = Trainer(net, cfg, torch.device("cpu"), [Checkpointing(run_dir)])
        history = trainer.fit(torch.from_numpy(X))
        return trainer, net, history

    eager_trainer, eager_net, eager = run(False, tmp_path / "eager")
    compiled_trainer, compiled_net, compiled = run(True, tmp_path / "compiled")
    assert isinstance(compiled_trainer.train_module, torch._dynamo.eval_frame.OptimizedModule)
    assert not isinstance(eager_trainer.train_module, torch._dynamo.eval_frame.OptimizedModule)
    for key in ("train_loss", "train_mse"):
        np.testing.assert_allclose([h[key] for h in compiled], [h[key] for h in eager], rtol=1e-4)
    tensors, _ = load_tensors(tmp_path / "compiled" / CHECKPOINT)
    assert not any("_orig_mod" in k for k in tensors)  # the checkpoint fits an eager module
    fresh = _ae().build_module((20,))
    fresh.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})


def test_to_device_leaves_a_tensor_on_its_device_alone():
    x = torch.ones(3)
    assert to_device(x, torch.device("cpu")) is x


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cpu_batches_reach_the_gpu_through_pinned_memory(X, tmp_path):
    x = to_device(torch.from_numpy(X), torch.device("cuda"))
    assert x.is_cuda and torch.equal(x.cpu(), torch.from_numpy(X))
    path = tmp_path / "X.npy"
    np.save(path, X)
    on_disk = np.load(path, mmap_mode="r")
    model = _ae().set_params(device="cuda").fit(on_disk, precision="bfloat16")
    np.testing.assert_allclose(model.transform(on_disk), model.transform(X), atol=1e-6)


def test_training_uses_fused_adam_on_the_cpu(X):
    """The engine's Adam is PyTorch's fused kernel (half of a VAE step is Adam's
    separate elementwise passes otherwise)."""
    module = VAE(2, hidden=(16,), epochs=1).build_module((X.shape[1],))
    trainer = Trainer(module, TrainConfig(epochs=1, batch_size=32, lr=1e-3), torch.device("cpu"))
    assert trainer.optimizer.defaults["fused"] is True


def test_fused_adam_takes_the_same_steps_as_the_default_one():
    """Same update rule: 100 steps of both from one start end equal up to rounding."""
    from aekit.training.adam import adam

    torch.manual_seed(0)
    start = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 5))
    x, y = torch.randn(256, 20), torch.randn(256, 5)
    weights = []
    for fused in (True, False):
        net = copy.deepcopy(start)
        if fused:
            opt = adam(net.parameters(), 1e-2, torch.device("cpu"), weight_decay=1e-3)
        else:
            opt = torch.optim.Adam(net.parameters(), lr=1e-2, weight_decay=1e-3, foreach=False)
        for _ in range(100):
            opt.zero_grad()
            nn.functional.mse_loss(net(x), y).backward()
            opt.step()
        weights.append(torch.cat([p.detach().flatten() for p in net.parameters()]))
    moved = (weights[1] - torch.cat([p.detach().flatten() for p in start.parameters()])).abs()
    assert moved.max() > 0.1  # the steps went somewhere
    torch.testing.assert_close(weights[0], weights[1], rtol=1e-4, atol=1e-5)


class SubnormalProbe(nn.Module):
    """An encoder that records whether subnormal floats are flushed as it trains."""

    seen: ClassVar[list[bool]] = []

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(6, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not x.is_meta:  # fit checks shapes on the meta device first
            one = torch.ones(1, device=x.device)
            tiny = torch.full((1,), 1e-39, device=x.device) * one  # subnormal in float32
            SubnormalProbe.seen.append(bool(tiny.item() == 0.0))
        return self.linear(x)


@pytest.mark.skipif(not torch.set_flush_denormal(False), reason="the CPU cannot flush")
def test_training_flushes_subnormal_floats_and_restores_them_after():
    """Subnormals (Adam's moments of weights that never get a gradient decay into
    them) are many times slower on x86: training computes without them."""
    SubnormalProbe.seen.clear()
    X = np.random.default_rng(0).random((40, 6), dtype=np.float32)
    model = Autoencoder(2, encoder=SubnormalProbe(), decoder=nn.Linear(2, 6), epochs=2)
    model.set_params(batch_size=8, device="cpu").fit(X)
    # every training step (2 epochs of 5 batches) ran flushed; the shape check
    # before training and the codes kept after it did not
    assert sum(SubnormalProbe.seen) >= 10 and not all(SubnormalProbe.seen)
    assert (torch.tensor([1e-39]) * torch.tensor([1.0])).item() != 0.0  # restored
