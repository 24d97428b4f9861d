"""The one training loop that fits every neural model in aekit.

Adam (fused) with index-permutation batching; validation, early stopping, schedules
and clipping; progress and epoch lines; exact resumption: epoch ``e`` draws from a
seed of ``(random_state, e)``, so a resumed run replays the batches and noise of an
uninterrupted one (bitwise on the CPU). Files and the host's threads are not the
loop's business: checkpoints, ``metrics.json``, TensorBoard scalars and the thread
governor reach it as callbacks (:mod:`aekit.training.callbacks`).
"""

from __future__ import annotations

import contextlib
import math
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from aekit.errors import TrainingDivergedError
from aekit.training import distributed
from aekit.training.adam import adam
from aekit.training.callbacks import Callback
from aekit.training.device import to_device
from aekit.training.epoch_log import echo_epoch

SCHEDULES = ("none", "cosine", "plateau")
PRECISIONS = ("float32", "bfloat16")


@dataclass
class TrainConfig:
    """Settings of the training loop. Each estimator builds its own, naming every
    field it sets (``_train_config``)."""

    epochs: int = 20
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    lr_schedule: str = "none"
    grad_clip: float | None = None
    early_stopping: int | None = None
    random_state: int = 0
    verbose: bool = False
    beta: float = 1.0  # the KL weight of a Gaussian head's objective
    kl_warmup_epochs: int = 0  # the KL weight ramps up to beta over these epochs
    eval_batch_size: int = 2048
    progress_every: int = 25
    optimizer: str = "adam"  # "lbfgs": full-batch quasi-Newton, one step of lbfgs_iter per batch
    lbfgs_iter: int = 20
    compile: bool = False  # torch.compile the training forward and backward
    precision: str = "float32"  # "bfloat16": autocast matrix products (pays on recent GPUs)

    def kl_weight(self, epoch: int) -> float:
        """The KL weight of epoch ``epoch`` (0-based): ``beta · min(1, (epoch + 1) / W)``
        with ``W = kl_warmup_epochs``, so the first epoch of a warm-up already
        weighs the KL by ``beta / W`` and epoch ``W`` and later by ``beta``."""
        if not self.kl_warmup_epochs:
            return float(self.beta)
        return float(self.beta) * min(1.0, (epoch + 1) / self.kl_warmup_epochs)


@dataclass
class _State:
    """Everything the loop needs to continue: saved in every checkpoint."""

    epoch: int = 0  # completed epochs
    step: int = 0  # completed steps of the epoch in progress (after an interrupt)
    history: list[dict[str, float]] = field(default_factory=list)
    best_val: float = math.inf
    bad_epochs: int = 0
    lr: float = 0.0
    plateau_best: float = math.inf
    plateau_bad: int = 0


def epoch_seed(random_state: int, epoch: int) -> int:
    """The seed of epoch ``epoch``: distinct per epoch, fixed by ``random_state``."""
    return (random_state * 1_000_003 + epoch * 7919 + 17) % (2**63 - 1)


class Trainer:
    """Fit ``module``, whose ``forward(x)`` returns a dict with ``"loss"`` (and is
    called as ``forward(x, kl_weight=w)`` in epochs whose KL weight ``w`` is not 1).

    The data are a tensor of examples, or for a conditional model the pair
    ``(examples, classes)``: each batch's classes reach ``forward`` as ``condition``.

    Parameters
    ----------
    module : nn.Module
        The model, already on ``device``.
    config : TrainConfig
    device : torch.device
    callbacks : sequence of Callback, optional
        Called at the start, before each step, after each epoch, on Ctrl-C and at the
        end (checkpoints, metrics files, the thread governor); nothing is written
        without them.
    """

    def __init__(
        self,
        module: nn.Module,
        config: TrainConfig,
        device: torch.device,
        callbacks: Sequence[Callback] = (),
    ) -> None:
        self.module = module
        self.config = config
        self.device = device
        self.callbacks = list(callbacks)
        self.rank, self.world = distributed.rank(), distributed.world_size()
        self.train_module: nn.Module = module
        if self.world > 1:  # torchrun: gradients averaged across ranks by DDP
            ids = [device.index] if device.type == "cuda" else None
            self.train_module = nn.parallel.DistributedDataParallel(module, device_ids=ids)
        if config.compile:  # compiled once per input shape; evaluation stays eager
            self.train_module = torch.compile(self.train_module)
        if config.optimizer == "lbfgs":
            self.optimizer: torch.optim.Optimizer = torch.optim.LBFGS(
                module.parameters(),
                lr=config.lr,
                max_iter=config.lbfgs_iter,
                history_size=50,
                tolerance_grad=0.0,
                tolerance_change=0.0,
                line_search_fn="strong_wolfe",
            )
        else:
            self.optimizer = adam(module.parameters(), config.lr, device, config.weight_decay)
        self.state = _State(lr=config.lr)
        self.best_weights: dict[str, torch.Tensor] | None = None
        self._partial: dict[str, torch.Tensor] = {}
        self._resume_rng: torch.Tensor | None = None
        self._interrupted = False

    @property
    def _chatty(self) -> bool:
        """Epoch lines when asked for, wherever stderr goes (terminal, pipe, CI log)."""
        return self.config.verbose and self.rank == 0

    @property
    def _live_bar(self) -> bool:
        """A progress bar within the epoch, where one can redraw: a terminal or a
        Jupyter notebook (tqdm.auto draws a widget there); in a log it would only
        leave clutter."""
        return self._chatty and live_progress()

    # -- what a checkpoint holds -----------------------------------------------------
    def snapshot(self, rng_state: torch.Tensor | None = None) -> dict[str, Any]:
        """Everything needed to continue (the fields of a
        :class:`~aekit.training.checkpoint.Checkpoint`); ``rng_state`` marks an
        interrupted epoch."""
        return {
            "model": self.module.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "state": asdict(self.state),
            "config": asdict(self.config),
            "best": self.best_weights,
            "rng_state": rng_state,
            "partial": self._partial,
        }

    def restore(self, saved: Any) -> None:
        """Continue from ``saved`` (what :meth:`snapshot` gave, read back)."""
        self.module.load_state_dict(saved.model)
        self.best_weights = saved.best
        self.optimizer.load_state_dict(saved.optimizer)
        self.state = _State(**saved.state)
        self._partial = {k: v.to(self.device) for k, v in saved.partial.items()}
        self._resume_rng = saved.rng_state

    # -- the loop --------------------------------------------------------------------
    def fit(self, X_train: Data, X_val: Data | None = None) -> list[dict[str, float]]:
        """Train; returns the per-epoch history."""
        cfg = self.config
        n = _examples(X_train).shape[0]
        # a last batch of one example per rank would break batch norm; drop it
        n_batches = n // cfg.batch_size + (1 if n % cfg.batch_size >= 2 * self.world else 0)
        with _sigint_sets_flag(self), contextlib.ExitStack() as callbacks:
            for callback in self.callbacks:
                callbacks.callback(callback.on_fit_end, self)
                callback.on_fit_start(self)  # a resumed run restores its state here
            rng_state, self._resume_rng = self._resume_rng, None
            if cfg.early_stopping and X_val is not None and self.state.epoch == 0:
                self._start_is_a_candidate(X_val)
            while self.state.epoch < cfg.epochs and not self._should_stop():
                epoch = self.state.epoch
                self._set_lr(epoch)
                good = {k: v.clone() for k, v in self.module.state_dict().items()}
                start = time.perf_counter()
                train_metrics = self._train_epoch(X_train, n_batches, epoch, rng_state)
                rng_state = None
                if train_metrics is None:  # interrupted: checkpoint written mid-epoch
                    raise KeyboardInterrupt
                val_metrics = self.evaluate(X_val) if X_val is not None else {}
                record = {f"train_{k}": v for k, v in train_metrics.items()}
                record.update({f"val_{k}": v for k, v in val_metrics.items()})
                bad_step = record.pop("train_bad_step")
                if bad_step >= 0 or not all(math.isfinite(v) for v in record.values()):
                    self.module.load_state_dict(good)
                    self._diverged(epoch, int(bad_step))
                record.update(epoch=epoch + 1, lr=self.state.lr)
                if self.world > 1:  # ranks must hold identical weights after every epoch
                    record["rank_weight_spread"] = distributed.weight_spread(self.module)
                record["seconds"] = time.perf_counter() - start
                self._after_epoch(record)
                if self._interrupted:  # Ctrl-C during the last step: checkpoint is written
                    raise KeyboardInterrupt
        if cfg.early_stopping and self.best_weights is not None:
            self.module.load_state_dict(self.best_weights)
        return self.state.history

    def _start_is_a_candidate(self, X_val: Data) -> None:
        """Early stopping may keep the untrained weights: a module started at a known
        solution (PCA's, :mod:`aekit.core.linear_path`) ends no worse than it on
        the validation data."""
        record = {f"val_{k}": v for k, v in self.evaluate(X_val).items()}
        start = monitored(record)
        if math.isfinite(start):
            self.state.best_val = start
            self.best_weights = {k: v.clone() for k, v in self.module.state_dict().items()}

    def _train_epoch(
        self, X: Data, n_batches: int, epoch: int, rng_state: torch.Tensor | None
    ) -> dict[str, float] | None:
        cfg = self.config
        self.module.train()
        seed = epoch_seed(cfg.random_state, epoch)
        torch.manual_seed(seed + self.rank)  # noise differs by rank; rank 0 = one process
        n = _examples(X).shape[0]
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
        perm = perm.to(_examples(X).device)
        first = self.state.step
        if rng_state is not None:
            torch.set_rng_state(rng_state)
        else:
            self._partial = {}
        sums = self._partial
        bad_step = sums.pop("bad_step", torch.full((), -1.0, device=self.device))
        zero = torch.zeros((), device=self.device)
        bar = tqdm(
            total=n_batches,
            initial=first,
            desc=f"epoch {epoch + 1}/{cfg.epochs}",
            disable=not self._live_bar,
            leave=False,
            file=sys.stderr,
        )
        with bar:
            for step in range(first, n_batches):
                idx = perm[step * cfg.batch_size : (step + 1) * cfg.batch_size]
                idx = idx[self.rank :: self.world]  # this rank's share of the global batch
                for callback in self.callbacks:
                    callback.before_step(self)
                parts = self._step(*_batch(X, idx, self.device), cfg.kl_weight(epoch))
                loss = parts["loss"]
                bad_step = torch.where(
                    (bad_step < 0) & ~torch.isfinite(loss.detach()), float(step), bad_step
                )
                for k, v in parts.items():
                    sums[k] = sums.get(k, zero) + v.detach() * len(idx)
                sums["count"] = sums.get("count", zero) + len(idx)
                bar.update(1)
                if (step + 1) % cfg.progress_every == 0:
                    if self.world > 1:  # every rank must stop at the same step
                        bad_step = distributed.all_reduce(bad_step.clone(), "max")
                    if bad_step.item() >= 0:  # a sync we pay for only every few steps
                        break
                    if not bar.disable:
                        bar.set_postfix(loss=f"{(sums['loss'] / sums['count']).item():.4g}")
                if self._interrupted and step + 1 < n_batches:
                    self.state.step = step + 1
                    sums["bad_step"] = bad_step
                    for callback in self.callbacks:
                        callback.on_interrupt(self)
                    return None
        self.state.step = 0
        if self.world > 1:
            keys = sorted(sums)
            totals = distributed.all_reduce(torch.stack([sums[k] for k in keys]))
            sums = dict(zip(keys, totals, strict=True))
            bad_step = distributed.all_reduce(bad_step.clone(), "max")
        count = sums.pop("count")
        metrics = {k: float(v / count) for k, v in sums.items()}
        metrics["bad_step"] = float(bad_step)
        return metrics

    def _step(
        self, xb: torch.Tensor, given: dict[str, torch.Tensor], kl_weight: float
    ) -> dict[str, torch.Tensor]:
        """One optimiser step on batch ``xb`` (``given``: its condition, if any);
        returns the loss parts before the step."""
        cfg = self.config
        parts: dict[str, torch.Tensor] = {}

        def closure() -> torch.Tensor:
            self.optimizer.zero_grad(set_to_none=True)
            with self._autocast():
                # modules without a KL term need not know the argument
                weighted = {} if kl_weight == 1.0 else {"kl_weight": kl_weight}
                out = self.train_module(xb, **weighted, **given)
            out["loss"].backward()
            if cfg.grad_clip:
                nn.utils.clip_grad_norm_(self.module.parameters(), cfg.grad_clip)
            if not parts:
                parts.update(out)
            return out["loss"]

        if cfg.optimizer == "lbfgs":
            self.optimizer.step(closure)
        else:
            closure()
            self.optimizer.step()
        return parts

    def _autocast(self) -> torch.autocast:
        """bf16 autocast when asked for; the loss parts themselves stay float32."""
        enabled = self.config.precision == "bfloat16"
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=enabled)

    @torch.no_grad()
    def evaluate(self, X: Data) -> dict[str, float]:
        """Mean of each loss part over ``X`` in evaluation mode."""
        was_training = self.module.training
        self.module.eval()
        sums: dict[str, torch.Tensor] = {}
        n = _examples(X).shape[0]
        for start in range(0, n, self.config.eval_batch_size):
            rows = slice(start, start + self.config.eval_batch_size)
            xb, given = _batch(X, rows, self.device)
            with self._autocast():
                out = self.module(xb, **given)
            for k, v in out.items():
                sums[k] = sums.get(k, 0.0) + v * xb.shape[0]
        self.module.train(was_training)
        return {k: float(v / n) for k, v in sums.items()}

    # -- epoch bookkeeping -----------------------------------------------------------
    def _after_epoch(self, record: dict[str, float]) -> None:
        cfg, st = self.config, self.state
        st.history.append(record)
        st.epoch += 1
        monitor = monitored(record)
        if _improves(monitor, st.best_val):
            st.best_val, st.bad_epochs = monitor, 0
            if cfg.early_stopping:
                self.best_weights = {k: v.clone() for k, v in self.module.state_dict().items()}
        else:
            st.bad_epochs += 1
        if cfg.lr_schedule == "plateau":
            if _improves(monitor, st.plateau_best):
                st.plateau_best, st.plateau_bad = monitor, 0
            else:
                st.plateau_bad += 1
                if st.plateau_bad > 2:
                    st.lr, st.plateau_bad = st.lr * 0.5, 0
        for callback in self.callbacks:
            callback.on_epoch_end(self, record)
        if self._chatty:
            echo_epoch(record, cfg.epochs)

    def _should_stop(self) -> bool:
        patience = self.config.early_stopping
        return bool(patience) and self.state.bad_epochs >= patience

    def _set_lr(self, epoch: int) -> None:
        cfg = self.config
        if cfg.lr_schedule == "cosine":
            self.state.lr = cfg.lr * 0.5 * (1 + math.cos(math.pi * epoch / cfg.epochs))
        for group in self.optimizer.param_groups:
            group["lr"] = self.state.lr

    def _diverged(self, epoch: int, step: int) -> None:
        where = f"epoch {epoch + 1}" + (f", step {step + 1}" if step >= 0 else "")
        folders = [getattr(c, "folder", None) for c in self.callbacks if c.resumable]
        kept = (
            f"; the last good checkpoint is kept in {folders[0]}"
            if folders and folders[0] is not None and self.state.epoch > 0
            else ""
        )
        raise TrainingDivergedError(
            f"Training diverged at {where}: the loss became NaN or infinite; the model keeps "
            f"the weights from before that epoch{kept}. Try a lower learning rate (--lr)."
        )


Data = torch.Tensor | tuple[torch.Tensor, torch.Tensor]  # examples, or (examples, classes)


def _examples(data: Data) -> torch.Tensor:
    return data[0] if isinstance(data, tuple) else data


def _batch(
    data: Data, rows: torch.Tensor | slice, device: torch.device
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The examples of ``rows`` on ``device``, and ``forward``'s ``condition`` for them."""
    if isinstance(data, tuple):
        x, classes = data
        return to_device(x[rows], device), {"condition": to_device(classes[rows], device)}
    return to_device(data[rows], device), {}


def live_progress() -> bool:
    """Whether stderr can show a redrawn progress bar: a terminal or a notebook."""
    return sys.stderr.isatty() or "ipykernel" in sys.modules


def monitored(record: dict[str, float]) -> float:
    """What early stopping and the plateau schedule watch, from an epoch's record:
    the validation (else training) quantity that no training weight changes, −ELBO
    for a model with a KL term (no β, warm-up or free bits) and MSE otherwise."""
    split = "val" if "val_loss" in record else "train"
    if f"{split}_elbo" in record:
        return -record[f"{split}_elbo"]
    return record.get(f"{split}_mse", record[f"{split}_loss"])


def _improves(value: float, best: float) -> bool:
    """Whether ``value`` beats ``best`` by more than rounding (any finite value beats
    the starting infinity)."""
    if not math.isfinite(value):
        return False
    return not math.isfinite(best) or value < best - 1e-6 * abs(best)


class _sigint_sets_flag:
    """While training, Ctrl-C finishes the current step, checkpoints and stops."""

    def __init__(self, trainer: Trainer) -> None:
        self.trainer = trainer
        self.previous = None

    def __enter__(self) -> None:
        main = threading.current_thread() is threading.main_thread()
        if not any(c.resumable for c in self.trainer.callbacks) or not main:
            return
        self.previous = signal.getsignal(signal.SIGINT)

        def handler(signum, frame):  # noqa: ARG001
            self.trainer._interrupted = True

        signal.signal(signal.SIGINT, handler)

    def __exit__(self, *exc) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
