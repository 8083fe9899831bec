"""One clip from its annotated frame into a folder of outputs: what ``segment`` and ``segment-batch`` share."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rgmp.inference import Session, SessionError
from rgmp.inference.session import Direction, object_ids_of
from rgmp.io.outputs import ClipWriter
from rgmp.io.pipeline import Priority, prefetch


@dataclass(frozen=True)
class ClipSource:
    """A clip opened for reading: a video file or a folder of frames.

    Attributes:
        path: the video file or the frame folder.
        names: output name of each frame (the frames' stems for a folder; empty for a video: frames are numbered).
        fps: frame rate (given for a folder).
        frames: frame count when known.
        size: frame (height, width).
    """

    path: Path
    names: list[str]
    fps: float
    frames: int | None
    size: tuple[int, int]

    def read(self) -> Iterator[np.ndarray]:
        """The frames, ``(H, W, 3) uint8``, decoded lazily."""
        from rgmp.io.video import iter_frame_folder, iter_video

        if self.path.is_dir():
            return (frame for _, frame in iter_frame_folder(self.path))
        return iter_video(self.path)

    def name(self, index: int) -> str:
        """Output name of frame ``index``: its file's stem, or ``00042``."""
        return self.names[index] if self.names else f"{index:05d}"


def open_source(path: Path, fps: float = 24.0) -> ClipSource:
    """Open a video file or a frame folder (``fps`` is the folder's frame rate).

    Raises:
        VideoError: a missing, empty, unreadable or corrupt source.
    """
    from PIL import Image

    from rgmp.io.video import list_frame_folder, probe_video

    if path.is_dir():
        paths = list_frame_folder(path)
        with Image.open(paths[0]) as first:
            width, height = first.size
        return ClipSource(path, [p.stem for p in paths], fps, len(paths), (height, width))
    info = probe_video(path)
    return ClipSource(path, [], info.fps, info.num_frames, (info.height, info.width))


def check_mask(mask: np.ndarray, source: ClipSource, start: int) -> None:
    """Refuse, before any work, a mask that cannot segment ``source`` from frame ``start``.

    Raises:
        SessionError: an empty mask, too many objects, a size other than the frames', or ``start`` past the end.
    """
    object_ids_of(mask)
    if mask.shape != source.size:
        height, width = source.size
        raise SessionError(
            f"the mask is {mask.shape[1]}x{mask.shape[0]} but the frames are {width}x{height}: "
            "give the label map of one frame of this clip"
        )
    if source.frames is not None and start >= source.frames:
        raise SessionError(f"the annotated frame {start} is past the last frame ({source.frames} frames)")


def segment_into(
    session: Session,
    source: ClipSource,
    mask: np.ndarray,
    folder: Path,
    *,
    start: int = 0,
    direction: Direction = "forward",
    formats: Collection[str] = ("png",),
    overlay: Path | None = None,
    save_probs: bool = False,
    on_frame: Callable[[], object] = lambda: None,
    priority: Priority = "normal",
) -> int:
    """Segment ``source`` from the label map ``mask`` of frame ``start`` and write the results into ``folder``.

    Args:
        session: the inference session.
        source: the clip.
        mask: ``(H, W)`` label map of frame ``start`` (checked with :func:`check_mask` first).
        folder: an existing folder for the masks (:class:`rgmp.io.outputs.ClipWriter`): a staging folder, since
            a failure leaves the files written so far.
        start: the annotated frame.
        direction: which frames are segmented from it: "forward" (to the last), "backward" (to the first) or
            "both" (:meth:`rgmp.inference.Session.propagate`).
        formats: mask formats (:data:`rgmp.io.exports.FORMATS`).
        overlay: an ``.mp4`` for the overlay video, or None.
        save_probs: also write the float16 probabilities.
        on_frame: called after each frame (a progress bar's ``update``).
        priority: CPU priority of the reading and writing threads (:data:`rgmp.io.pipeline.Priority`).

    Returns:
        The number of frames segmented.
    """
    check_mask(mask, source, start)
    done = 0
    with ClipWriter(
        folder,
        formats=formats,
        video=source.path.stem,
        overlay_path=overlay,
        fps=source.fps,
        save_probs=save_probs,
        first_index=start if direction == "forward" else 0,
        priority=priority,
    ) as writer:
        frames = prefetch(source.read(), priority=priority)
        for result in session.propagate(frames, mask, start=start, direction=direction):
            writer.write(result, source.name(result.index))
            done += 1
            on_frame()
    return done
