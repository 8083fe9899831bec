"""Tests for rgmp.io.video: reading videos / frame folders, H.264 writing (CPU, tiny data)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import CLIPS, require
from PIL import Image

from rgmp.io.video import (
    VideoError,
    VideoInfo,
    apply_rotation,
    intact_frames,
    iter_frame_folder,
    iter_video,
    list_frame_folder,
    probe_video,
)
from rgmp.io.video_writer import VideoWriter

H, W, N = 48, 64, 7
COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
RED = np.array([255, 0, 0])


def squares(n: int = N, h: int = H, w: int = W) -> list[np.ndarray]:
    """Grey frames with three 12x12 squares (red, green, blue) moving right by 2 px/frame."""
    frames = []
    for i in range(n):
        f = np.full((h, w, 3), 128, np.uint8)
        for k, c in enumerate(COLOURS):
            y, x = 4 + 14 * k, 2 + 2 * i + 10 * k
            f[y : y + 12, x : x + 12] = c
        frames.append(f)
    return frames


def square_centres(i: int) -> list[tuple[int, int]]:
    return [(4 + 14 * k + 6, 2 + 2 * i + 10 * k + 6) for k in range(3)]


def assert_colours(frames: list[np.ndarray], tol: int = 40) -> None:
    for i, f in enumerate(frames):
        for (y, x), c in zip(square_centres(i), COLOURS, strict=True):
            assert np.abs(f[y, x].astype(int) - np.array(c)).max() <= tol, (i, f[y, x], c)
        assert np.abs(f[H - 2, W - 2].astype(int) - 128).max() <= tol


def has_encoder(name: str) -> bool:
    try:
        av.codec.Codec(name, "w")
        return True
    except Exception:
        return False


def write_raw(path: Path, frames: list[np.ndarray], codec: str, fps: int = 10, rotation=None, matrix=None) -> Path:
    """Write a clip with plain PyAV (any codec/container), optionally with a display matrix."""
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=fps)
        s.height, s.width = frames[0].shape[:2]
        s.pix_fmt = "yuv420p"
        if codec == "libvpx-vp9":
            s.options = {"deadline": "realtime", "cpu-used": "8", "crf": "20", "b:v": "0"}
        elif codec == "mpeg4":
            s.options = {"qscale": "2"}
        if rotation is not None:
            s.set_display_rotation(rotation)
        if matrix is not None:
            s.set_display_matrix(matrix)
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


# --------------------------------------------------------------------------- VideoWriter


def test_writer_roundtrip(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    with VideoWriter(path, fps=10) as w:
        for f in squares():
            w.write(f)
    assert w.frames_written == N
    info = probe_video(path)
    assert info == VideoInfo(width=W, height=H, fps=10.0, num_frames=N, rotation=0)
    frames = list(iter_video(path))
    assert len(frames) == N
    assert all(f.shape == (H, W, 3) and f.dtype == np.uint8 and f.flags.c_contiguous for f in frames)
    assert_colours(frames, tol=30)
    assert len(list(iter_video(path, max_frames=3))) == 3


def test_writer_format_is_browser_playable(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    with VideoWriter(path, fps=10) as w:
        for f in squares(3):
            w.write(f)
    with av.open(str(path)) as c:
        cc = c.streams.video[0].codec_context
        assert cc.name == "h264"
        assert cc.pix_fmt == "yuv420p"
    data = path.read_bytes()
    assert 0 < data.find(b"moov") < data.find(b"mdat"), "+faststart: moov atom must precede mdat"


def test_writer_fractional_fps_and_mov(tmp_path: Path) -> None:
    path = tmp_path / "clip.mov"
    with VideoWriter(path, fps=30000 / 1001) as w:
        for f in squares(3):
            w.write(f)
    info = probe_video(path)
    assert info.fps == pytest.approx(30000 / 1001, rel=1e-6)
    assert info.num_frames == 3


def test_writer_pads_odd_size(tmp_path: Path) -> None:
    path = tmp_path / "odd.mp4"
    rng = np.random.default_rng(0)
    frame = np.zeros((21, 33, 3), np.uint8)
    frame[:, :, 0] = np.linspace(0, 255, 33, dtype=np.uint8)[None, :]  # horizontal ramp
    frame[:, :, 1] = rng.integers(100, 140, (21, 1), dtype=np.uint8)
    with VideoWriter(path, fps=5, crf=0) as w:
        w.write(frame)
        w.write(frame)
    info = probe_video(path)
    assert (info.width, info.height) == (34, 22)
    out = next(iter_video(path)).astype(int)
    assert out.shape == (22, 34, 3)
    # Padding replicates the last column / row.
    assert np.abs(out[:, 33] - out[:, 32]).max() <= 12
    assert np.abs(out[21] - out[20]).max() <= 12
    assert np.abs(out[:21, :33] - frame.astype(int)).mean() < 3


def test_writer_exception_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError, match="boom"):
        with VideoWriter(path, fps=10) as w:
            for f in squares(3):
                w.write(f)
            assert not path.exists(), "nothing at path until a clean close"
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_writer_exception_keeps_previous_file(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    path.write_bytes(b"previous")
    with pytest.raises(KeyboardInterrupt):
        with VideoWriter(path, fps=10) as w:
            w.write(squares(1)[0])
            raise KeyboardInterrupt
    assert path.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]


def test_writer_replaces_existing_file_on_success(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "out.mp4"
    path.parent.mkdir()
    path.write_bytes(b"previous")
    with VideoWriter(path, fps=10) as w:
        w.write(squares(1)[0])
    assert probe_video(path).num_frames == 1
    assert [p.name for p in path.parent.iterdir()] == ["out.mp4"]


def test_writer_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(VideoError, match="no frames"):
        with VideoWriter(tmp_path / "empty.mp4", fps=10):
            pass
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(VideoError, match="H.264"):
        VideoWriter(tmp_path / "x.webm", fps=10)
    with pytest.raises(ValueError, match="fps"):
        VideoWriter(tmp_path / "x.mp4", fps=0)
    with pytest.raises(ValueError, match="same size"):
        with VideoWriter(tmp_path / "x.mp4", fps=10) as w:
            w.write(np.zeros((8, 8, 3), np.uint8))
            w.write(np.zeros((8, 10, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        with VideoWriter(tmp_path / "x.mp4", fps=10) as w:
            w.write(np.zeros((8, 8, 3), np.float32))
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- readers


@pytest.mark.parametrize(
    ("ext", "codec"),
    [
        ("mp4", "libx264"),
        ("mov", "libx264"),
        ("mkv", "libx264"),
        ("m4v", "libx264"),
        ("webm", "libvpx-vp9"),
        ("avi", "mpeg4"),
    ],
)
def test_read_containers(tmp_path: Path, ext: str, codec: str) -> None:
    if not has_encoder(codec):
        pytest.skip(f"PyAV build has no {codec} encoder")
    path = write_raw(tmp_path / f"clip.{ext.upper()}", squares(), codec)  # extension case ignored
    info = probe_video(path)
    assert (info.width, info.height, info.rotation) == (W, H, 0)
    assert info.fps == pytest.approx(10.0)
    assert info.num_frames == N  # mkv/webm: counted by demuxing
    frames = list(iter_video(path))
    assert len(frames) == N
    assert_colours(frames)


def test_rotation_metadata_is_honoured(tmp_path: Path) -> None:
    frame = np.zeros((H, W, 3), np.uint8)
    frame[:16, :16] = RED  # red block top-left of the coded picture
    frames = [frame] * 3

    # FFmpeg/PyAV convention: positive = counter-clockwise; top-left goes to bottom-left.
    path = write_raw(tmp_path / "ccw.mp4", frames, "libx264", rotation=90)
    info = probe_video(path)
    assert (info.width, info.height, info.rotation) == (H, W, 90)
    out = next(iter_video(path))
    assert out.shape == (W, H, 3)
    assert np.abs(out[W - 8, 8].astype(int) - RED).max() < 40  # bottom-left
    assert out[8, 8].max() < 40

    # The matrix an iPhone writes for a portrait clip (QuickTime tkhd [0 1; -1 0], legacy
    # tag rotate=90) must be turned clockwise: top-left goes to top-right.
    iphone = [0, 65536, 0, -65536, 0, 0, 0, 0, 1 << 30]
    path = write_raw(tmp_path / "iphone.mov", frames, "libx264", matrix=iphone)
    info = probe_video(path)
    assert (info.width, info.height, info.rotation) == (H, W, 270)
    out = next(iter_video(path))
    assert out.shape == (W, H, 3)
    assert np.abs(out[8, H - 8].astype(int) - RED).max() < 40  # top-right

    path = write_raw(tmp_path / "r180.webm", frames, "libvpx-vp9", rotation=180)
    assert probe_video(path).rotation == 180
    out = next(iter_video(path))
    assert out.shape == (H, W, 3)
    assert np.abs(out[H - 8, W - 8].astype(int) - RED).max() < 40  # bottom-right


def test_apply_rotation_on_arrays() -> None:
    a = np.arange(6).reshape(2, 3)  # [[0 1 2] [3 4 5]]
    assert apply_rotation(a, 0) is a
    np.testing.assert_array_equal(apply_rotation(a, 90), [[2, 5], [1, 4], [0, 3]])  # counter-clockwise
    np.testing.assert_array_equal(apply_rotation(a, -90), [[3, 0], [4, 1], [5, 2]])  # clockwise
    np.testing.assert_array_equal(apply_rotation(a, 270), apply_rotation(a, -90))
    np.testing.assert_array_equal(apply_rotation(a, 180), a[::-1, ::-1])
    np.testing.assert_array_equal(apply_rotation(a, -180), a[::-1, ::-1])
    rgb = np.zeros((4, 6, 3), np.uint8)
    assert apply_rotation(rgb, 90).shape == (6, 4, 3)


def test_refuses_still_images_and_junk(tmp_path: Path) -> None:
    img = np.zeros((10, 12, 3), np.uint8)
    Image.fromarray(img).save(tmp_path / "a.png")
    (tmp_path / "a.png").rename(tmp_path / "png.mp4")
    Image.fromarray(img).save(tmp_path / "a.jpg")
    (tmp_path / "a.jpg").rename(tmp_path / "jpg.mov")
    (tmp_path / "text.mp4").write_text("this is not a video\n" * 20)
    (tmp_path / "empty.mp4").write_bytes(b"")
    Image.fromarray(img).save(tmp_path / "still.png")
    (tmp_path / "notes.txt").write_text("hello")
    cases = {
        "png.mp4": "still image",
        "jpg.mov": "still image",
        "text.mp4": "not a readable video",
        "empty.mp4": "empty",
        "still.png": "still image",
        "notes.txt": "unsupported",
        "missing.mp4": "not found",
    }
    for name, msg in cases.items():
        for fn in (probe_video, lambda p: list(iter_video(p))):
            with pytest.raises(VideoError, match=msg) as err:
                fn(tmp_path / name)
            assert "\n" not in str(err.value)
    with pytest.raises(VideoError, match="folder"):
        probe_video(tmp_path)


def test_refuses_zero_frame_video(tmp_path: Path) -> None:
    path = tmp_path / "zero.avi"
    with av.open(str(path), "w") as c:  # header written, no frames
        s = c.add_stream("mpeg4", rate=10)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        c.start_encoding()
    with pytest.raises(VideoError, match="zero"):
        probe_video(path)
    with pytest.raises(VideoError, match="zero"):
        list(iter_video(path))


@pytest.mark.parametrize("name", ["cut.mp4", "cut.avi"])
def test_refuses_truncated_video(tmp_path: Path, name: str) -> None:
    rng = np.random.default_rng(0)
    noise = [rng.integers(0, 256, (H, W, 3), dtype=np.uint8) for _ in range(30)]
    full = tmp_path / f"full{Path(name).suffix}"
    if full.suffix == ".mp4":  # H.264, decoded on several threads; moov at the front (+faststart)
        with VideoWriter(full, fps=10, crf=10) as w:
            for f in noise:
                w.write(f)
    else:  # MPEG-4 part 2 in AVI: no decoder error on a short packet, only the demuxer's corrupt flag
        write_raw(full, noise, "mpeg4")
    data = full.read_bytes()
    (tmp_path / name).write_bytes(data[: len(data) // 2])  # samples cut off
    with pytest.raises(VideoError, match="corrupt"):
        list(iter_video(tmp_path / name))
    assert intact_frames(full) is None
    intact = intact_frames(tmp_path / name)  # demuxed only: milliseconds
    assert 0 < intact < 30
    decoded = []
    with pytest.raises(VideoError, match=f"cut short after {intact} frames"):
        for frame in iter_video(tmp_path / name):
            decoded.append(frame)
    assert len(decoded) == intact  # the frames still in the (threaded) decoder come out before the error
    assert len(list(iter_video(tmp_path / name, intact))) == intact  # reading only those raises nothing


def test_threaded_decoding_keeps_every_frame_in_order(tmp_path: Path) -> None:
    """H.264 is decoded several frames at once: the frames are those a one-thread decoder gives, in order."""
    rng = np.random.default_rng(1)
    noise = [rng.integers(0, 256, (H, W, 3), dtype=np.uint8) for _ in range(24)]
    path = write_raw(tmp_path / "noise.mp4", noise, "libx264")
    with av.open(str(path)) as c:
        c.streams.video[0].thread_count = 1
        expected = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    decoded = list(iter_video(path))
    assert len(decoded) == len(expected) == 24
    for got, want in zip(decoded, expected, strict=True):
        np.testing.assert_array_equal(got, want)


def test_iter_video_is_lazy_and_checks_eagerly(tmp_path: Path) -> None:
    with pytest.raises(VideoError, match="not found"):
        iter_video(tmp_path / "missing.mp4")  # raised at call time, no iteration needed
    with pytest.raises(ValueError):
        iter_video(tmp_path / "missing.mp4", max_frames=-1)
    path = write_raw(tmp_path / "c.mp4", squares(), "libx264")
    it = iter_video(path)
    first = next(it)
    it.close()  # closes the container early
    assert first.shape == (H, W, 3)
    assert list(iter_video(path, max_frames=0)) == []


# --------------------------------------------------------------------------- frame folders


def _save(folder: Path, name: str, colour: int, size: tuple[int, int] = (8, 6)) -> None:
    Image.fromarray(np.full((size[1], size[0], 3), colour, np.uint8)).save(folder / name)


def test_frame_folder_order_and_content(tmp_path: Path) -> None:
    for i, name in enumerate(["frame10.png", "frame2.PNG", "frame1.bmp", "frame3.webp"]):
        _save(tmp_path, name, colour=10 * i)
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / ".hidden.png").write_bytes(b"junk")
    (tmp_path / "sub.jpg").mkdir()
    assert [p.name for p in list_frame_folder(tmp_path)] == [
        "frame1.bmp",
        "frame2.PNG",
        "frame3.webp",
        "frame10.png",
    ]
    items = list(iter_frame_folder(tmp_path))
    assert [s for s, _ in items] == ["frame1", "frame2", "frame3", "frame10"]
    assert [int(f[0, 0, 0]) for _, f in items[:3]] == [20, 10, 30]
    assert all(f.shape == (6, 8, 3) and f.dtype == np.uint8 for _, f in items)


def test_frame_folder_zero_padded(tmp_path: Path) -> None:
    for i in (2, 0, 11, 1):
        _save(tmp_path, f"{i:05d}.jpg", colour=0)
    assert [p.stem for p in list_frame_folder(tmp_path)] == ["00000", "00001", "00002", "00011"]


def test_frame_folder_grayscale_converted_to_rgb(tmp_path: Path) -> None:
    Image.fromarray(np.full((4, 5), 77, np.uint8)).save(tmp_path / "0.png")
    ((_, f),) = list(iter_frame_folder(tmp_path))
    assert f.shape == (4, 5, 3) and (f == 77).all()


def test_frame_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(VideoError, match="not found"):
        list_frame_folder(tmp_path / "nope")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(VideoError, match="no frame images"):
        list_frame_folder(tmp_path)
    with pytest.raises(VideoError, match="got a file"):
        list_frame_folder(tmp_path / "file.txt")

    sizes = tmp_path / "sizes"
    sizes.mkdir()
    _save(sizes, "0.png", 0, (8, 6))
    _save(sizes, "1.png", 0, (8, 6))
    _save(sizes, "2.png", 0, (6, 8))
    it = iter_frame_folder(sizes)  # lazy: the size mismatch shows up while iterating
    assert next(it)[0] == "0"
    next(it)
    with pytest.raises(VideoError, match="same size"):
        next(it)

    dup = tmp_path / "dup"
    dup.mkdir()
    _save(dup, "1.png", 0)
    _save(dup, "1.jpg", 0)
    with pytest.raises(VideoError, match="share the name"):
        list_frame_folder(dup)

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "0.jpg").write_text("not an image")
    with pytest.raises(VideoError, match="cannot read"):
        list(iter_frame_folder(bad))


def test_frame_folder_real_davis_clip() -> None:
    folder = require(CLIPS / "JPEGImages" / "480p" / "bike")
    items = list(iter_frame_folder(folder))
    assert [s for s, _ in items] == ["00000", "00001", "00002", "00003"]
    assert all(f.shape == (480, 854, 3) and f.dtype == np.uint8 for _, f in items)


def test_fraction_fps_accepted(tmp_path: Path) -> None:
    with VideoWriter(tmp_path / "f.mkv", fps=Fraction(25, 2)) as w:
        w.write(squares(1)[0])
    info = probe_video(tmp_path / "f.mkv")
    assert info.fps == pytest.approx(12.5)
    assert info.num_frames == 1


def test_writer_tags_bt601(tmp_path: Path) -> None:
    path = tmp_path / "c.mp4"
    with VideoWriter(path, fps=10) as w:
        w.write(np.full((16, 16, 3), (200, 50, 30), np.uint8))
    with av.open(str(path)) as c:
        cc = c.streams.video[0].codec_context
        assert (cc.colorspace, cc.color_range) == (6, 1)  # SMPTE170M, limited range
    assert np.abs(next(iter_video(path))[8, 8].astype(int) - (200, 50, 30)).max() <= 3


def test_prepare_converts_like_swscale_with_averaged_chroma() -> None:
    rng = np.random.default_rng(0)
    smooth = np.linspace(0, 255, 34 * 3).reshape(1, 34, 3).repeat(20, 0)
    frame = np.clip(smooth + rng.normal(0, 40, smooth.shape), 0, 255).astype(np.uint8)
    ours = VideoWriter.prepare(frame).to_ndarray().astype(int)  # (30, 34): Y rows, then U and V planes
    theirs = av.VideoFrame.from_ndarray(frame, format="rgb24").reformat(format="yuv420p").to_ndarray().astype(int)
    assert np.abs(ours[:20] - theirs[:20]).max() <= 1  # luma
    # chroma: BT.601 limited range of each 2x2 block's mean colour
    mean = frame.reshape(10, 2, 17, 2, 3).astype(float).mean((1, 3))
    r, g, b = mean[..., 0], mean[..., 1], mean[..., 2]
    u = 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255
    v = 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255
    chroma = ours[20:].reshape(2, 10, 17)
    assert np.abs(chroma[0] - u).max() <= 1 and np.abs(chroma[1] - v).max() <= 1
    # odd sizes are padded by repeating the edge
    assert VideoWriter.prepare(frame[:19, :33]).to_ndarray().shape == (30, 34)
