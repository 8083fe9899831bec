"""Where a training process stands: one plain process, or one rank of a ``torchrun`` group."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from rgmp.device import pick_device


@dataclass(frozen=True)
class Distributed:
    """Rank, world size and device of this process (rank 0 of 1 when torchrun is absent)."""

    rank: int
    world_size: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def setup_distributed(device: str | None) -> Distributed:
    """Join the torchrun process group when ``WORLD_SIZE`` > 1 (NCCL on GPUs, gloo on CPU)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return Distributed(0, 1, pick_device(device))
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and device in (None, "cuda")
    if use_cuda:
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return Distributed(rank, world_size, torch.device("cuda", local_rank) if use_cuda else torch.device("cpu"))


def all_reduce(values: list[float], ddp: Distributed) -> list[float]:
    """The sum of ``values`` over the ranks (the values themselves in one process)."""
    flags = torch.tensor(values)
    if ddp.enabled:
        dist.all_reduce(flags)
    return flags.tolist()


def barrier(ddp: Distributed) -> None:
    if ddp.enabled:
        dist.barrier()
