"""One segmentation run over a clip, streamed: a progress item per frame, then the files.

The latest result of every frame is kept in the workspace's masks folder: its palette PNG and, in ``alpha/``, its
objects' alpha mattes (:mod:`rgmp.io.exports`), from which the run's zips are made.

The annotated frame ``start`` is the reference (the paper's conclusion: a corrected frame becomes the new
reference). Frames after it are propagated forward. Frames before it keep their earlier result when they have
one; when some have none (or the user asks), they are first propagated backward from ``start``. Frames are
decoded lazily; the backward pass keeps the frames before ``start`` as JPEG files in the run folder, since it
needs them in reverse order. A clip that turns out to be damaged part way through ends the run there: the files
cover the frames before the damage, and the result says where the file ends.
"""

from __future__ import annotations

import functools
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from demo.render import MASK_PNG_LEVEL, RenderOptions, ResultWriter, zip_exports, zip_masks
from rgmp.inference import FrameResult, Session, SessionError
from rgmp.io.exports import ALPHA_DIR, alpha_path, write_alpha_mattes
from rgmp.io.masks import read_mask, write_mask
from rgmp.io.pipeline import prefetch
from rgmp.io.video import VideoError, iter_video


@dataclass(frozen=True)
class RunProgress:
    """One frame done.

    Attributes:
        done: frames segmented so far in this run.
        total: frames this run segments (None when the clip's length is unknown).
        index: the frame just segmented.
        elapsed: seconds since the run started.
        draw: returns that frame's result as drawn in the overlay video (:attr:`preview`); it is drawn on the
            background writers, or only when asked for in the backward pass, so the network's thread never waits
            for a drawing that is not shown.
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
        overlay: overlay video, None when the run stopped before the forward pass.
        cutout: cut-out video (mp4 or WebM with alpha), None likewise or when none was asked for.
        masks_zip: one palette PNG per frame ``00000.png``... of frames ``0..frames-1``, None likewise.
        exports: the same frames as COCO run-length encoding and alpha mattes (:func:`demo.render.zip_exports`),
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
    options: RenderOptions,
    stop: threading.Event,
    redo_earlier: bool = False,
) -> Iterator[RunProgress | RunResult]:
    """Segment ``video`` from the label map of frame ``start``.

    Args:
        session: the inference session (model, device, scales, processing size).
        video: the clip.
        labels: (H, W) uint8 label map of frame ``start``, at the clip's frame size.
        start: index of the annotated frame.
        max_frames: process at most this many frames from the beginning (None: all).
        fps: the clip's frame rate (for the videos written).
        masks_dir: the latest result per frame, ``00000.png``...; read for frames before ``start`` and
            updated with this run's results.
        out_dir: where this run's files go.
        options: overlay style and cut-out background.
        stop: checked before every frame; when set, the run ends and hands back what it has.
        redo_earlier: propagate backward over frames before ``start`` even when they have results.

    Yields:
        :class:`RunProgress` after each segmented frame, then one :class:`RunResult`.

    Raises:
        SessionError, VideoError: bad mask or clip, found before any frame is written; damage found later ends
            the run with :attr:`RunResult.problem` instead.
    """
    began = time.perf_counter()
    masks_dir.mkdir(parents=True, exist_ok=True)
    has_result = [(masks_dir / f"{i:05d}.png").is_file() for i in range(start)]
    backward = start > 0 and (redo_earlier or not all(has_result))
    total = None if max_frames is None else max_frames - start + (start if backward else 0)
    done = 0

    def progress(index: int, draw: Callable[[], np.ndarray], is_backward: bool) -> RunProgress:
        return RunProgress(done, total, index, time.perf_counter() - began, draw, is_backward)

    if backward:
        for index, frame, result in _propagate_backward(session, video, labels, start, out_dir / "frames"):
            write_mask(masks_dir / f"{index:05d}.png", result.labels, MASK_PNG_LEVEL)
            write_mattes(masks_dir, index, result)
            done += 1
            yield progress(index, functools.partial(options.overlay_frame, frame, result.labels), True)
            if stop.is_set():
                yield RunResult(None, None, None, None, 0, done, True, time.perf_counter() - began)
                return

    stem = video.stem
    last = start - 1
    problem = None
    frames = prefetch(iter_video(video, max_frames), priority="idle")  # decoded ahead, in a thread
    with ResultWriter(out_dir, stem, fps, options) as writer, closing(frames):
        for index in range(start):
            frame = next(frames, None)
            if frame is None:
                raise SessionError(f"the clip has no frame {start}: it ends after {index} frames")
            earlier = _read_or_empty(masks_dir / f"{index:05d}.png", frame.shape[:2])
            writer.write(frame, earlier)
        seen = _LastFrame()
        with closing(session.propagate(seen.tee(frames), labels)) as results:
            try:
                for result in results:
                    last = start + result.index
                    drawn = writer.write(seen.frame, result.labels, masks_dir / f"{last:05d}.png")
                    writer.submit(write_mattes, masks_dir, last, result)
                    done += 1
                    yield progress(last, drawn.result, False)
                    if stop.is_set():
                        break
            except VideoError as err:
                if last < start:  # not even the annotated frame: nothing to keep
                    raise
                problem = str(err)
    masks_zip = zip_masks(masks_dir, range(last + 1), out_dir / f"{stem}_masks.zip")
    exports = zip_exports(masks_dir, range(last + 1), out_dir / f"{stem}_exports.zip", stem)
    yield RunResult(
        writer.overlay_path,
        writer.cutout_path,
        masks_zip,
        exports,
        last + 1,
        done,
        stop.is_set(),
        time.perf_counter() - began,
        problem,
    )


def write_mattes(masks_dir: Path, index: int, result: FrameResult) -> None:
    """Keep frame ``index``'s alpha mattes in ``masks_dir/alpha/<object>/``, and remove the ones an earlier run
    left there for objects this result does not have."""
    write_alpha_mattes(masks_dir, f"{index:05d}", result.probs, result.object_ids, MASK_PNG_LEVEL)
    folder = masks_dir / ALPHA_DIR
    for other in folder.iterdir():
        if other.name not in {str(k) for k in result.object_ids}:
            alpha_path(masks_dir, int(other.name), f"{index:05d}").unlink(missing_ok=True)


class _LastFrame:
    """Passes frames on to the session and keeps the latest one, to draw its result on."""

    def __init__(self) -> None:
        self.frame = np.zeros((0, 0, 3), np.uint8)

    def tee(self, source: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
        for frame in source:
            self.frame = frame
            yield frame


def _propagate_backward(
    session: Session, video: Path, labels: np.ndarray, start: int, cache: Path
) -> Iterator[tuple[int, np.ndarray, FrameResult]]:
    """Frames ``start-1 .. 0`` segmented backward from frame ``start``: yields (index, frame, result)."""
    cache.mkdir(parents=True, exist_ok=True)
    try:
        annotated = None
        with closing(iter_video(video, start + 1)) as frames:
            for index, frame in enumerate(frames):
                if index == start:
                    annotated = frame
                else:
                    Image.fromarray(frame).save(cache / f"{index:05d}.jpg", quality=95)
        if annotated is None:
            raise SessionError(f"the clip has no frame {start}: it is shorter")

        def reverse() -> Iterator[np.ndarray]:
            yield annotated
            for index in range(start - 1, -1, -1):
                with Image.open(cache / f"{index:05d}.jpg") as image:
                    yield np.asarray(image.convert("RGB"))

        seen = _LastFrame()
        with closing(session.propagate(seen.tee(reverse()), labels)) as results:
            for result in results:
                if result.index > 0:  # 0 is the annotated frame, written by the forward pass
                    yield start - result.index, seen.frame, result
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def _read_or_empty(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """The stored label map at ``path``, or an empty one of ``shape`` (written there, for the zip)."""
    if path.is_file():
        labels = read_mask(path)
        if labels.shape == shape:
            return labels
    labels = np.zeros(shape, np.uint8)
    write_mask(path, labels, MASK_PNG_LEVEL)
    return labels
