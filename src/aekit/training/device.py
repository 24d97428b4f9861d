"""Device selection, host-to-device copies, and the CPU's handling of tiny floats."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from aekit.training.distributed import is_distributed, local_rank


def resolve_device(device: str | torch.device = "auto", *, float64: bool = False) -> torch.device:
    """``"auto"`` picks CUDA, then Apple's MPS, then the CPU; other values pass through.
    The one device resolver of aekit. ``float64``: the computation needs float64,
    which MPS lacks (``"auto"`` then skips it, and asking for it is refused).

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        if torch.cuda.is_available():
            # under torchrun each process drives the GPU of its local rank
            return torch.device("cuda", local_rank()) if is_distributed() else torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available() and not float64:
            return torch.device("mps")
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"device must be 'auto', 'cpu', 'cuda' or 'mps'; got {device!r}."
        ) from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was asked for, but no CUDA device is available.")
    if resolved.type == "mps" and float64:
        raise ValueError("this computation needs float64, which MPS lacks; use device='cpu'.")
    return resolved


def to_device(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``x`` on ``device``; a CPU batch bound for a GPU goes through pinned memory so
    the copy is asynchronous (``non_blocking``) and overlaps with the GPU's work."""
    if x.device == device:
        return x
    if device.type == "cuda" and x.device.type == "cpu":
        x = x.pin_memory()
    return x.to(device, non_blocking=True)


def pad_rows(x: torch.Tensor, rows: int) -> torch.Tensor:
    """``x`` with rows of zeros appended up to ``rows`` rows (a batch of examples, or
    of their class indices, padded to a fixed size)."""
    if len(x) >= rows:
        return x
    return torch.cat([x, x.new_zeros((rows - len(x), *x.shape[1:]))])


@contextlib.contextmanager
def flush_denormals() -> Iterator[None]:
    """Compute with subnormal floats (below 1.2e-38 in float32) flushed to zero
    inside the block, on CPUs that can; back to IEEE behaviour after it.

    Adam's first moment of a weight whose gradient is almost always zero (a pixel
    near MNIST's border is rarely anything but 0) decays by 0.9 a step between its
    rare gradients, into the subnormal range within some 850 steps, where
    x86 arithmetic is many times slower: a 350-epoch VAE run slowed from 15 to 30 s
    an epoch as they spread (BENCHMARKS.md, "The one-layer VAE beside the published
    numbers").
    Flushing changes only values 38 orders of magnitude below one.
    """
    supported = torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if supported:
            torch.set_flush_denormal(False)
