"""Adam as the training loop builds it: fused into one kernel per step where
PyTorch has one.

PyTorch's default Adam on a CPU updates each parameter tensor with a dozen
separate elementwise operations (one of them a slow ``sqrt``); on the 784-512-256-16
VAE that is half of every training step. The fused implementation computes the same
update in one pass over each tensor: the same numbers up to floating-point
reordering, and 1.5x faster steps on one CPU thread (BENCHMARKS.md, "Throughput").

Examples
--------
>>> import torch
>>> optimizer = adam(torch.nn.Linear(3, 2).parameters(), lr=1e-3, device=torch.device("cpu"))
>>> optimizer.defaults["fused"]
True
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

FUSED_DEVICES = ("cpu", "cuda")  # where PyTorch's fused Adam kernels exist
FUSED_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def adam(
    params: Iterable[torch.nn.Parameter],
    lr: float,
    device: torch.device,
    weight_decay: float = 0.0,
) -> torch.optim.Adam:
    """``torch.optim.Adam`` over ``params``, fused on CPUs and CUDA GPUs."""
    params = list(params)
    fused = device.type in FUSED_DEVICES and all(p.dtype in FUSED_DTYPES for p in params)
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=fused or None)
