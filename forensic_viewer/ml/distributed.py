"""Data-parallel training with PyTorch DDP, started by ``torchrun``.

``torchrun --nproc-per-node N -m forensic_viewer train ...`` sets ``WORLD_SIZE``/``RANK``/
``LOCAL_RANK``; :func:`from_environment` then joins the process group (NCCL on CUDA, gloo on
the CPU). Every rank draws the same global order of samples from the same seed, and each global
batch is split between the ranks (``chunk[rank::world]``, as ``DistributedSampler`` interleaves),
so N ranks with batch B compute the same gradient as one process with batch B: DDP averages the
ranks' gradients, and :func:`shard` returns the factor that makes the average of per-rank means
the mean over the global batch when the last batch does not split evenly.

Every rank validates the whole validation split with identical weights, so all ranks reach the
same best epoch and early-stopping decision; rank 0 alone writes checkpoints, logs and the model,
and its decision to stop is broadcast so the ranks can never disagree.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class DistContext:
    rank: int
    world: int
    local_rank: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0


def world_size() -> int:
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 1


def is_main_process() -> bool:
    """True outside torchrun and on rank 0 (the one that prints and writes)."""
    return os.environ.get("RANK", "0") in ("", "0")


def from_environment(device: torch.device) -> DistContext | None:
    """Join the process group that torchrun set up, or None for a single process."""
    world = world_size()
    if world <= 1:
        return None
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return DistContext(rank, world, local_rank, device)


def shard(chunk: np.ndarray, context: DistContext | None) -> tuple[np.ndarray, float]:
    """This rank's rows of a global batch and the factor for its mean loss.

    DDP averages gradients over ranks; scaling each rank's mean loss by
    ``len(local) * world / len(chunk)`` makes that average the global batch's mean.
    """
    if context is None:
        return chunk, 1.0
    local = chunk[context.rank :: context.world]
    return local, len(local) * context.world / max(len(chunk), 1)


def distributed_loss(weights, context: DistContext, rows: np.ndarray, ignore_index: int):
    """Loss whose DDP gradient average equals the single-process mean over the global batch."""
    labels = rows[:, 3]
    valid = labels != ignore_index
    if weights is not None:
        denominator = float(weights.cpu()[torch.from_numpy(labels[valid])].sum())
    else:
        denominator = float(valid.sum())
    summed = nn.CrossEntropyLoss(weight=weights, ignore_index=ignore_index, reduction="sum")
    factor = context.world / max(denominator, 1e-12)
    return lambda logits, y: summed(logits, y) * factor


def sum_over_ranks(values: list[float], context: DistContext | None) -> list[float]:
    """Element-wise sums across ranks (identity for a single process)."""
    if context is None:
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=_comm_device(context))
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor.tolist()


def rank0_decides(flag: bool, context: DistContext | None) -> bool:
    """Rank 0's value of ``flag`` on every rank."""
    if context is None:
        return flag
    tensor = torch.tensor([int(flag)], dtype=torch.int64, device=_comm_device(context))
    dist.broadcast(tensor, src=0)
    return bool(tensor.item())


def barrier(context: DistContext | None) -> None:
    if context is not None:
        dist.barrier()


def close(context: DistContext | None) -> None:
    if context is not None and dist.is_initialized():
        dist.destroy_process_group()


def _comm_device(context: DistContext) -> torch.device:
    # NCCL only moves CUDA tensors; gloo works on the CPU.
    return context.device if context.device.type == "cuda" else torch.device("cpu")
