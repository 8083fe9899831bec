"""The files a run hands back: overlay video, cut-out video, a zip of DAVIS-palette masks and a zip of the other
mask formats (COCO run-length encoding, alpha mattes).

Videos keep the clip's original size and frame rate. The overlay and the green-screen cut-out are H.264 mp4
(browser-playable, :class:`rgmp.io.video.VideoWriter`); the transparent cut-out is a VP9 WebM with an alpha
channel, which browsers play with transparency and editors import. While a run goes, the overlay can also be
cut into short MPEG-TS segments for a streaming ``gr.Video`` (:class:`StreamSegments`).
"""

from __future__ import annotations

import io
import os
import secrets
import zipfile
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import ExitStack
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Literal

import av
import numpy as np
from PIL import Image

from rgmp.io.exports import ALPHA_DIR, COCO_FILE, alpha_path, coco_annotations, coco_document, coco_json
from rgmp.io.files import atomic_path
from rgmp.io.masks import object_ids, read_mask, write_mask
from rgmp.io.overlay import cutout, cutout_rgba, overlay, side_by_side
from rgmp.io.pipeline import BackgroundWriter, writer_threads
from rgmp.io.video_writer import VideoWriter

MASK_PNG_LEVEL = 1
"""zlib level of the demo's mask PNGs: the same pixels as the official level 6 for half the CPU (files about twice
as large), which on a small CPU is taken from the network (:func:`rgmp.io.masks.write_mask`)."""

OverlayStyle = Literal["overlay", "side_by_side"]
CutoutBackground = Literal["green", "transparent", "none"]


@dataclass(frozen=True)
class RenderOptions:
    """How results are drawn.

    Attributes:
        overlay_style: "overlay" = colour fill with contours; "side_by_side" = the original frame on the left
            and the overlay on the right (for talks).
        cutout_background: "green" = objects on a green screen (mp4); "transparent" = objects on a transparent
            background (WebM with alpha); "none" = no cut-out video (less writing beside the network: a green
            cut-out takes about half the overlay video's CPU, 2 ms a 480p frame here).
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


class EncodedVideoWriter:
    """Write frames with one PyAV encoder into one container, atomically (temporary file, then rename).

    :class:`rgmp.io.video.VideoWriter` covers H.264 in mp4/mov/mkv; this covers what the demo needs besides:
    VP9 with alpha in WebM, and H.264 in MPEG-TS segments. Odd sizes are padded by one pixel on the
    right/bottom (RGB into yuv420p: the edge repeated, by :meth:`VideoWriter.prepare`; otherwise zeros, so
    transparent for RGBA). Use as a context manager; an exception inside the block deletes the partial file.

    Args:
        path: the file to write.
        fps: frame rate.
        container: FFmpeg muxer name ("webm", "mpegts").
        codec: encoder name ("libvpx-vp9", "libx264").
        pix_fmt: the encoded pixel format ("yuva420p", "yuv420p").
        options: encoder options.
        channels: 4 for RGBA input frames, 3 for RGB.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        fps: float,
        *,
        container: str,
        codec: str,
        pix_fmt: str,
        options: dict[str, str],
        channels: int,
    ):
        self.path = Path(path)
        self._rate = Fraction(fps).limit_denominator(1001)
        self._tmp = self.path.with_name(f".{self.path.name}.{secrets.token_hex(4)}.part")
        self._spec = (container, codec, pix_fmt, options)
        self._input_format = "rgba" if channels == 4 else "rgb24"
        self._to_yuv420p = channels == 3 and pix_fmt == "yuv420p"  # then OpenCV converts, a third of swscale's time
        self._container: av.container.OutputContainer | None = None
        self._stream: av.video.stream.VideoStream | None = None
        self.frames_written = 0

    def __enter__(self) -> EncodedVideoWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None and self.frames_written:
            self.close()
        else:
            self.abort()

    def write(self, frame: np.ndarray) -> None:
        """Append one (H, W, 3|4) uint8 frame."""
        height, width = frame.shape[:2]
        if self._container is None:
            container, codec, pix_fmt, options = self._spec
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._container = av.open(str(self._tmp), mode="w", format=container)
            stream = self._container.add_stream(codec, rate=self._rate)
            stream.width, stream.height = width + width % 2, height + height % 2
            stream.pix_fmt = pix_fmt
            stream.options = dict(options)
            self._stream = stream
        if self._to_yuv420p:
            picture = VideoWriter.prepare(frame)
        else:
            if height % 2 or width % 2:
                frame = np.pad(frame, ((0, height % 2), (0, width % 2), (0, 0)))
            picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format=self._input_format)
        for packet in self._stream.encode(picture):
            self._container.mux(packet)
        self.frames_written += 1

    def close(self) -> None:
        """Flush the encoder and move the finished file onto ``path``."""
        try:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
            self._container.close()
            self._container = None
            os.replace(self._tmp, self.path)
        finally:
            self._tmp.unlink(missing_ok=True)

    def abort(self) -> None:
        """Stop without producing a file."""
        if self._container is not None:
            self._container.close()
            self._container = None
        self._tmp.unlink(missing_ok=True)


def alpha_webm_writer(path: Path, fps: float) -> EncodedVideoWriter:
    """RGBA frames → VP9 WebM with alpha (browsers play it transparent; editors import it)."""
    options = {"deadline": "realtime", "cpu-used": "8", "crf": "30", "b:v": "0"}
    return EncodedVideoWriter(
        path, fps, container="webm", codec="libvpx-vp9", pix_fmt="yuva420p", options=options, channels=4
    )


def ts_segment_writer(path: Path, fps: float) -> EncodedVideoWriter:
    """RGB frames → one H.264 MPEG-TS segment, the chunk format of a streaming ``gr.Video``."""
    options = {"preset": "ultrafast", "crf": "23"}
    return EncodedVideoWriter(
        path, fps, container="mpegts", codec="libx264", pix_fmt="yuv420p", options=options, channels=3
    )


class ResultWriter:
    """Draws each frame's result into the overlay and cut-out videos, and writes its mask (a context manager).

    Everything runs on low-priority background threads beside the network
    (:class:`rgmp.io.pipeline.BackgroundWriter`): mask PNGs, overlay drawings (also the live preview), cut-outs and
    colour conversions on a pool (:func:`rgmp.io.pipeline.writer_threads`), and each video's encoding, in order,
    on a thread of its own. Everything is written when the ``with`` block ends.

    Args:
        folder: where the files go, named ``<stem>_overlay.mp4`` and ``<stem>_cutout.mp4|.webm``.
        stem: the clip's name.
        fps: the clip's frame rate.
        options: overlay style and cut-out background (``cutout_path`` is None when it is "none").
    """

    def __init__(self, folder: Path, stem: str, fps: float, options: RenderOptions):
        self.options = options
        self.overlay_path = folder / f"{stem}_overlay.mp4"
        suffix = options.cutout_suffix
        self.cutout_path = None if suffix is None else folder / f"{stem}_cutout{suffix}"
        self._overlay = VideoWriter(self.overlay_path, fps)
        self._cutout: VideoWriter | EncodedVideoWriter | None = None
        if self.cutout_path is not None:
            transparent = options.cutout_background == "transparent"
            self._cutout = (alpha_webm_writer if transparent else VideoWriter)(self.cutout_path, fps)
        self._videos = [video for video in (self._overlay, self._cutout) if video is not None]
        # Entered in this order, left in the reverse: the encoders finish their queues (which wait on the pool's
        # work) before the pool stops.
        self._jobs = ExitStack()
        self._pool = self._jobs.enter_context(BackgroundWriter(workers=writer_threads(), priority="idle"))
        self._encoders = [self._jobs.enter_context(BackgroundWriter(priority="idle")) for _ in self._videos]
        self.frames_written = 0

    def __enter__(self) -> ResultWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self._jobs.__exit__(exc_type, exc, tb)  # the queued work is done (or its error raised)
        except BaseException:
            self._abort()
            raise
        if exc_type is None and self.frames_written:
            with ExitStack() as closing:  # every video is closed, even when closing one fails
                for video in self._videos:
                    closing.callback(video.close)
        else:
            self._abort()

    def _abort(self) -> None:
        for video in self._videos:
            video.abort()

    def write(self, frame: np.ndarray, labels: np.ndarray, mask_path: Path | None = None) -> Future[np.ndarray]:
        """Add one frame (H, W, 3) uint8 with its labels (H, W), and write the labels as a palette PNG at
        ``mask_path`` if given; returns the overlay frame being drawn, (H, W or 2W, 3) uint8."""
        if mask_path is not None:
            self._pool.submit(write_mask, mask_path, labels, MASK_PNG_LEVEL)
        drawn = self._pool.submit(self.options.overlay_frame, frame, labels)
        # In the pool's order (one worker) or after it (more): the drawing is always taken before its conversion.
        ready = [self._pool.submit(lambda: VideoWriter.prepare(drawn.result()))]
        if self._cutout is not None:
            ready.append(self._pool.submit(self._cut_out, frame, labels))
        for video, encoder, picture in zip(self._videos, self._encoders, ready, strict=True):
            encoder.submit(lambda video, picture: video.write(picture.result()), video, picture)
        self.frames_written += 1
        return drawn

    def submit(self, job: Callable[..., object], *args: object) -> None:
        """Queue more writing on the background pool (e.g. a frame's alpha mattes)."""
        self._pool.submit(job, *args)

    def _cut_out(self, frame: np.ndarray, labels: np.ndarray) -> np.ndarray | av.VideoFrame:
        if self.options.cutout_background == "transparent":
            return cutout_rgba(frame, labels)
        return VideoWriter.prepare(cutout(frame, labels))


class StreamSegments:
    """Cuts overlay frames into short H.264 MPEG-TS segments, the chunks a streaming ``gr.Video`` plays (HLS).

    Args:
        folder: where the segments go (``segment-00000.ts``...).
        fps: the clip's frame rate.
        seconds: length of one segment.
    """

    def __init__(self, folder: Path, fps: float, seconds: float = 0.5):
        self.folder = folder
        self.fps = fps
        self.frames_per_segment = max(1, round(fps * seconds))
        self._writer: EncodedVideoWriter | None = None
        self._count = 0

    def add(self, frame: np.ndarray) -> Path | None:
        """Append one (H, W, 3) uint8 frame; returns a segment's path when one is complete."""
        if self._writer is None:
            self._writer = ts_segment_writer(self.folder / f"segment-{self._count:05d}.ts", self.fps)
        self._writer.write(frame)
        if self._writer.frames_written >= self.frames_per_segment:
            return self.flush()
        return None

    def flush(self) -> Path | None:
        """Close the segment being written (if it holds frames) and return its path."""
        writer, self._writer = self._writer, None
        if writer is None or not writer.frames_written:
            return None
        writer.close()
        self._count += 1
        return writer.path


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
                    Image.new("L", (size[1], size[0])).save(empty, format="PNG", compress_level=MASK_PNG_LEVEL)
                archive.writestr(name, empty.getvalue(), zipfile.ZIP_STORED)
    return path
