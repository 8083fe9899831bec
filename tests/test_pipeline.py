"""Read-ahead and background writing keep order, bound memory and pass errors on."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from rgmp.io.pipeline import OPENMP_SPINCOUNT, BackgroundWriter, prefetch, shorten_openmp_spin, writer_threads


def test_prefetch_keeps_order_and_runs_ahead_boundedly():
    produced = []

    def source():
        for i in range(20):
            produced.append(i)
            yield i

    stream = prefetch(source(), depth=3)
    assert next(stream) == 0
    time.sleep(0.2)
    assert len(produced) <= 1 + 3 + 1  # consumed + buffered + one waiting to be put
    assert list(stream) == list(range(1, 20))


def test_prefetch_reraises_at_the_same_position():
    def source():
        yield 1
        raise ValueError("broken frame")

    stream = prefetch(source())
    assert next(stream) == 1
    with pytest.raises(ValueError, match="broken frame"):
        next(stream)


def test_prefetch_stops_its_thread_and_closes_the_source_when_closed():
    closed = threading.Event()

    def source():
        try:
            yield from range(10**9)
        finally:
            closed.set()  # what a video reader does: close its file

    frames = source()  # kept referenced here, so only an explicit close can run its finally
    stream = prefetch(frames, depth=2)
    next(stream)
    stream.close()
    time.sleep(0.3)
    assert not any(t.name == "rgmp-prefetch" and t.is_alive() for t in threading.enumerate())
    assert closed.is_set()
    short = prefetch(iter(range(3)), depth=2)  # the source ends while the buffer is full: the end marker waits
    next(short)
    time.sleep(0.3)
    start = time.perf_counter()
    short.close()
    assert time.perf_counter() - start < 1  # the producer gave up on the end marker instead of blocking
    assert not any(t.name == "rgmp-prefetch" and t.is_alive() for t in threading.enumerate())


def test_background_writer_runs_jobs_in_order_off_thread():
    seen, threads = [], set()

    def job(i):
        threads.add(threading.current_thread().name)
        seen.append(i)

    with BackgroundWriter(depth=2) as writer:
        for i in range(10):
            writer.submit(job, i)
    assert seen == list(range(10))
    assert all(name.startswith("rgmp-writer") for name in threads)


def test_background_writer_with_workers_runs_jobs_side_by_side_and_hands_back_results():
    both_running = threading.Barrier(2, timeout=5)  # broken (an error) unless two jobs run at the same time

    def job(i):
        both_running.wait()
        return i * i

    with BackgroundWriter(workers=2) as writer:
        futures = [writer.submit(job, i) for i in range(4)]
    assert [f.result() for f in futures] == [0, 1, 4, 9]
    assert 1 <= writer_threads() <= 4


def test_background_writer_reports_a_failed_job():
    def fail():
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"), BackgroundWriter() as writer:
        writer.submit(fail)
        time.sleep(0.1)
        writer.submit(lambda: None)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread scheduling policies are Linux's")
def test_the_reader_and_the_writers_yield_the_cpu_to_the_network():
    def policy() -> int:
        return os.sched_getscheduler(0)

    before, seen = policy(), []
    with BackgroundWriter(priority="idle") as writer:
        writer.submit(lambda: seen.append(policy()))

    def source():
        seen.append(policy())
        yield 1

    assert list(prefetch(source(), priority="idle")) == [1]
    assert seen == [os.SCHED_IDLE, os.SCHED_IDLE] and policy() == before  # the caller keeps its own policy
    seen.clear()
    with BackgroundWriter() as writer:  # the default: the threads keep the process's priority
        writer.submit(lambda: seen.append(policy()))
    assert list(prefetch(source())) == [1] and seen == [before, before]
    with pytest.raises(ValueError, match="priority must be one of normal, idle"):
        BackgroundWriter(priority="low")  # type: ignore[arg-type]


def test_openmp_spin_is_shortened_unless_the_user_chose_it(monkeypatch):
    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    shorten_openmp_spin()
    assert os.environ["GOMP_SPINCOUNT"] == OPENMP_SPINCOUNT
    monkeypatch.setenv("GOMP_SPINCOUNT", "INFINITY")
    shorten_openmp_spin()
    assert os.environ["GOMP_SPINCOUNT"] == "INFINITY"


SEEN_WHEN_TORCH_LOADS = """
import importlib.abc, os, runpy, sys
seen = []
class Watch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torch" and not seen:
            seen.append(os.environ.get("GOMP_SPINCOUNT"))
sys.meta_path.insert(0, Watch())
sys.argv = sys.argv[1:]
try:
    runpy.run_path(sys.argv[0], run_name="__main__") if sys.argv[0].endswith(".py") else runpy.run_module(
        sys.argv[0], run_name="__main__")
except SystemExit:
    pass
print(seen[0] if seen else "torch not loaded", os.environ.get("GOMP_SPINCOUNT"))
"""


def test_the_entry_points_shorten_openmp_spin_before_torch_loads(tmp_path):
    root = Path(__file__).parents[1]
    env = {k: v for k, v in os.environ.items() if k != "GOMP_SPINCOUNT"}

    def seen(*argv: str) -> list[str]:
        command = [sys.executable, "-c", SEEN_WHEN_TORCH_LOADS, *argv]
        return (
            subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, check=True)
            .stdout.splitlines()[-1]
            .split()
        )

    missing = str(tmp_path / "missing")  # the command fails on it, after loading torch
    assert seen("rgmp", "segment", "--video", f"{missing}.mp4", "--mask", f"{missing}.png", "--out", missing) == [
        OPENMP_SPINCOUNT,
        OPENMP_SPINCOUNT,
    ]
    assert seen("app.py", "--help") == ["torch", "not", "loaded", "None"]  # no work at import time or for --help
    assert seen("app.py", "--device", "nonsense") == [OPENMP_SPINCOUNT, OPENMP_SPINCOUNT]  # set up, then refused
