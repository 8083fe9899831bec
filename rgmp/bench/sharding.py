"""Splitting a dataset across processes and machines, without a process group.

Each process reads ``RANK`` and ``WORLD_SIZE`` (set by torchrun, or by hand on each machine), takes its share of the
sequences (:func:`rgmp.distributed.shard`), and writes one score file per sequence into the shared output folder.
Rank 0 then waits until every sequence has its score file (a file barrier) and gathers them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping

from rgmp.bench import BenchmarkError


def rank_and_world(env: Mapping[str, str] | None = None) -> tuple[int, int]:
    """(rank, world size) from ``RANK`` / ``WORLD_SIZE``, (0, 1) when they are not set.

    Raises:
        BenchmarkError: values that are not integers, or a rank outside ``0 .. world - 1``.
    """
    env = os.environ if env is None else env
    try:
        rank, world = int(env.get("RANK", "0")), int(env.get("WORLD_SIZE", "1"))
    except ValueError:
        raise BenchmarkError(
            f"RANK={env.get('RANK')!r} and WORLD_SIZE={env.get('WORLD_SIZE')!r} must be integers"
        ) from None
    check_rank(rank, world)
    return rank, world


def check_rank(rank: int, world: int) -> None:
    """Raise :class:`BenchmarkError` unless ``world >= 1`` and ``0 <= rank < world``."""
    if world < 1 or not 0 <= rank < world:
        raise BenchmarkError(f"rank {rank} is outside a world of size {world} (need 0 <= rank < world)")


def wait_until(
    ready: Callable[[], bool], *, timeout: float, poll: float = 2.0, failed: Callable[[], str | None] = lambda: None
) -> None:
    """Block until ``ready()`` is true (the file barrier).

    Args:
        ready: checks whether everything awaited is there.
        timeout: seconds to wait at most.
        poll: seconds between checks.
        failed: returns a message when waiting is pointless (another rank reported a failure), else None.

    Raises:
        BenchmarkError: on timeout or when ``failed()`` returns a message.
    """
    deadline = time.monotonic() + timeout
    while not ready():
        message = failed()
        if message:
            raise BenchmarkError(message)
        if time.monotonic() >= deadline:
            raise BenchmarkError(
                f"gave up waiting after {timeout:.0f} s for the other ranks; when they finish, combine with --gather"
            )
        time.sleep(poll)
