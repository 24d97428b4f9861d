"""The training loop: reproducibility, exact resumption, divergence, early stopping."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from aekit import Autoencoder, DenoisingAutoencoder
from aekit.errors import RunFileError, TrainingDivergedError
from aekit.models.outliers import hold_out
from aekit.runs.api import run_callbacks
from aekit.storage.safe_files import load_tensors, read_json
from aekit.training.checkpoint import CHECKPOINT, Checkpointing
from aekit.training.epoch_log import METRICS
from aekit.training.loop import TrainConfig, Trainer


@pytest.fixture(scope="module")
def X():
    rng = np.random.default_rng(0)
    basis = rng.normal(size=(3, 12))
    return (np.tanh(rng.normal(size=(300, 3)) @ basis) * 0.5 + 0.5).astype(np.float32)


def _weights(model) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.module_.state_dict().items()}


def _assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


# the loop's mechanics on all of X from a random start (the defaults hold out a
# share and start at PCA: tests/models/test_small_tables.py)
LOOP_ONLY = dict(validation_fraction=0.0, start="random")


def _dae(**kw):
    return DenoisingAutoencoder(
        latent_dim=3, hidden=(16,), epochs=6, batch_size=32, noise_std=0.2, random_state=3,
        **LOOP_ONLY, **kw,
    )  # fmt: skip


def test_same_seed_same_fit_different_seed_different_fit(X):
    a, b = _dae().fit(X), _dae().fit(X)
    _assert_same(_weights(a), _weights(b))
    c = _dae().set_params(random_state=4).fit(X)
    assert not torch.equal(a.module_.head.linear.weight, c.module_.head.linear.weight)


def test_resume_after_a_crash_ends_with_the_same_weights(X, tmp_path, monkeypatch, crash_at_epoch):
    full = _dae().fit(X, X_val=X[:50], callbacks=run_callbacks(tmp_path / "full"))

    crashing = _dae()
    crash_at_epoch(3)
    with pytest.raises(RuntimeError, match="simulated crash"):
        crashing.fit(X, X_val=X[:50], callbacks=run_callbacks(tmp_path / "cut"))
    monkeypatch.undo()
    _, meta = load_tensors(tmp_path / "cut" / CHECKPOINT)
    assert meta["state"]["epoch"] == 3

    resumed = _dae().fit(X, X_val=X[:50], callbacks=run_callbacks(tmp_path / "cut", resume=True))
    _assert_same(_weights(full), _weights(resumed))
    assert resumed.history_ == [
        {**h, "seconds": r["seconds"]} for h, r in zip(full.history_, resumed.history_, strict=True)
    ]


def test_interrupt_mid_epoch_checkpoints_and_resumes_exactly(X, tmp_path):
    full = _dae().fit(X, callbacks=run_callbacks(tmp_path / "full"))
    interrupted = _dae()
    interrupted._validate_params()
    steps = {"n": 0}

    original_fit = Trainer.fit

    def fit_with_interrupt(self, X_train, X_val=None):
        def count(module, inputs, output):
            steps["n"] += 1
            if steps["n"] == 23:  # epoch 3, step 4 (10 batches of 32 per epoch)
                self._interrupted = True

        handle = self.module.register_forward_hook(count)
        try:
            return original_fit(self, X_train, X_val)
        finally:
            handle.remove()

    Trainer.fit = fit_with_interrupt
    try:
        with pytest.raises(KeyboardInterrupt):
            interrupted.fit(X, callbacks=run_callbacks(tmp_path / "cut"))
    finally:
        Trainer.fit = original_fit
    _, meta = load_tensors(tmp_path / "cut" / CHECKPOINT)
    assert (meta["state"]["epoch"], meta["state"]["step"]) == (2, 3)
    resumed = _dae().fit(X, callbacks=run_callbacks(tmp_path / "cut", resume=True))
    _assert_same(_weights(full), _weights(resumed))


def test_metrics_are_written_every_epoch(X, tmp_path):
    model = _dae().fit(X, X_val=X[:40], callbacks=run_callbacks(tmp_path))
    history = read_json(tmp_path / METRICS)["history"]
    assert [h["epoch"] for h in history] == list(range(1, 7))
    assert history == model.history_
    assert {"train_loss", "val_loss", "train_mse", "val_mse", "lr", "seconds"} <= history[0].keys()
    assert history[-1]["train_mse"] < history[0]["train_mse"]


def test_resume_refuses_a_checkpoint_made_with_other_settings(X, tmp_path):
    _dae().fit(X, callbacks=run_callbacks(tmp_path))
    with pytest.raises(RunFileError, match="batch_size"):
        _dae().set_params(batch_size=16).fit(X, callbacks=run_callbacks(tmp_path, resume=True))


class _ExplodesAtStep(nn.Module):
    """A model whose loss becomes NaN at a given step (counted over training)."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(3))
        self.at, self.calls = at, 0

    def forward(self, x):
        if self.training:
            self.calls += 1
        loss = ((x[:, :3] - self.w) ** 2).sum(1).mean()
        if self.training and self.calls >= self.at:
            loss = loss * float("nan")
        return {"loss": loss}


def test_divergence_names_epoch_and_step_and_keeps_last_good_state(tmp_path):
    X = torch.rand(100, 3)
    module = _ExplodesAtStep(at=13)  # 5 batches per epoch: epoch 3, step 3
    trainer = Trainer(
        module,
        TrainConfig(epochs=5, batch_size=20, progress_every=1),
        torch.device("cpu"),
        [Checkpointing(tmp_path)],
    )
    with pytest.raises(TrainingDivergedError, match=r"epoch 3, step 3"):
        trainer.fit(X)
    assert torch.isfinite(module.w).all()
    tensors, meta = load_tensors(tmp_path / CHECKPOINT)
    assert meta["state"]["epoch"] == 2
    torch.testing.assert_close(tensors["model.w"], module.w.detach())


def test_early_stopping_stops_and_keeps_the_best_weights(X):
    model = Autoencoder(
        latent_dim=3,
        hidden=(32,),
        epochs=200,
        lr=0.05,
        batch_size=16,
        early_stopping=2,
        random_state=0,
        start="random",
    ).fit(X)
    assert len(model.history_) < 200
    best = min(h["val_loss"] for h in model.history_)
    val = hold_out(X, 0.1, 0)[1]
    assert model.score(val) == pytest.approx(-min(h["val_mse"] for h in model.history_), rel=1e-4)
    assert best == min(h["val_loss"] for h in model.history_)


def test_cosine_schedule_and_clipping_are_applied(X):
    model = _dae(lr_schedule="cosine", grad_clip=0.5).fit(X)
    lrs = [h["lr"] for h in model.history_]
    assert lrs[0] == pytest.approx(model.lr) and lrs[-1] < lrs[1] < lrs[0]


def _stop_epoch(values: list[float], patience: int) -> int:
    """Epochs the early-stopping rule runs, given the monitored value of each epoch."""
    best, bad = float("inf"), 0
    for epoch, value in enumerate(values, 1):
        if best == float("inf") or value < best - 1e-6 * abs(best):
            best, bad = value, 0
        else:
            bad += 1
        if bad >= patience:
            return epoch
    return len(values)


def test_early_stopping_waits_for_patience_epochs_without_improvement_and_keeps_the_best(X):
    model = Autoencoder(
        latent_dim=3, hidden=(32,), epochs=40, lr=0.01, batch_size=16, early_stopping=3,
        random_state=0, start="random",
    ).fit(X)  # fmt: skip
    val_mse = [h["val_mse"] for h in model.history_]
    assert len(val_mse) > 4  # it did not stop while validation was still improving
    assert len(val_mse) == _stop_epoch(val_mse, 3)
    val = hold_out(X, 0.1, 0)[1]
    assert -model.score(val) == pytest.approx(min(val_mse), rel=1e-5)  # the best weights


def test_the_plateau_schedule_keeps_the_rate_while_validation_improves(X):
    model = _dae(lr_schedule="plateau", lr=3e-3).set_params(epochs=5).fit(X, X_val=X[:50])
    val_mse = [h["val_mse"] for h in model.history_]
    assert np.all(np.diff(val_mse) < 0), val_mse  # improving throughout
    assert [h["lr"] for h in model.history_] == [3e-3] * 5


def test_a_vae_stops_on_its_unweighted_elbo():
    from aekit import VAE
    from aekit.training.loop import monitored

    record = {"val_loss": 10.0, "val_elbo": -12.0, "val_mse": 0.1, "train_loss": 9.0}
    assert monitored(record) == 12.0  # −ELBO, not the β-weighted loss
    assert monitored({"val_loss": 3.0, "val_mse": 0.2}) == 0.2
    with pytest.raises(ValueError, match="beta weights the ELBO's KL term"):
        VAE(objective="iwae", beta=2.0).fit(np.random.default_rng(0).random((20, 4)))
