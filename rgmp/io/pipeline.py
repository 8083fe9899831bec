"""Overlapping I/O with inference: a read-ahead thread for frames and background writers.

Decoding (PyAV, Pillow) and encoding (PNG, H.264) release the GIL, so running them beside the network keeps
the end-to-end frame rate close to the model-only one. Both bound how far they run ahead, so memory stays flat.

On a small CPU the network's OpenMP workers keep every core busy, so the entry points run the reader and the
writers at the idle priority (``priority="idle"``, :func:`lower_thread_priority`) and shorten OpenMP's spinning
(:func:`shorten_openmp_spin`): the I/O then runs on the cores the network leaves idle between its parallel
regions, instead of preempting a worker and stalling the whole region.
"""

from __future__ import annotations

import os
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Literal, TypeVar

T = TypeVar("T")
_DONE = object()

Priority = Literal["normal", "idle"]
"""CPU priority of a background thread: "normal" (the process's own) or "idle" (:func:`lower_thread_priority`)."""
PRIORITIES: tuple[str, ...] = ("normal", "idle")


def _priority_setter(priority: Priority) -> Callable[[], None] | None:
    """What a new thread calls first to take ``priority`` (None: nothing to do)."""
    if priority not in PRIORITIES:
        raise ValueError(f"priority must be one of {', '.join(PRIORITIES)}, got {priority!r}")
    return lower_thread_priority if priority == "idle" else None


def prefetch(items: Iterable[T], depth: int = 4, *, priority: Priority = "normal") -> Iterator[T]:
    """Iterate ``items`` in a background thread, at most ``depth`` items ahead of the consumer.

    An exception raised while producing is re-raised in the consumer at the same position; closing the returned
    generator early stops the producer, which then closes ``items`` if it can be closed (a generator reading a
    video file, say). The producer runs at ``priority``, taken before the source opens anything, so that the
    source's own threads (a decoder's) inherit it.
    """
    set_priority = _priority_setter(priority)
    buffer: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()
    source = iter(items)

    def offer(item: Any) -> bool:
        """Put ``item`` in the buffer unless the consumer stopped first (then False)."""
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        if set_priority is not None:
            set_priority()
        try:
            for item in source:
                if not offer(item):
                    return
            offer(_DONE)
        except BaseException as err:  # handed to the consumer
            offer(err)
        finally:
            getattr(source, "close", lambda: None)()

    thread = threading.Thread(target=produce, name="rgmp-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = buffer.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


def lower_thread_priority() -> None:
    """Give the calling thread (and the threads it starts, e.g. x264's) the lowest CPU priority the OS allows:
    on Linux ``SCHED_IDLE`` (it runs only on a core that no normal thread wants), else per-thread nice 19.

    A reader or writer at the network's priority preempts its OpenMP workers, and one preempted worker stalls the
    whole parallel region. Nice 19 still takes its share of a busy core; ``SCHED_IDLE`` does not, and is preempted
    as soon as a worker wakes (the gain end to end: docs/performance.md).
    """
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))  # 0: the calling thread
        return
    except (AttributeError, OSError):  # not Linux, or not allowed
        pass
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except (AttributeError, OSError):  # no per-thread priority here, or not allowed
        pass


OPENMP_SPINCOUNT = "30000"
"""libgomp's busy-wait after a parallel region, in spins (its default, 300000, is about 8 ms on the 2-core CPU
here; 30000 is under 1 ms, longer than the gaps between the network's operations)."""


def shorten_openmp_spin() -> None:
    """Let OpenMP workers sleep soon after a parallel region (``GOMP_SPINCOUNT``, unless the user set it).

    By default an idle worker spins for about 8 ms, which keeps its core busy through every serial stretch of a
    frame (the argmax, Python), so the idle-priority reader and writers only ran when the network blocked on
    them. Takes effect only before torch is imported: the command line and the demo call it first thing. The
    network alone is as fast either way (17 alternating pairs of runs, light model, 2 cores: median ratio 0.994,
    quartiles 0.97-1.04), and two runs sharing 2 cores no longer spin against each other (2 CLI runs at once:
    39-46 s instead of 119-134 s).
    """
    os.environ.setdefault("GOMP_SPINCOUNT", OPENMP_SPINCOUNT)


def writer_threads() -> int:
    """Background threads for work that may run in any order (PNG files, drawing overlays): one on small machines,
    where the network needs every core, up to four on machines of 16 cores or more, where a GPU outruns one."""
    return max(1, min(4, (os.cpu_count() or 1) // 4))


class BackgroundWriter:
    """Runs write jobs on background threads at the CPU priority ``priority``, at most ``depth`` jobs behind (the
    producer waits beyond that, which also keeps a starved writer from falling further behind).

    With one worker (the default) the jobs run in the order they were submitted; with more they may finish in any
    order. Use as a context manager; an exception in a job is re-raised by the next :meth:`submit` or on exit.
    """

    def __init__(self, depth: int = 8, workers: int = 1, *, priority: Priority = "normal") -> None:
        self._executor = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="rgmp-writer", initializer=_priority_setter(priority)
        )
        self._pending: deque[Future[Any]] = deque()
        self._depth = depth

    def submit(self, job: Callable[..., T], *args: Any) -> Future[T]:
        """Queue ``job(*args)``; returns its future."""
        while self._pending and (self._pending[0].done() or len(self._pending) >= self._depth):
            self._pending.popleft().result()
        future = self._executor.submit(job, *args)
        self._pending.append(future)
        return future

    def __enter__(self) -> BackgroundWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if exc_type is None:
                while self._pending:
                    self._pending.popleft().result()
        finally:
            for future in self._pending:
                future.cancel()
            self._executor.shutdown(wait=True)
