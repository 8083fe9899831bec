"""Video and frame-folder input (PyAV, no ffmpeg binary needed).

Reading
    Accepted video extensions (case-insensitive): ``.mp4 .mov .webm .avi .mkv .m4v``
    (:data:`VIDEO_EXTENSIONS`). Still images, unknown extensions, missing, empty,
    corrupt and zero-frame files are refused with a one-line :class:`VideoError`.
    Frames are returned as ``(H, W, 3) uint8`` RGB arrays, already rotated for display.

Rotation
    Phone videos store upright-ness as a display matrix; PyAV decodes the *coded*
    (unrotated) picture and reports ``VideoFrame.rotation`` = the angle in degrees by
    which the display matrix rotates the picture **counter-clockwise** (FFmpeg's
    ``av_display_rotation_get``). We normalise it to {0, 90, 180, 270} and apply
    ``np.rot90(frame, k=rotation // 90)`` (``np.rot90`` with positive ``k`` turns an
    image counter-clockwise). This matches the ffmpeg command-line tool's autorotate,
    which uses ``theta = -av_display_rotation_get(...)`` and inserts ``transpose=clock``
    for ``theta == 90``: a typical portrait iPhone clip (legacy tag ``rotate=90``)
    reports ``frame.rotation == -90`` and is turned clockwise. Flips in the display
    matrix are ignored.

Writing is :mod:`rgmp.io.video_writer`'s.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageOps

from rgmp.errors import InputError

__all__ = [
    "FRAME_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "VideoError",
    "VideoInfo",
    "apply_rotation",
    "intact_frames",
    "iter_frame_folder",
    "iter_video",
    "list_frame_folder",
    "probe_video",
]

VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".mov", ".webm", ".avi", ".mkv", ".m4v")
"""Video file extensions accepted by :func:`probe_video` / :func:`iter_video`."""

FRAME_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
"""Image extensions read from a frame folder."""

_STILL_IMAGE_EXTENSIONS = FRAME_EXTENSIONS + (".tif", ".tiff")
_DEFAULT_FPS = 25.0
# Decoded with frame threading (several frames at once, one per core): H.264 and HEVC. On these, truncated
# files (caught by the demuxer's corrupt flag, for every codec) and damaged packets (the decoder raises) are
# refused as with slice threading; VP8/VP9 with frame threading concealed damage that slice threading raised on.
_FRAME_THREADED_CODECS = frozenset({"h264", "hevc"})


class VideoError(InputError):
    """Bad video / frame-folder input. The message is one readable line."""


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe_video` learns about a video.

    Attributes:
        width: frame width in pixels, after rotation (= ``W`` of the arrays yielded).
        height: frame height in pixels, after rotation (= ``H``).
        fps: average frame rate (falls back to 25.0 when the container has none).
        num_frames: number of frames as the container header states it (mp4/mov/avi), or
            counted from the packets (mkv/webm); ``None`` when it could not be determined.
            A truncated file may decode fewer frames than this.
        rotation: counter-clockwise display rotation applied to frames, one of 0/90/180/270.
    """

    width: int
    height: int
    fps: float
    num_frames: int | None
    rotation: int


# --------------------------------------------------------------------------- helpers


def apply_rotation(frame: np.ndarray, rotation: int) -> np.ndarray:
    """Rotate a decoded picture for display.

    Args:
        frame: ``(H, W, C)`` (or ``(H, W)``) array as decoded (unrotated).
        rotation: counter-clockwise angle in degrees, as ``VideoFrame.rotation``
            reports it; rounded to the nearest multiple of 90 (negative values fine).

    Returns:
        The rotated, C-contiguous array; ``(W, H, C)`` for 90/270 degrees.
    """
    k = _normalise_rotation(rotation) // 90
    if k == 0:
        return frame
    return np.ascontiguousarray(np.rot90(frame, k=k))


def _normalise_rotation(rotation: float) -> int:
    """Round ``rotation`` (degrees, any sign) to one of 0, 90, 180, 270."""
    if rotation is None or rotation != rotation:  # None or NaN: no display matrix
        return 0
    return (int(round(rotation / 90.0)) % 4) * 90


def _check_video_path(path: str | os.PathLike[str]) -> Path:
    """Cheap checks that need no decoding; returns the path as a :class:`Path`."""
    p = Path(path)
    if not p.exists():
        raise VideoError(f"video file not found: {p}")
    if p.is_dir():
        raise VideoError(f"expected a video file, got a folder: {p} (use iter_frame_folder for frames)")
    suffix = p.suffix.lower()
    if suffix in _STILL_IMAGE_EXTENSIONS:
        raise VideoError(f"{p.name} is a still image, not a video")
    if suffix not in VIDEO_EXTENSIONS:
        raise VideoError(
            f"unsupported video file type {suffix or '(no extension)'!r} for {p.name} "
            f"(supported: {', '.join(VIDEO_EXTENSIONS)})"
        )
    if p.stat().st_size == 0:
        raise VideoError(f"{p.name} is empty (0 bytes)")
    return p


def _open_video(p: Path) -> av.container.InputContainer:
    """Open ``p`` for reading and make sure it is a real video with a video stream."""
    try:
        container = av.open(str(p), mode="r")
    except av.error.InvalidDataError:
        raise VideoError(f"{p.name} is not a readable video (unknown format or corrupt file)") from None
    except (av.error.FFmpegError, OSError) as exc:
        raise VideoError(f"cannot open video {p.name}: {_one_line(exc)}") from None
    fmt = container.format.name
    if fmt.endswith("_pipe") or fmt == "image2":
        container.close()
        kind = fmt.removesuffix("_pipe").upper()
        raise VideoError(f"{p.name} is a still image ({kind}), not a video")
    if not container.streams.video:
        container.close()
        raise VideoError(f"{p.name} has no video stream (corrupt or audio-only file)")
    return container


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _stream_fps(stream: av.video.stream.VideoStream) -> float:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            return float(rate)
    return _DEFAULT_FPS


def _count_packets(p: Path) -> int | None:
    """Count video packets by demuxing only (no decoding); ``None`` on failure."""
    try:
        with av.open(str(p), mode="r") as container:
            stream = container.streams.video[0]
            return sum(1 for packet in container.demux(stream) if packet.size > 0)
    except (av.error.FFmpegError, OSError, IndexError):
        return None


# --------------------------------------------------------------------------- reading


def probe_video(path: str | os.PathLike[str]) -> VideoInfo:
    """Describe a video without decoding it fully.

    Decodes only the first frame (to check the file is decodable and read the display
    rotation). When the container stores no frame count (e.g. mkv/webm), the frames are
    counted by demuxing packets, which is fast and does not decode.

    Raises:
        VideoError: missing / still-image / unsupported / corrupt / zero-frame file.
    """
    p = _check_video_path(path)
    with _open_video(p) as container:
        stream = container.streams.video[0]
        try:
            first = next(container.decode(stream), None)
        except av.error.FFmpegError as exc:
            raise VideoError(f"{p.name} is corrupt: cannot decode the first frame ({_one_line(exc)})") from None
        if first is None:
            raise VideoError(f"{p.name} has zero decodable frames")
        rotation = _normalise_rotation(first.rotation)
        width, height = first.width, first.height
        fps = _stream_fps(stream)
        num_frames: int | None = stream.frames or None
    if num_frames is None:
        num_frames = _count_packets(p) or None
    if rotation in (90, 270):
        width, height = height, width
    return VideoInfo(width=width, height=height, fps=fps, num_frames=num_frames, rotation=rotation)


def intact_frames(path: str | os.PathLike[str]) -> int | None:
    """Check that a video's data is all there, by demuxing every packet without decoding (milliseconds).

    Returns:
        None when no packet is cut short; else how many frames, from the first in display order, have all their
        data before the first damaged packet (frames shown later but decoded earlier, with B-frames, are not
        counted: every frame counted decodes).

    Raises:
        VideoError: as :func:`probe_video` for a file that does not open.
    """
    p = _check_video_path(path)
    with _open_video(p) as container:
        stream = container.streams.video[0]
        times: list[int] = []
        last_dts = None
        try:
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                if packet.is_corrupt:
                    break
                times.append(packet.pts if packet.pts is not None else len(times))
                last_dts = packet.dts if packet.dts is not None else times[-1]
            else:
                return None
        except av.error.FFmpegError:
            pass
    if last_dts is None:
        return 0
    return sum(1 for pts in times if pts <= last_dts)  # a frame shown up to the last dts depends on no lost packet


def iter_video(path: str | os.PathLike[str], max_frames: int | None = None) -> Iterator[np.ndarray]:
    """Decode a video lazily, frame by frame.

    Cheap checks (file exists, extension) run immediately; opening and decoding happen
    while iterating, and the file is closed when the iterator is exhausted or closed.

    Args:
        path: video file (see :data:`VIDEO_EXTENSIONS`).
        max_frames: stop after this many frames (``None``: all).

    Yields:
        ``(H, W, 3) uint8`` RGB frames, rotated for display (see module docstring).

    Raises:
        VideoError: bad file (at call time or on first ``next``), zero decodable frames,
            or a decoding error in the middle of the file (a file cut short yields the frames it holds first).
    """
    p = _check_video_path(path)
    if max_frames is not None and max_frames < 0:
        raise ValueError(f"max_frames must be >= 0 or None, got {max_frames}")
    return _decode_frames(p, max_frames)


def _decode_frames(p: Path, max_frames: int | None) -> Iterator[np.ndarray]:
    if max_frames == 0:
        return
    with _open_video(p) as container:
        stream = container.streams.video[0]
        if stream.codec_context.name in _FRAME_THREADED_CODECS:
            stream.thread_type = "AUTO"
        count = 0
        try:
            for packet in container.demux(stream):
                if packet.is_corrupt:  # the demuxer's short read: a truncated file
                    for frame in stream.decode(None):  # the frames still in the decoder are whole
                        yield apply_rotation(frame.to_ndarray(format="rgb24"), frame.rotation)
                        count += 1
                        if max_frames is not None and count >= max_frames:
                            return
                    raise VideoError(f"{p.name} is corrupt: cut short after {count} frames (incomplete data)")
                for frame in packet.decode():
                    yield apply_rotation(frame.to_ndarray(format="rgb24"), frame.rotation)
                    count += 1
                    if max_frames is not None and count >= max_frames:
                        return
        except av.error.FFmpegError as exc:
            where = "first frame" if count == 0 else f"frame {count}"
            raise VideoError(f"{p.name} is corrupt: decoding failed at {where} ({_one_line(exc)})") from None
    if count == 0:
        raise VideoError(f"{p.name} has zero decodable frames")


def _natural_key(path: Path) -> list[object]:
    """Sort key: digit runs compare as numbers (``f2`` < ``f10``); zero-padded names sort as plain text."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def list_frame_folder(folder: str | os.PathLike[str]) -> list[Path]:
    """List the frame images of a folder in frame order.

    Files with a :data:`FRAME_EXTENSIONS` suffix (case-insensitive, hidden files
    skipped) are sorted by name, digit runs compared as numbers, so ``00000.jpg,
    00001.jpg, ...`` and ``frame2.png, frame10.png`` both come out in frame order.

    Raises:
        VideoError: folder missing / not a folder / holding no images, or two images
            sharing a stem (``00001.jpg`` and ``00001.png``).
    """
    d = Path(folder)
    if not d.exists():
        raise VideoError(f"frame folder not found: {d}")
    if not d.is_dir():
        raise VideoError(f"expected a folder of frames, got a file: {d}")
    files = [
        f for f in d.iterdir() if f.is_file() and not f.name.startswith(".") and f.suffix.lower() in FRAME_EXTENSIONS
    ]
    if not files:
        raise VideoError(f"no frame images ({', '.join(FRAME_EXTENSIONS)}) in folder {d}")
    files.sort(key=_natural_key)
    stems: dict[str, Path] = {}
    for f in files:
        if f.stem in stems:
            raise VideoError(f"two frames share the name {f.stem!r} in {d}: {stems[f.stem].name}, {f.name}")
        stems[f.stem] = f
    return files


def iter_frame_folder(folder: str | os.PathLike[str]) -> Iterator[tuple[str, np.ndarray]]:
    """Read a folder of frames lazily, in :func:`list_frame_folder` order.

    EXIF orientation is applied, and images are converted to RGB.

    Yields:
        ``(stem, frame)`` with ``frame`` a ``(H, W, 3) uint8`` RGB array.

    Raises:
        VideoError: as :func:`list_frame_folder` (at call time); an unreadable image or
            an image whose size differs from the first frame (while iterating).
    """
    files = list_frame_folder(folder)
    return _read_frames(files)


def _read_frames(files: list[Path]) -> Iterator[tuple[str, np.ndarray]]:
    size: tuple[int, int] | None = None
    for f in files:
        try:
            with Image.open(f) as im:
                rgb = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
        except (OSError, ValueError) as exc:
            raise VideoError(f"cannot read frame image {f}: {_one_line(exc)}") from None
        if size is None:
            size = rgb.shape[:2]
        elif rgb.shape[:2] != size:
            h, w = rgb.shape[:2]
            raise VideoError(
                f"frame {f.name} is {w}x{h} but earlier frames are {size[1]}x{size[0]}; "
                "all frames must have the same size"
            )
        yield f.stem, rgb
