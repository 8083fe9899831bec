"""End to end against the network alone, measured so that a noisy machine's drift cancels out.

One session runs a real clip in blocks of frames that take turns: a block of the network alone (frames already
decoded, results dropped), then a block with everything ``segment`` or the demo does around it (frames decoded ahead
from the file, a writer set's files and videos written and closed within the block; reader and writers at the idle
priority). Each block with I/O is set against the mean of the two blocks alone beside it, seconds apart. Last come
blocks of the I/O alone (a warm-up result written for each frame, no network): the most the host can feed and write.
"""

from __future__ import annotations

import dataclasses
import itertools
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rgmp.bench import BenchmarkError
from rgmp.bench.tables import markdown_table
from rgmp.device import device_name
from rgmp.inference import Session
from rgmp.io.outputs import ClipWriter
from rgmp.io.pipeline import prefetch
from rgmp.io.video import iter_video, probe_video

WRITERS = {
    "cli": "segment --overlay: PNG per frame, overlay video",
    "demo": "demo run: PNG per frame, overlay and green cut-out videos",
    "demo-none": "demo API (/segment_video), or cut-out 'none': PNG per frame, overlay video",
}
"""The writer sets ``bench --end-to-end`` can time, and what each writes."""

MAX_FRAMES_IN_MEMORY = 300
"""Frames decoded beforehand for the blocks alone (480p: 370 MB); longer clips are cycled over these."""


def _open_writer(kind: str, folder: Path, fps: float) -> ClipWriter:
    """A writer set into ``folder``, as the command line (``cli``) or the demo (level-1 PNGs) writes."""
    overlay = folder / "overlay.mp4"
    if kind == "cli":
        return ClipWriter(folder, overlay_path=overlay, fps=fps, priority="idle")
    cutout = None if kind == "demo-none" else folder / "cutout.mp4"
    return ClipWriter(folder, png_level=1, overlay_path=overlay, cutout_path=cutout, fps=fps, priority="idle")


def run_end_to_end(
    session: Session,
    video: Path,
    mask: np.ndarray,
    writers: tuple[str, ...] = ("cli",),
    *,
    pairs: int = 12,
    block: int = 30,
    warmup: int = 10,
    progress: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Time each writer set (keys of :data:`WRITERS`) against the network alone, ``pairs`` blocks of ``block`` frames
    each, after ``warmup`` untimed frames; ``mask`` is the (H, W) label map of the clip's first frame.

    Returns:
        One record per writer set: frame rates of the network alone, end to end and of the I/O alone (medians
        over the blocks), the ratio's median and quartiles over the pairs, and the ratio of the summed times.

    Raises:
        BenchmarkError: an unknown writer set, or fewer than one pair or frame (before any work).
    """
    unknown = [w for w in writers if w not in WRITERS]
    if unknown:
        raise BenchmarkError(f"writers must be among {', '.join(WRITERS)}, got {', '.join(unknown)}")
    if pairs < 1 or block < 1:
        raise BenchmarkError(f"pairs and block must be at least 1, got {pairs} and {block}")
    fps = probe_video(video).fps
    in_memory = list(itertools.islice(iter_video(video), MAX_FRAMES_IN_MEMORY))
    decoded = prefetch((frame for _ in itertools.count() for frame in iter_video(video)), priority="idle")
    io = False  # where the next frame comes from: the reader (True) or memory

    def frames() -> Iterator[np.ndarray]:
        for index in itertools.count():
            yield next(decoded) if io else in_memory[index % len(in_memory)]

    results = session.propagate(frames(), mask)
    scratch = Path(tempfile.mkdtemp(prefix="rgmp-end-to-end-"))

    def timed_block(kind: str | None, network: bool = True) -> float:
        """Frames per second of one block: the network alone (``kind`` None), with that writer set, or that writer
        set alone (``network`` False: the warm-up result written for each decoded frame)."""
        nonlocal io
        io, folder = kind is not None, scratch / "block"
        folder.mkdir()
        began = time.perf_counter()
        if kind is None:
            for _ in range(block):
                next(results)
        else:
            with _open_writer(kind, folder, fps) as writer:
                for index in range(block):
                    result = next(results) if network else dataclasses.replace(warm, frame=next(decoded))
                    writer.write(dataclasses.replace(result, index=index))
        rate = block / (time.perf_counter() - began)
        written = len(list(folder.glob("*.png")))
        if kind is not None and written != block:
            raise RuntimeError(f"the {kind} writers wrote {written} of {block} masks")
        shutil.rmtree(folder)
        return rate

    try:
        for _ in range(1 + warmup):
            warm = next(results)
        alone = [timed_block(None)]
        timed: dict[str, list[float]] = {kind: [] for kind in writers}
        beside: dict[str, list[float]] = {kind: [] for kind in writers}  # the mean of the blocks alone around each
        for pair in range(pairs):
            for kind in writers:
                timed[kind].append(timed_block(kind))
                alone.append(timed_block(None))
                beside[kind].append((alone[-2] + alone[-1]) / 2)
            if progress is not None:
                progress(f"pair {pair + 1}/{pairs}: " + ", ".join(f"{k} {v[-1]:.2f} fps" for k, v in timed.items()))
        io_alone = {kind: [timed_block(kind, network=False) for _ in range(pairs)] for kind in writers}
        if progress is not None:
            progress("I/O alone: " + ", ".join(f"{k} {statistics.median(v):.1f} fps" for k, v in io_alone.items()))
    finally:
        results.close()
        decoded.close()
        shutil.rmtree(scratch, ignore_errors=True)
    return [_record(kind, alone, timed[kind], beside[kind], io_alone[kind], block, session) for kind in writers]


def _record(kind: str, alone: list[float], rates: list[float], beside: list[float], io_rates: list[float],
            block: int, session: Session) -> dict[str, Any]:  # fmt: skip
    """One writer set's record: ``rates`` of its blocks, ``beside`` of the blocks alone around each (means)."""
    ratios = sorted(rate / base for rate, base in zip(rates, beside, strict=True))
    return {
        "writers": kind, "writes": WRITERS[kind], "model": session.model.config.name, "device": str(session.device),
        "device_name": device_name(session.device), "host_cpu": device_name(torch.device("cpu")),
        "dtype": str(session.dtype or "float32").replace("torch.", ""), "pairs": len(rates), "block_frames": block,
        "alone_fps": statistics.median(alone), "end_to_end_fps": statistics.median(rates),
        "io_alone_fps": statistics.median(io_rates), "ratio_median": statistics.median(ratios),
        "ratio_q1": ratios[len(ratios) // 4], "ratio_q3": ratios[(3 * len(ratios)) // 4],
        "ratio_of_sums": sum(1 / r for r in beside) / sum(1 / r for r in rates),
    }  # fmt: skip


def end_to_end_table(records: list[dict[str, Any]]) -> str:
    """Markdown table of :func:`run_end_to_end`'s records."""
    header = ["writers", "what is written", "network alone fps", "end-to-end fps", "share of network alone (median)",
              "quartiles", "share of summed times", "I/O alone fps"]  # fmt: skip
    rows = [[r["writers"], r["writes"], f"{r['alone_fps']:.2f}", f"{r['end_to_end_fps']:.2f}",
             f"{r['ratio_median']:.1%}", f"{r['ratio_q1']:.1%}–{r['ratio_q3']:.1%}", f"{r['ratio_of_sums']:.1%}",
             f"{r['io_alone_fps']:.1f}"] for r in records]  # fmt: skip
    return markdown_table(header, rows, [False, False, True, True, True, False, True, True])
