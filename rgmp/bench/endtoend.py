"""End to end against the network alone, measured so that a noisy machine's drift cancels out.

One session runs through a real clip in blocks of frames that take turns: a block of the network alone (frames
already decoded, results dropped) and a block with everything around it, as ``segment`` or the demo does it
(frames decoded ahead from the file, and that writer set's files and videos, written and closed before the block
ends; reader and writers at the idle priority, as the entry points run them). Each block with I/O is set against
the mean of the two blocks alone beside it, a few seconds apart, so that a shared machine's drift between whole runs
does not bury a difference of a few percent.

Last come blocks of the I/O alone: the same reader and writers with the network skipped (a warm-up frame's result
written for each frame). Their rate is the most the host can feed and write, whatever the device: a fast GPU
reaches 90% of its own rate end to end only where the I/O alone runs well above it.

What leaks between blocks is small: the reader decodes at most its read-ahead (4 frames) during a block alone.
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
    """A fresh writer set into ``folder``, as the command line (``cli``) or the demo (level-1 PNGs) writes."""
    overlay = folder / "overlay.mp4"
    if kind == "cli":
        return ClipWriter(folder, overlay_path=overlay, fps=fps, priority="idle")
    cutout = None if kind == "demo-none" else folder / "cutout.mp4"
    return ClipWriter(folder, png_level=1, overlay_path=overlay, cutout_path=cutout, fps=fps, priority="idle")


def _looped(video: Path) -> Iterator[np.ndarray]:
    while True:
        yield from iter_video(video)


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
    """Time each writer set against the network alone, over ``pairs`` blocks of ``block`` frames each.

    Args:
        session: the inference session (model, device, precision, processing size).
        video: the clip; frames are decoded from it in the blocks with I/O.
        mask: (H, W) label map of its first frame.
        writers: keys of :data:`WRITERS`, timed in turn (block alone, block with writer 1, block alone, ...).
        pairs: blocks with I/O per writer set, and as many blocks of its I/O alone.
        block: frames per block.
        warmup: untimed frames first.
        progress: called with a line after each pair of blocks, and once after the blocks of the I/O alone.

    Returns:
        One record per writer set: frame rates of the network alone, with I/O and of the I/O alone (medians
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
    in_memory = [frame for _, frame in zip(range(MAX_FRAMES_IN_MEMORY), iter_video(video), strict=False)]
    state: dict[str, Any] = {"io": False}
    decoded = prefetch(_looped(video), priority="idle")

    def frames() -> Iterator[np.ndarray]:
        for index in itertools.count():
            yield next(decoded) if state["io"] else in_memory[index % len(in_memory)]

    results = session.propagate(frames(), mask)
    scratch = Path(tempfile.mkdtemp(prefix="rgmp-end-to-end-"))
    try:
        for _ in range(1 + warmup):
            warm = next(results)

        def timed_block(kind: str | None, network: bool = True) -> float:
            """Frames per second of one block: the network alone (``kind`` None), with that writer set, or that
            writer set alone (``network`` False: ``warm``'s result written for each decoded frame)."""
            state["io"] = kind is not None
            folder = scratch / "block"
            folder.mkdir()
            began = time.perf_counter()
            if kind is None:
                for _ in range(block):
                    next(results)
            else:
                with _open_writer(kind, folder, fps) as writer:
                    for index in range(block):
                        if network:
                            writer.write(dataclasses.replace(next(results), index=index))
                        else:
                            writer.write(dataclasses.replace(warm, index=index, frame=next(decoded)))
            rate = block / (time.perf_counter() - began)
            masks = len(list(folder.glob("*.png")))
            if kind is not None and masks != block:
                raise RuntimeError(f"the {kind} writers wrote {masks} of {block} masks")
            shutil.rmtree(folder)
            return rate

        alone = [timed_block(None)]
        timed: dict[str, list[float]] = {kind: [] for kind in writers}
        for pair in range(pairs):
            for kind in writers:
                timed[kind].append(timed_block(kind))
                alone.append(timed_block(None))
            if progress is not None:
                progress(f"pair {pair + 1}/{pairs}: " + ", ".join(f"{k} {v[-1]:.2f} fps" for k, v in timed.items()))
        io_alone = {kind: [timed_block(kind, network=False) for _ in range(pairs)] for kind in writers}
        if progress is not None:
            progress("I/O alone: " + ", ".join(f"{k} {statistics.median(v):.1f} fps" for k, v in io_alone.items()))
    finally:
        results.close()
        decoded.close()
        shutil.rmtree(scratch, ignore_errors=True)
    return [
        _record(kind, slot, len(writers), alone, timed[kind], io_alone[kind], block, session)
        for slot, kind in enumerate(writers)
    ]


def _record(kind: str, slot: int, kinds: int, alone: list[float], rates: list[float], io_rates: list[float],
            block: int, session: Session) -> dict[str, Any]:  # fmt: skip
    """One writer set's record. Its i-th block ran between the alone blocks ``i * kinds + slot`` and the next."""
    beside = [(alone[i * kinds + slot] + alone[i * kinds + slot + 1]) / 2 for i in range(len(rates))]
    ratios = sorted(rate / base for rate, base in zip(rates, beside, strict=True))
    return {
        "writers": kind,
        "writes": WRITERS[kind],
        "model": session.model.config.name,
        "device": str(session.device),
        "device_name": device_name(session.device),
        "host_cpu": device_name(torch.device("cpu")),
        "dtype": str(session.dtype or "float32").replace("torch.", ""),
        "pairs": len(rates),
        "block_frames": block,
        "alone_fps": statistics.median(alone),
        "end_to_end_fps": statistics.median(rates),
        "io_alone_fps": statistics.median(io_rates),
        "ratio_median": statistics.median(ratios),
        "ratio_q1": ratios[len(ratios) // 4],
        "ratio_q3": ratios[(3 * len(ratios)) // 4],
        "ratio_of_sums": sum(1 / r for r in beside) / sum(1 / r for r in rates),
    }


def end_to_end_table(records: list[dict[str, Any]]) -> str:
    """Markdown table of :func:`run_end_to_end`'s records."""
    lines = [
        "| writers | what is written | network alone fps | end-to-end fps | share of network alone (median) | "
        "quartiles | share of summed times | I/O alone fps |",
        "| --- | --- | ---: | ---: | ---: | --- | ---: | ---: |",
    ]
    for r in records:
        lines.append(
            f"| {r['writers']} | {r['writes']} | {r['alone_fps']:.2f} | {r['end_to_end_fps']:.2f} | "
            f"{r['ratio_median']:.1%} | {r['ratio_q1']:.1%}–{r['ratio_q3']:.1%} | {r['ratio_of_sums']:.1%} | "
            f"{r['io_alone_fps']:.1f} |"
        )
    return "\n".join(lines)
