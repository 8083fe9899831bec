"""The peak memory of a piece of work, on a CPU or a GPU."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import resource
import sys
import threading
from types import TracebackType

import torch

from rgmp.device import synchronize


class PeakMemory:
    """Peak memory used by the work inside a ``with`` block, above the level at its start.

    On CUDA: ``torch.cuda.max_memory_allocated`` (tensors only). On a Linux CPU: the resident set size, sampled every
    millisecond by a thread, after returning freed heap pages to the system (``malloc_trim``) so that memory freed by
    earlier work does not hide new use. Elsewhere on a CPU: the growth of the process's lifetime maximum RSS, which
    is 0 when earlier work peaked higher (the result is then a lower bound).

    Example:
        >>> with PeakMemory(device) as memory:
        ...     work()
        >>> memory.megabytes
    """

    def __init__(self, device: torch.device, interval: float = 0.001) -> None:
        self.device = device
        self.interval = interval
        self.bytes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start = 0
        self._peak = 0

    @property
    def megabytes(self) -> float:
        return self.bytes / 2**20

    @property
    def kind(self) -> str:
        """What was measured: "cuda-allocated", "rss-sampled" or "max-rss-growth"."""
        if self.device.type == "cuda":
            return "cuda-allocated"
        return "rss-sampled" if _statm_available() else "max-rss-growth"

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._start = torch.cuda.memory_allocated(self.device)
        elif _statm_available():
            _malloc_trim()
            self._start = self._peak = _rss()
            self._stop.clear()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        else:
            self._start = _max_rss()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.device.type == "cuda":
            synchronize(self.device)
            self.bytes = torch.cuda.max_memory_allocated(self.device) - self._start
        elif self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
            self.bytes = max(self._peak, _rss()) - self._start
        else:
            self.bytes = _max_rss() - self._start

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self._peak = max(self._peak, _rss())


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _statm_available() -> bool:
    return os.path.exists("/proc/self/statm")


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * _PAGE


def _max_rss() -> int:
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return usage if sys.platform == "darwin" else usage * 1024  # bytes on macOS, KiB on Linux


def _malloc_trim() -> None:
    name = ctypes.util.find_library("c")
    if name:
        try:
            ctypes.CDLL(name).malloc_trim(0)
        except (OSError, AttributeError):  # not glibc
            pass
