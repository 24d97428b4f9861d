"""What the training loop calls back, and when: the seam through which checkpoints,
metrics files, TensorBoard scalars and the CPU thread governor reach the loop
without the loop knowing about any of them.

Examples
--------
>>> class CountSteps(Callback):
...     steps = 0
...     def before_step(self, trainer):
...         self.steps += 1
>>> CountSteps().resumable
False
"""

from __future__ import annotations

from typing import Any


class Callback:
    """Hooks of :class:`aekit.training.loop.Trainer`; each does nothing unless
    overridden. ``trainer`` is the running trainer (its ``module``, ``config``,
    ``state``, and ``snapshot`` / ``restore`` of everything needed to continue)."""

    #: whether this callback keeps what an interrupted run continues from; the loop
    #: turns Ctrl-C into "finish the step, save, stop" only when one does
    resumable = False

    def on_fit_start(self, trainer: Any) -> None:
        """Before the first epoch (a resumed run restores its state here)."""

    def before_step(self, trainer: Any) -> None:
        """Before each optimiser step."""

    def on_epoch_end(self, trainer: Any, record: dict[str, float]) -> None:
        """After each epoch, with its record (also the last entry of the history)."""

    def on_interrupt(self, trainer: Any) -> None:
        """Ctrl-C stopped an epoch between two steps; save what continues it."""

    def on_fit_end(self, trainer: Any) -> None:
        """After the last epoch, also when training stops with an error."""
