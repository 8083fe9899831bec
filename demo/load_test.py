"""Load test: several ``gradio_client`` calls of ``/segment_video`` at once against the demo served on loopback.

``python -m demo.load_test`` serves the page in this process on 127.0.0.1 (a free port, its own temporary folder)
and sends ``--clients`` calls at once, each with a clip of ``--frames`` frames cut from the rollerblade example.
It reports how each call ended (done, or told the queue is full), how long it took, the server's resident
memory, whether every temporary file is gone once ``--file-age`` has passed, and whether the log holds a
traceback; it exits 1 when a call failed otherwise, a file stayed, or a traceback was logged. The test suite runs
it with a random network (``tests/test_demo_load.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import socket
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from demo.example_clips import EXAMPLES_DIR

CLIP = EXAMPLES_DIR / "rollerblade.mp4"
MASK = EXAMPLES_DIR / "rollerblade.png"


@dataclass
class LoadReport:
    """What happened.

    Attributes:
        outcomes: per call, "done", "queue full" or the error's text, in call order.
        seconds: per call, wall time.
        wall: seconds from the first call to the last answer.
        rss_mb: (before, peak) resident memory of this process (server and clients), in MB.
        leftover_files: files under the temporary folder once the file age has passed (and one sweep after),
            but for the ones there before the calls (the examples Gradio keeps in its cache).
        cleaned_after: seconds from the last answer until no such file was left (or the check gave up).
        tracebacks: lines of the log (stderr and logging) that start a traceback.
    """

    outcomes: list[str] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    wall: float = 0.0
    rss_mb: tuple[float, float] = (0.0, 0.0)
    leftover_files: list[str] = field(default_factory=list)
    cleaned_after: float = 0.0
    tracebacks: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every call finished or was told the queue is full; no file left; no traceback."""
        return (
            all(o in ("done", "queue full") for o in self.outcomes) and not self.leftover_files and not self.tracebacks
        )

    def summary(self) -> str:
        done = self.outcomes.count("done")
        full = self.outcomes.count("queue full")
        times = sorted(self.seconds)
        return (
            f"{len(self.outcomes)} calls: {done} done, {full} told the queue is full, "
            f"{len(self.outcomes) - done - full} failed; call times {times[0]:.1f}–{times[-1]:.1f} s, all in "
            f"{self.wall:.1f} s; resident memory {self.rss_mb[0]:.0f} MB before, {self.rss_mb[1]:.0f} MB at most; "
            f"{len(self.leftover_files)} temporary files left {self.cleaned_after:.0f} s after the last answer; "
            f"{len(self.tracebacks)} tracebacks"
        )


def resident_mb() -> float:
    """This process's resident memory (Linux ``/proc``), in MB."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def make_clip(path: Path, frames: int) -> Path:
    """The first ``frames`` frames of the rollerblade example as an H.264 mp4 at ``path``."""
    from rgmp.io.video import iter_video, probe_video
    from rgmp.io.video_writer import VideoWriter

    with VideoWriter(path, probe_video(CLIP).fps) as writer:
        for frame in iter_video(CLIP, frames):
            writer.write(frame)
    return path


def run_load_test(
    *,
    model_loader=None,
    clients: int = 8,
    frames: int = 30,
    queue_size: int = 32,
    file_age_s: int = 300,
    size: int = 480,
    timeout_s: float = 600.0,
    folder: Path | None = None,
) -> LoadReport:
    """Serve the demo on loopback and send ``clients`` calls at once; see the module docstring.

    Args:
        model_loader: key → network (:mod:`demo.models`); default: the installed weights.
        clients: calls sent at once.
        frames: frames of each call's clip.
        queue_size: most requests waiting (``RGMP_DEMO_QUEUE_SIZE``); the others are told the queue is full.
        file_age_s: age after which temporary files are deleted (``RGMP_DEMO_FILE_AGE_S``).
        size: processing size (short side, px).
        timeout_s: longest wait for all the answers.
        folder: the server's temporary folder (``GRADIO_TEMP_DIR``); default: a new one, removed afterwards.
    """
    from gradio_client import Client, handle_file
    from gradio_client.utils import QueueError

    from demo.app import build_demo, launch_demo
    from demo.limits import Limits

    report = LoadReport()
    with contextlib.ExitStack() as stack:
        if folder is None:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="rgmp-load-")))
        server_dir, client_dir = folder / "server", folder / "client"
        clip = make_clip(Path(stack.enter_context(tempfile.TemporaryDirectory())) / "clip.mp4", frames)
        log = io.StringIO()
        stack.enter_context(_captured(log))
        stack.enter_context(_environ(GRADIO_TEMP_DIR=str(server_dir)))
        limits = Limits(queue_size=queue_size, file_age_s=file_age_s)
        work_root = server_dir / "rgmp-demo"
        demo = build_demo(model_loader=model_loader, limits=limits, work_root=work_root, default_size=size)
        _, url, _ = launch_demo(demo, port=_free_port(), limits=limits, work_root=work_root, block=False, quiet=True)
        stack.callback(demo.close)
        before = _files(server_dir)
        report.rss_mb = (resident_mb(), resident_mb())
        sampling = threading.Event()
        sampler = threading.Thread(target=_sample_rss, args=(report, sampling), daemon=True)
        sampler.start()

        def call(_: int) -> tuple[str, float]:
            began = time.perf_counter()
            try:
                client = Client(url, verbose=False, download_files=str(client_dir))
                client.predict(handle_file(str(clip)), handle_file(str(MASK)), api_name="/segment_video")
                outcome = "done"
            except QueueError:
                outcome = "queue full"
            except Exception as err:  # reported, not raised: the load test counts failures
                outcome = f"{type(err).__name__}: {err}"
            return outcome, time.perf_counter() - began

        began = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            results = list(pool.map(call, range(clients), timeout=timeout_s))
        report.wall = time.perf_counter() - began
        sampling.set()
        sampler.join()
        report.outcomes = [outcome for outcome, _ in results]
        report.seconds = [seconds for _, seconds in results]
        deadline = time.monotonic() + file_age_s + max(1, file_age_s // 4) + 1.5  # the age, one sweep, a margin
        while True:
            report.leftover_files = sorted(str(path.relative_to(server_dir)) for path in _files(server_dir) - before)
            if not report.leftover_files or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        report.cleaned_after = time.perf_counter() - began - report.wall
        report.tracebacks = [line for line in log.getvalue().splitlines() if line.startswith("Traceback")]
    return report


def _files(root: Path) -> set[Path]:
    """The files under ``root`` now. ``os.walk`` skips a folder the demo's sweep deletes during the walk, where
    ``Path.rglob`` raises."""
    return {Path(folder) / name for folder, _, names in os.walk(root) for name in names}


def _sample_rss(report: LoadReport, stop: threading.Event) -> None:
    while not stop.wait(0.2):
        report.rss_mb = (report.rss_mb[0], max(report.rss_mb[1], resident_mb()))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _environ(**values: str):
    previous = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def _captured(log: io.StringIO):
    """Copy stderr and every log record (with its traceback) into ``log``."""

    class Tee(io.TextIOBase):
        def __init__(self, stream):
            self.stream = stream

        def write(self, text: str) -> int:
            log.write(text)
            return self.stream.write(text)

        def flush(self) -> None:
            self.stream.flush()

    handler = logging.StreamHandler(log)
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    with contextlib.redirect_stderr(Tee(sys.stderr)):
        try:
            yield
        finally:
            logging.getLogger().removeHandler(handler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo.load_test", description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8, help="calls sent at once (default 8)")
    parser.add_argument("--frames", type=int, default=30, help="frames of each call's clip (default 30)")
    parser.add_argument("--queue-size", type=int, default=32, help="most requests waiting (default 32)")
    parser.add_argument(
        "--file-age",
        type=int,
        default=300,
        help="temporary files deleted after this many seconds (default 300: more than the last call waits, or its "
        "upload is deleted while it is queued)",
    )
    parser.add_argument("--size", type=int, default=480, help="processing size, short side (default 480)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for the network")
    parser.add_argument("--random-weights", action="store_true", help="a random network instead of the starter one")
    args = parser.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    from demo.models import random_model_loader

    report = run_load_test(
        model_loader=random_model_loader() if args.random_weights else None,
        clients=args.clients,
        frames=args.frames,
        queue_size=args.queue_size,
        file_age_s=args.file_age,
        size=args.size,
    )
    print(report.summary())
    for index, (outcome, seconds) in enumerate(zip(report.outcomes, report.seconds, strict=True)):
        print(f"  call {index}: {outcome} ({seconds:.1f} s)")
    for path in report.leftover_files[:20]:
        print(f"  left: {path}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
