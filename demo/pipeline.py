"""One segmentation run over a clip, streamed: a progress item per frame, then the files.

The latest result of every frame is kept in the workspace's masks folder: its palette PNG and, in ``alpha/``, its
objects' alpha mattes (:mod:`rgmp.io.exports`), from which the run's zips are made.

The annotated frame ``start`` is the reference (the paper's conclusion: a corrected frame becomes the new
reference). Frames after it are propagated forward. Frames before it keep their earlier result when they have
one; when some have none (or the user asks), they are propagated backward from ``start`` first
(:meth:`rgmp.inference.Session.propagate` in both directions). Frames are decoded lazily. A clip that turns out to
be damaged part way through ends the run there: the files cover the frames before the damage, and the result says
where the file ends.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rgmp.inference import FrameResult, Session
from rgmp.inference.session import object_ids_of
from rgmp.io.exports import ALPHA_DIR, alpha_path
from rgmp.io.masks import read_mask, write_mask
from rgmp.io.outputs import ClipWriter, VideoOptions, zip_exports, zip_masks
from rgmp.io.pipeline import prefetch
from rgmp.io.video import VideoError, iter_video

MASK_PNG_LEVEL = 1
"""zlib level of the demo's mask PNGs and mattes: the same pixels as the official level 6 for half the CPU (files
about twice as large), which on a small CPU is taken from the network (:func:`rgmp.io.masks.write_mask`)."""


@dataclass(frozen=True)
class RunProgress:
    """One frame done.

    Attributes:
        done: frames segmented so far in this run.
        total: frames this run segments (None when the clip's length is unknown).
        index: the frame just segmented.
        elapsed: seconds since the run started.
        draw: returns that frame's result as drawn in the overlay video (:attr:`preview`); it is drawn on the
            background writers, or only when asked for while the videos wait for earlier frames, so the network's
            thread never waits for a drawing that is not shown.
        backward: True during the backward pass.
    """

    done: int
    total: int | None
    index: int
    elapsed: float
    draw: Callable[[], np.ndarray]
    backward: bool

    @property
    def preview(self) -> np.ndarray:
        """(H, W', 3) uint8: the frame's result as drawn in the overlay video."""
        return self.draw()

    @property
    def fps(self) -> float:
        """Frames segmented per second so far."""
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left at the current speed (None when unknown)."""
        if self.total is None or self.fps == 0:
            return None
        return (self.total - self.done) / self.fps


@dataclass(frozen=True)
class RunResult:
    """The files of a finished (or stopped) run.

    Attributes:
        overlay: overlay video, None when the run stopped during the backward pass.
        cutout: cut-out video (mp4 or WebM with alpha), None likewise or when none was asked for.
        masks_zip: one palette PNG per frame ``00000.png``... of frames ``0..frames-1``, None likewise.
        exports: the same frames as COCO run-length encoding and alpha mattes (:func:`rgmp.io.outputs.zip_exports`),
            None likewise.
        frames: how many frames the files cover (from frame 0).
        segmented: frames the network segmented in this run.
        stopped: the Stop button ended the run early.
        elapsed: seconds the run took.
        problem: why the run ended before the last frame when the clip itself is to blame (a file cut short or
            damaged part way through), else None.
    """

    overlay: Path | None
    cutout: Path | None
    masks_zip: Path | None
    exports: Path | None
    frames: int
    segmented: int
    stopped: bool
    elapsed: float
    problem: str | None = None


class _StoppedBackward(Exception):
    """Stop was pressed during the backward pass: the run hands back no files."""


def segment_clip(
    session: Session,
    video: Path,
    labels: np.ndarray,
    *,
    start: int,
    max_frames: int | None,
    fps: float,
    masks_dir: Path,
    out_dir: Path,
    options: VideoOptions,
    stop: threading.Event,
    redo_earlier: bool = False,
) -> Iterator[RunProgress | RunResult]:
    """Segment ``video`` from the label map of frame ``start``.

    Args:
        session: the inference session (network, device, scales, processing size, online learning).
        video: the clip.
        labels: (H, W) uint8 label map of frame ``start``, at the clip's frame size.
        start: index of the annotated frame.
        max_frames: process at most this many frames from the beginning (None: all).
        fps: the clip's frame rate (for the videos written).
        masks_dir: the latest result per frame, ``00000.png``...; read for frames before ``start`` and
            updated with this run's results.
        out_dir: where this run's files go.
        options: overlay style and cut-out background.
        stop: checked after every frame; when set, the run ends and hands back what it has.
        redo_earlier: propagate backward over frames before ``start`` even when they have results.

    Yields:
        :class:`RunProgress` after each segmented frame (the backward pass's first, then the annotated frame and
        the forward pass's), then one :class:`RunResult`.

    Raises:
        SessionError, VideoError: bad mask or clip, found before any frame is written; damage found later ends
            the run with :attr:`RunResult.problem` instead.
    """
    began = time.perf_counter()
    masks_dir.mkdir(parents=True, exist_ok=True)
    backward = start > 0 and (redo_earlier or not all(_mask_path(masks_dir, i).is_file() for i in range(start)))
    total = None if max_frames is None else max_frames - (0 if backward else start)
    stem = video.stem
    overlay_path = out_dir / f"{stem}_overlay.mp4"
    cutout_path = None if options.cutout_suffix is None else out_dir / f"{stem}_cutout{options.cutout_suffix}"
    done, last, problem, segmented = 0, start - 1, None, []

    def progress(result: FrameResult, drawn: Future[np.ndarray] | None) -> RunProgress:
        nonlocal done
        done += 1
        draw = (
            drawn.result if drawn is not None else functools.partial(options.overlay_frame, result.frame, result.labels)
        )
        return RunProgress(done, total, result.index, time.perf_counter() - began, draw, result.index < start)

    masks = ClipWriter(masks_dir, formats=("png", "alpha"), png_level=MASK_PNG_LEVEL, priority="idle")
    videos = ClipWriter(
        None, overlay_path=overlay_path, cutout_path=cutout_path, options=options, fps=fps, priority="idle"
    )
    frames = prefetch(iter_video(video, max_frames), priority="idle")  # decoded ahead, in a thread
    stopped_backward = False
    with masks:  # the masks of every frame segmented are kept, even when Stop ends the backward pass
        try:
            with videos, closing(frames):
                if backward:
                    results = session.propagate(frames, labels, start=start, direction="both")
                else:
                    results = session.propagate(_earlier_into(videos, frames, masks_dir, start), labels, start=start)
                annotated = None  # in a backward run, the annotated frame's progress comes after the backward pass
                with closing(results):
                    try:
                        for result in results:
                            masks.write(result)
                            segmented.append(result.index)
                            drawn = videos.write(result)
                            if result.index >= start:
                                last = result.index
                            if backward and result.index == start:
                                annotated = (result, drawn)
                                continue
                            yield progress(result, drawn)
                            if stop.is_set() and result.index < start:
                                raise _StoppedBackward
                            if annotated is not None and result.index == 0:
                                yield progress(*annotated)
                                annotated = None
                            if stop.is_set():
                                break
                    except VideoError as err:
                        if last < start:  # not even the annotated frame: nothing to keep
                            raise
                        problem = str(err)
        except _StoppedBackward:  # the videos are dropped; the masks written are kept
            stopped_backward = True
    _drop_stale_mattes(masks_dir, segmented, object_ids_of(labels))
    if stopped_backward:
        yield RunResult(None, None, None, None, 0, done, True, time.perf_counter() - began)
        return
    masks_zip = zip_masks(masks_dir, range(last + 1), out_dir / f"{stem}_masks.zip")
    exports = zip_exports(masks_dir, range(last + 1), out_dir / f"{stem}_exports.zip", stem)
    elapsed = time.perf_counter() - began
    yield RunResult(overlay_path, cutout_path, masks_zip, exports, last + 1, done, stop.is_set(), elapsed, problem)


def _mask_path(masks_dir: Path, index: int) -> Path:
    return masks_dir / f"{index:05d}.png"


def _earlier_into(
    videos: ClipWriter, frames: Iterator[np.ndarray], masks_dir: Path, start: int
) -> Iterator[np.ndarray]:
    """``frames``, passed on; those before ``start`` also go into the videos with their stored result."""
    for index, frame in enumerate(frames):
        if index < start:
            labels = _read_or_empty(_mask_path(masks_dir, index), frame.shape[:2])
            no_probs = np.empty((0, *labels.shape), np.float32)  # the videos draw the labels only
            videos.write(FrameResult(index, no_probs, labels, [], frame))
        yield frame


def _drop_stale_mattes(masks_dir: Path, indices: list[int], object_ids: list[int]) -> None:
    """Remove the mattes an earlier run left on frames ``indices`` for objects this run does not have."""
    folder = masks_dir / ALPHA_DIR
    kept = {str(k) for k in object_ids}
    for other in folder.iterdir() if folder.is_dir() else []:
        if other.name not in kept:
            for index in indices:
                alpha_path(masks_dir, int(other.name), f"{index:05d}").unlink(missing_ok=True)


def _read_or_empty(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """The stored label map at ``path``, or an empty one of ``shape`` (written there, for the zip)."""
    if path.is_file():
        labels = read_mask(path)
        if labels.shape == shape:
            return labels
    labels = np.zeros(shape, np.uint8)
    write_mask(path, labels, MASK_PNG_LEVEL)
    return labels
