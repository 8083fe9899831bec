"""The peak memory of a piece of work, on a CPU or a GPU."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import resource
import sys
import threading

import torch

from rgmp.device import synchronize

STATM = "/proc/self/statm"
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class PeakMemory:
    """Peak memory used inside a ``with`` block above the level at its start, in :attr:`bytes` and :attr:`megabytes`.

    :attr:`kind` says how it is measured: "cuda-allocated" (``torch.cuda.max_memory_allocated``, tensors only);
    "rss-sampled" (Linux CPU: the resident set size sampled every ``interval`` seconds by a thread, after
    ``malloc_trim`` returned freed heap pages so that earlier work does not hide new use); "max-rss-growth" (other
    CPUs: growth of the process's maximum RSS, a lower bound, 0 when earlier work peaked higher).
    """

    def __init__(self, device: torch.device, interval: float = 0.001) -> None:
        self.device, self.interval, self.bytes = device, interval, 0
        if device.type == "cuda":
            self.kind = "cuda-allocated"
        else:
            self.kind = "rss-sampled" if os.path.exists(STATM) else "max-rss-growth"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start = self._peak = 0

    @property
    def megabytes(self) -> float:
        return self.bytes / 2**20

    def __enter__(self) -> PeakMemory:
        if self.kind == "cuda-allocated":
            synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._start = torch.cuda.memory_allocated(self.device)
        elif self.kind == "rss-sampled":
            _malloc_trim()
            self._start = self._peak = _rss()
            self._stop.clear()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        else:
            self._start = _max_rss()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.kind == "cuda-allocated":
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


def _rss() -> int:
    with open(STATM) as fh:
        return int(fh.read().split()[1]) * PAGE


def _max_rss() -> int:
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return usage if sys.platform == "darwin" else usage * 1024  # bytes on macOS, KiB on Linux


def _malloc_trim() -> None:
    name = ctypes.util.find_library("c")
    if name:
        with contextlib.suppress(OSError, AttributeError):  # not glibc
            ctypes.CDLL(name).malloc_trim(0)
