"""The one writer of a clip's results, used by ``segment``, ``segment-batch``, the demo and the end-to-end
benchmark: the masks in the formats asked for (:mod:`rgmp.io.exports`), the probabilities, an overlay video and a
cut-out video; and the zips the demo hands out.

PNGs, drawings and colour conversions run on a pool of background threads, in any order; each video's frames are
encoded in order on a thread of its own (:mod:`rgmp.io.pipeline`, all at the caller's ``priority``: the entry
points choose "idle", so that on a small CPU they use the cores the network leaves idle). Results may arrive out of
order (a backward pass, then a forward one): the videos take them in frame order, and the frames that come before
their turn wait in memory, compressed.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Collection
from concurrent.futures import Future
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Literal

import av
import numpy as np
from PIL import Image

from rgmp.io.exports import (
    ALPHA_DIR,
    COCO_FILE,
    FORMATS,
    alpha_path,
    coco_annotations,
    coco_document,
    coco_json,
    write_alpha_mattes,
    write_coco,
)
from rgmp.io.files import atomic_path
from rgmp.io.masks import object_ids, read_mask, write_mask
from rgmp.io.overlay import cutout, cutout_rgba, overlay, side_by_side
from rgmp.io.pipeline import BackgroundWriter, Priority, writer_threads
from rgmp.io.video_writer import VideoWriter

if TYPE_CHECKING:
    from rgmp.inference import FrameResult

OverlayStyle = Literal["overlay", "side_by_side"]
CutoutBackground = Literal["green", "transparent", "none"]


@dataclass(frozen=True)
class VideoOptions:
    """How the videos are drawn.

    Attributes:
        overlay_style: "overlay" = colour fill with contours; "side_by_side" = the original frame on the left and
            the overlay on the right (for talks).
        cutout_background: "green" = objects on a green screen (H.264 mp4); "transparent" = objects on a
            transparent background (VP9 WebM with alpha); "none" = no cut-out video.
    """

    overlay_style: OverlayStyle = "overlay"
    cutout_background: CutoutBackground = "green"

    def overlay_frame(self, frame: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 frame + (H, W) labels → (H, W or 2W, 3) uint8 overlay frame."""
        drawn = overlay(frame, labels)
        return side_by_side(frame, drawn) if self.overlay_style == "side_by_side" else drawn

    @property
    def cutout_suffix(self) -> str | None:
        """The cut-out video's file suffix; None when no cut-out is made."""
        return {"green": ".mp4", "transparent": ".webm"}.get(self.cutout_background)


class ClipWriter:
    """Writes one clip's results (a context manager: everything is written when the block ends; an exception
    inside it leaves no video and no COCO file).

    Args:
        folder: where the masks go (it must exist); None = no mask files.
        formats: the mask formats, among :data:`rgmp.io.exports.FORMATS`.
        png_level: zlib level of the mask PNGs and mattes (6: the official bytes; 1: the same pixels, half the CPU).
        save_probs: also write each frame's float16 ``(K+1, H, W)`` probabilities as ``<name>.npy``.
        video: the clip's name, for the COCO file.
        overlay_path: the overlay video (H.264 ``.mp4``), or None.
        cutout_path: the cut-out video (``.mp4`` on green, ``.webm`` transparent: see ``options``), or None.
        options: how the videos are drawn.
        fps: the videos' frame rate.
        first_index: the index of the first frame of the videos: results may come in any order, the videos take
            them from this one on, in order.
        priority: CPU priority of the writing threads (:data:`rgmp.io.pipeline.Priority`).
    """

    def __init__(
        self,
        folder: Path | None,
        *,
        formats: Collection[str] = ("png",),
        png_level: int = 6,
        save_probs: bool = False,
        video: str = "",
        overlay_path: Path | None = None,
        cutout_path: Path | None = None,
        options: VideoOptions = VideoOptions(),
        fps: float = 24.0,
        first_index: int = 0,
        priority: Priority = "normal",
    ):
        unknown = set(formats) - set(FORMATS)
        if unknown:
            raise ValueError(f"unknown mask formats {sorted(unknown)}; choose among {', '.join(FORMATS)}")
        self.folder, self.formats, self.png_level = folder, frozenset(formats) if folder else frozenset(), png_level
        self.save_probs, self.video, self.options = save_probs and folder is not None, video, options
        self._coco: list[tuple[int, str, Future[list[dict]]]] = []
        self._coco_meta: tuple[tuple[int, int], list[int]] | None = None
        self._next, self._held = first_index, {}
        self.frames_written = 0
        self._stack = ExitStack()
        # Left in the reverse order: the encoders' queues (which wait on the pool's drawings) before the pool, and
        # both before the videos are closed.
        # (video, what draws its frame: None for the overlay, whose drawing is also the live preview)
        videos: list[tuple[VideoWriter, Callable[[np.ndarray, np.ndarray], object] | None]] = []
        if overlay_path is not None:
            videos.append((VideoWriter(overlay_path, fps), None))
        if cutout_path is not None and options.cutout_background == "transparent":
            videos.append((VideoWriter(cutout_path, fps, crf=30, kind="vp9-alpha"), cutout_rgba))
        elif cutout_path is not None:
            videos.append((VideoWriter(cutout_path, fps), self._green_cutout))
        self._videos = [(self._stack.enter_context(video), draw) for video, draw in videos]
        self._files = self._stack.enter_context(BackgroundWriter(workers=writer_threads(), priority=priority))
        self._encoders = [self._stack.enter_context(BackgroundWriter(priority=priority)) for _ in self._videos]

    def __enter__(self) -> ClipWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            for index in sorted(self._held):  # a gap (a pass stopped early): the rest, in order
                self._encode(index, self._held.pop(index))
        self._stack.__exit__(exc_type, exc, tb)
        if exc_type is None and self._coco_meta is not None:
            size, ids = self._coco_meta
            frames = [(index, file_name, future.result()) for index, file_name, future in self._coco]
            write_coco(self.folder / COCO_FILE, coco_document(self.video, size, ids, frames))

    def write(self, result: FrameResult, name: str | None = None) -> Future[np.ndarray] | None:
        """Queue frame ``result.index``'s outputs (masks named ``name``, default ``00042``).

        Returns:
            The overlay frame being drawn, (H, W or 2W, 3) uint8 (a live preview), when the overlay video takes
            this frame now; None otherwise.
        """
        name = name or f"{result.index:05d}"
        if self.formats or self.save_probs:
            self._files.submit(self._save, name, result)
        if "coco" in self.formats:
            self._coco_meta = self._coco_meta or (result.labels.shape, list(result.object_ids))
            annotations = self._files.submit(coco_annotations, result.labels, result.object_ids)
            self._coco.append((result.index, f"{name}.jpg", annotations))
        self.frames_written += 1
        if not self._videos:
            return None
        if result.index != self._next:
            self._held[result.index] = self._files.submit(_compress, result.frame, result.labels)
            return None
        drawn = self._encode(result.index, (result.frame, result.labels))
        while self._next in self._held:
            self._encode(self._next, self._held.pop(self._next))
        return drawn

    def _encode(self, index: int, item: tuple[np.ndarray, np.ndarray] | Future[tuple[bytes, bytes]]):
        """Draw frame ``index`` into every video (from its frame and labels, or their compressed copies)."""

        def source() -> tuple[np.ndarray, np.ndarray]:
            return _decompress(*item.result()) if isinstance(item, Future) else item

        loaded = self._files.submit(source)
        drawn = None
        for (video, draw), encoder in zip(self._videos, self._encoders, strict=True):
            if draw is None:  # the overlay: drawn (the preview), then converted
                drawn = self._files.submit(lambda: self.options.overlay_frame(*loaded.result()))
                picture = self._files.submit(lambda drawn=drawn: VideoWriter.prepare(drawn.result()))
            else:
                picture = self._files.submit(lambda draw=draw: draw(*loaded.result()))
            encoder.submit(lambda video=video, picture=picture: video.write(picture.result()))
        self._next = index + 1
        return drawn

    @staticmethod
    def _green_cutout(frame: np.ndarray, labels: np.ndarray) -> av.VideoFrame:
        return VideoWriter.prepare(cutout(frame, labels))

    def _save(self, name: str, result: FrameResult) -> None:
        if "png" in self.formats:
            write_mask(self.folder / f"{name}.png", result.labels, self.png_level)
        if "alpha" in self.formats:
            write_alpha_mattes(self.folder, name, result.probs, result.object_ids, self.png_level)
        if self.save_probs:
            np.save(self.folder / f"{name}.npy", result.probs.astype(np.float16))


def _compress(frame: np.ndarray, labels: np.ndarray) -> tuple[bytes, bytes]:
    """A frame as JPEG (quality 95) and its labels as PNG, to wait for their turn in the videos."""
    jpeg, png = io.BytesIO(), io.BytesIO()
    Image.fromarray(frame).save(jpeg, format="JPEG", quality=95)
    Image.fromarray(labels).save(png, format="PNG", compress_level=1)
    return jpeg.getvalue(), png.getvalue()


def _decompress(jpeg: bytes, png: bytes) -> tuple[np.ndarray, np.ndarray]:
    with Image.open(io.BytesIO(jpeg)) as frame, Image.open(io.BytesIO(png)) as labels:
        return np.asarray(frame.convert("RGB")), np.asarray(labels)


def zip_masks(masks_dir: Path, indices: range, path: Path) -> Path:
    """Zip the palette PNGs of frames ``indices`` (``00000.png``...) from ``masks_dir`` into ``path``."""
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as archive:
        for index in indices:
            name = f"{index:05d}.png"
            archive.write(masks_dir / name, name)
    return path


def zip_exports(masks_dir: Path, indices: range, path: Path, video: str) -> Path:
    """Zip frames ``indices`` of ``masks_dir`` in the other mask formats (:mod:`rgmp.io.exports`): ``coco.json``,
    made from the palette PNGs ``00000.png``..., and ``alpha/<object>/00000.png``... for every object of those
    frames (an empty matte where a frame has none, so that each object's sequence is complete)."""
    frames, ids, size = [], set(), (0, 0)
    for index in indices:
        labels = read_mask(masks_dir / f"{index:05d}.png")
        present = object_ids(labels)
        ids.update(present)
        size = labels.shape
        frames.append((index, f"{index:05d}.jpg", coco_annotations(labels, present)))
    empty = io.BytesIO()
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(COCO_FILE, coco_json(coco_document(video, size, sorted(ids), frames)))
        for object_id in sorted(ids):
            for index in indices:
                name = f"{ALPHA_DIR}/{object_id}/{index:05d}.png"
                matte = alpha_path(masks_dir, object_id, f"{index:05d}")
                if matte.is_file():
                    archive.write(matte, name, zipfile.ZIP_STORED)
                    continue
                if not empty.getvalue():
                    Image.new("L", (size[1], size[0])).save(empty, format="PNG", compress_level=1)
                archive.writestr(name, empty.getvalue(), zipfile.ZIP_STORED)
    return path
