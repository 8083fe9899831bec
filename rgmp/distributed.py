"""Several processes under ``torchrun``: sharing items between ranks and gathering what each did.

Nothing here starts processes: ``torchrun`` (or its environment variables set by hand on each machine) does, and
:func:`process_group` joins the group it describes. Without ``WORLD_SIZE`` > 1 everything runs as one process.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import torch.distributed as dist

GROUP_TIMEOUT = datetime.timedelta(days=7)
"""How long a rank waits for the others at a collective (one may have much longer clips to segment)."""


def rank_and_world(env: Mapping[str, str] | None = None) -> tuple[int, int]:
    """(rank, world size) from ``RANK`` and ``WORLD_SIZE`` (set by torchrun, or by hand), (0, 1) when not set.

    Raises:
        ValueError: values that are not integers, or a rank outside ``0 .. world - 1``.
    """
    env = os.environ if env is None else env
    try:
        rank, world = int(env.get("RANK", "0")), int(env.get("WORLD_SIZE", "1"))
    except ValueError:
        raise ValueError(
            f"RANK={env.get('RANK')!r} and WORLD_SIZE={env.get('WORLD_SIZE')!r} must be integers"
        ) from None
    check_rank(rank, world)
    return rank, world


def check_rank(rank: int, world: int) -> None:
    """Raise ValueError unless ``world >= 1`` and ``0 <= rank < world``."""
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"rank {rank} is outside a world of size {world} (need 0 <= rank < world)")


def shard(costs: Sequence[float], rank: int, world: int) -> list[int]:
    """Indices of the items that ``rank`` processes, balanced by cost, in their original order.

    Greedy longest-first: items sorted by decreasing cost (ties by index) go one by one to the least loaded rank
    (ties to the lowest rank). Every rank computes the same assignment, so the ranks cover every item exactly once.

    Args:
        costs: one cost per item (e.g. its number of frames).
        rank, world: this process and the number of processes.

    Raises:
        ValueError: unless ``0 <= rank < world``.
    """
    check_rank(rank, world)
    loads = [0.0] * world
    owner = [0] * len(costs)
    for index in sorted(range(len(costs)), key=lambda i: (-costs[i], i)):
        target = min(range(world), key=lambda r: (loads[r], r))
        owner[index] = target
        loads[target] += costs[index]
    return [i for i in range(len(costs)) if owner[i] == rank]


@contextmanager
def process_group() -> Iterator[tuple[int, int]]:
    """Join the process group ``torchrun`` describes (gloo: it works on CPUs and GPUs, between machines too) for
    the block; yields (rank, world size), (0, 1) without ``WORLD_SIZE`` > 1.

    Raises:
        ValueError: the environment names no valid rank, or a group that cannot be joined (one line, without the
            traceback).
    """
    _, world = rank_and_world()
    if world <= 1:
        yield 0, 1
        return
    try:
        dist.init_process_group("gloo", timeout=GROUP_TIMEOUT)
    except (ValueError, RuntimeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"cannot join the torchrun process group (WORLD_SIZE={world}): {first}") from None
    try:
        yield dist.get_rank(), dist.get_world_size()
    finally:
        dist.destroy_process_group()


def gather_to_first(obj: Any, world: int) -> list[Any] | None:
    """Every rank's ``obj`` on rank 0, in rank order (None on the other ranks); ``[obj]`` in one process."""
    if world == 1:
        return [obj]
    gathered: list[Any] | None = [None] * world if dist.get_rank() == 0 else None
    dist.gather_object(obj, gathered, dst=0)
    return gathered
