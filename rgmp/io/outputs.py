"""What ``segment`` writes for each frame, beside the network: the masks in the formats asked for
(:mod:`rgmp.io.exports`), optionally the probabilities, and an overlay video frame.

PNGs, overlay drawings and their colour conversion run on a pool of background threads, in any order; the
video's frames are encoded in order on a thread of their own (:mod:`rgmp.io.pipeline`: all at the idle
priority, so on a small CPU they use the cores the network leaves idle).
"""

from __future__ import annotations

from collections.abc import Collection
from concurrent.futures import Future
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import numpy as np

from rgmp.io.exports import COCO_FILE, FORMATS, coco_annotations, coco_document, write_alpha_mattes, write_coco
from rgmp.io.masks import write_mask
from rgmp.io.overlay import overlay
from rgmp.io.pipeline import BackgroundWriter, writer_threads
from rgmp.io.video import VideoWriter

if TYPE_CHECKING:
    from rgmp.inference import FrameResult


class ClipWriter:
    """Writes one clip's results (a context manager: everything is written when the block ends; an exception
    inside it leaves no overlay video and no COCO file).

    Args:
        folder: where the masks (and ``<name>.npy``) go; it must exist.
        formats: the mask formats, among :data:`rgmp.io.exports.FORMATS`.
        video: the clip's name, for the COCO file.
        overlay_path: the H.264 ``.mp4`` overlay video, or None for none.
        fps: the overlay's frame rate.
        save_probs: also write each frame's float16 ``(K+1, H, W)`` probabilities as ``<name>.npy``.
    """

    def __init__(
        self,
        folder: Path,
        *,
        formats: Collection[str] = ("png",),
        video: str = "",
        overlay_path: Path | None = None,
        fps: float = 24.0,
        save_probs: bool = False,
    ):
        unknown = set(formats) - set(FORMATS)
        if unknown:
            raise ValueError(f"unknown mask formats {sorted(unknown)}; choose among {', '.join(FORMATS)}")
        self.folder = folder
        self.formats = frozenset(formats)
        self.video = video
        self.save_probs = save_probs
        self._coco: list[tuple[int, str, Future[list[dict]]]] = []
        self._coco_meta: tuple[tuple[int, int], list[int]] | None = None
        self._stack = ExitStack()
        # Left in the reverse order: the encoder's queue (which waits on the pool's drawings) before the pool, and
        # both before the video is closed.
        self._video = self._stack.enter_context(VideoWriter(overlay_path, fps)) if overlay_path else None
        self._files = self._stack.enter_context(BackgroundWriter(workers=writer_threads()))
        self._encoder = self._stack.enter_context(BackgroundWriter()) if self._video else None

    def __enter__(self) -> ClipWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stack.__exit__(exc_type, exc, tb)
        if exc_type is None and self._coco_meta is not None:
            size, object_ids = self._coco_meta
            frames = [(index, file_name, future.result()) for index, file_name, future in self._coco]
            write_coco(self.folder / COCO_FILE, coco_document(self.video, size, object_ids, frames))

    def write(self, name: str, frame: np.ndarray, result: FrameResult) -> None:
        """Queue frame ``result.index``'s outputs: ``frame`` (H, W, 3) uint8 is the frame it segments."""
        self._files.submit(self._save, name, result)
        if "coco" in self.formats:
            self._coco_meta = self._coco_meta or (result.labels.shape, list(result.object_ids))
            annotations = self._files.submit(coco_annotations, result.labels, result.object_ids)
            self._coco.append((result.index, f"{name}.jpg", annotations))
        if self._video is not None:
            drawn = self._files.submit(lambda: self._video.prepare(overlay(frame, result.labels)))
            self._encoder.submit(lambda: self._video.write(drawn.result()))

    def _save(self, name: str, result: FrameResult) -> None:
        if "png" in self.formats:
            write_mask(self.folder / f"{name}.png", result.labels)
        if "alpha" in self.formats:
            write_alpha_mattes(self.folder, name, result.probs, result.object_ids)
        if self.save_probs:
            np.save(self.folder / f"{name}.npy", result.probs.astype(np.float16))
