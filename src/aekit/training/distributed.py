"""Data-parallel training under ``torchrun``: process group set-up and collectives.

``torchrun --nproc_per_node=N -m aekit train ...`` starts N processes with the
``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` environment; :func:`init_from_env` joins them
into one process group (NCCL on CUDA, gloo on the CPU). Every rank holds the whole
(in-memory) training set and takes its share of each global batch, so
``--batch-size`` is the *global* batch and ``--lr`` means what it means on one
process: a run on N processes follows the single-process trajectory up to
floating-point reduction order. Rank 0 alone writes run files, checkpoints,
logs and figures; every rank resumes from the same checkpoint.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def init_from_env() -> bool:
    """Join the process group that ``torchrun`` describes; False when run alone."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    if not dist.is_available():
        raise RuntimeError("this PyTorch build has no torch.distributed; run on one process.")
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(local_rank())
        dist.init_process_group(backend=backend)
    return True


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_main() -> bool:
    """True on rank 0 (or when not distributed): the process that writes files."""
    return rank() == 0


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def all_reduce(tensor: torch.Tensor, op: str = "sum") -> torch.Tensor:
    """In-place all-reduce (``"sum"``, ``"max"`` or ``"min"``) across ranks; a no-op alone."""
    if is_distributed():
        ops = {"sum": dist.ReduceOp.SUM, "max": dist.ReduceOp.MAX, "min": dist.ReduceOp.MIN}
        dist.all_reduce(tensor, op=ops[op])
    return tensor


def weight_spread(module: torch.nn.Module) -> float:
    """Largest difference of any weight across ranks (0.0 when they are identical)."""
    if not is_distributed():
        return 0.0
    flat = torch.cat([p.detach().reshape(-1).float() for p in module.parameters()])
    high, low = all_reduce(flat.clone(), "max"), all_reduce(flat.clone(), "min")
    return float((high - low).max())


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
