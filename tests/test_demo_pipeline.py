"""The demo's segmentation run: files, corrections, backward pass, Stop (tiny synthetic clip, random model)."""

from __future__ import annotations

import io
import json
import threading
import zipfile
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from demo.models import random_model_loader
from demo.pipeline import MASK_PNG_LEVEL, RunProgress, RunResult, segment_clip
from demo.stream import StreamSegments
from rgmp.inference import Session
from rgmp.io.masks import write_mask
from rgmp.io.outputs import VideoOptions
from rgmp.io.video import probe_video
from rgmp.io.video_writer import VideoWriter

FRAMES, H, W = 6, 64, 96


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 6-frame 96×64 clip of a bright square moving right on a dark background."""
    path = tmp_path_factory.mktemp("clip") / "square.mp4"
    with VideoWriter(path, 12) as writer:
        for t in range(FRAMES):
            frame = np.full((H, W, 3), 30, np.uint8)
            frame[20:44, 10 + 6 * t : 34 + 6 * t] = (230, 200, 40)
            writer.write(frame)
    return path


@pytest.fixture(scope="module")
def session() -> Session:
    return Session(random_model_loader(seed=0)("any"), "cpu")


def first_mask() -> np.ndarray:
    labels = np.zeros((H, W), np.uint8)
    labels[20:44, 10:34] = 1
    labels[50:60, 70:90] = 2
    return labels


def run(
    session: Session,
    clip: Path,
    folder: Path,
    start: int = 0,
    stop_after: int | None = None,
    labels: np.ndarray | None = None,
    **kwargs,
):
    """Run to the end from ``labels`` (default :func:`first_mask`) on frame ``start``; returns (progress items,
    result)."""
    stop = threading.Event()
    items: list[RunProgress] = []
    result = None
    run_dir = folder / f"run-{len(list(folder.glob('run-*')))}"
    for item in segment_clip(
        session,
        clip,
        first_mask() if labels is None else labels,
        start=start,
        max_frames=FRAMES,
        fps=12,
        masks_dir=folder / "masks",
        out_dir=run_dir,
        stop=stop,
        options=kwargs.pop("options", VideoOptions()),
        **kwargs,
    ):
        if isinstance(item, RunProgress):
            items.append(item)
            if stop_after is not None and len(items) == stop_after:
                stop.set()
        else:
            result = item
    assert isinstance(result, RunResult)
    return items, result


def zip_labels(path: Path) -> dict[str, np.ndarray]:
    with zipfile.ZipFile(path) as archive:
        out = {}
        for name in archive.namelist():
            with archive.open(name) as f:
                image = Image.open(f)
                assert image.mode == "P"
                out[name] = np.array(image)
    return out


def test_forward_run_writes_videos_and_one_palette_png_per_frame(session, clip, tmp_path) -> None:
    items, result = run(session, clip, tmp_path)
    assert [i.index for i in items] == list(range(FRAMES)) and [i.done for i in items] == list(range(1, 7))
    assert items[-1].total == FRAMES and items[-1].fps > 0 and items[-1].eta == 0
    assert not result.stopped and result.frames == FRAMES and result.segmented == FRAMES
    for video in (result.overlay, result.cutout):
        info = probe_video(video)
        assert (info.num_frames, info.width, info.height, info.fps) == (FRAMES, W, H, 12)
    labels = zip_labels(result.masks_zip)
    assert sorted(labels) == [f"{i:05d}.png" for i in range(FRAMES)]
    np.testing.assert_array_equal(labels["00000.png"], first_mask())
    assert all(set(np.unique(m)) <= {0, 1, 2} for m in labels.values())
    assert items[0].preview.shape == (H, W, 3)
    write_mask(tmp_path / "fast.png", labels["00003.png"], MASK_PNG_LEVEL)  # the faster zlib level, same pixels
    with zipfile.ZipFile(result.masks_zip) as archive:
        assert archive.read("00003.png") == (tmp_path / "fast.png").read_bytes()


def test_correction_keeps_earlier_frames_and_repropagates_later_ones(session, clip, tmp_path) -> None:
    run(session, clip, tmp_path)
    before = {p.name: p.read_bytes() for p in (tmp_path / "masks").glob("*.png")}
    items, result = run(session, clip, tmp_path, start=3)
    assert [i.index for i in items] == [3, 4, 5] and result.segmented == 3 and result.frames == FRAMES
    after = {p.name: p.read_bytes() for p in (tmp_path / "masks").glob("*.png")}
    assert all(after[f"{i:05d}.png"] == before[f"{i:05d}.png"] for i in range(3))
    assert after["00003.png"] != before["00003.png"]  # frame 3 is now the corrected reference itself
    np.testing.assert_array_equal(zip_labels(result.masks_zip)["00003.png"], first_mask())
    assert probe_video(result.overlay).num_frames == FRAMES


def exports(path: Path) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(label maps decoded from coco.json by file stem, alpha mattes by name ``<object>/<frame>``) of an exports zip."""
    with zipfile.ZipFile(path) as archive:
        coco = json.loads(archive.read("coco.json"))
        mattes = {
            name.removeprefix("alpha/").removesuffix(".png"): np.array(Image.open(io.BytesIO(archive.read(name))))
            for name in archive.namelist()
            if name.startswith("alpha/")
        }
    labels = {}
    for image in coco["images"]:
        decoded = np.zeros((image["height"], image["width"]), np.uint8)
        for annotation in coco["annotations"]:
            if annotation["image_id"] == image["id"]:
                decoded[mask_utils.decode(annotation["segmentation"]) > 0] = annotation["instance_id"]
        labels[f"{image['frame_id']:05d}"] = decoded
    return labels, mattes


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # pycocotools' decode, numpy 2
def test_exports_hold_the_masks_as_coco_rle_and_one_alpha_matte_sequence_per_object(session, clip, tmp_path) -> None:
    _, result = run(session, clip, tmp_path)
    masks = zip_labels(result.masks_zip)
    labels, mattes = exports(result.exports)
    assert sorted(labels) == [f"{i:05d}" for i in range(FRAMES)]
    for name, decoded in labels.items():
        np.testing.assert_array_equal(decoded, masks[f"{name}.png"])
    assert sorted(mattes) == [f"{k}/{i:05d}" for k in (1, 2) for i in range(FRAMES)]
    for i in range(FRAMES):
        stack = np.stack([mattes[f"{k}/{i:05d}"] for k in (1, 2)]).astype(int)  # (2, H, W): the probabilities × 255
        label = masks[f"{i:05d}.png"]
        for k in (1, 2):  # each pixel's label has the largest probability (mattes round to 1/255)
            assert (stack[k - 1][label == k] >= stack[2 - k][label == k]).all()
        assert (stack[:, label == 0] <= 128).all()  # background won: no object above one half

    # Object 2 is left out of a correction from frame 3: its mattes from frame 3 on are gone (empty in the zip).
    labels_without_2 = np.where(first_mask() == 2, 0, first_mask())
    _, corrected = run(session, clip, tmp_path, start=3, labels=labels_without_2)
    _, mattes = exports(corrected.exports)
    assert mattes["2/00000"].any() and not any(mattes[f"2/{i:05d}"].any() for i in range(3, FRAMES))
    assert not list((tmp_path / "masks" / "alpha" / "2").glob("0000[345].png"))


def test_frames_before_the_annotated_one_are_propagated_backward_when_they_have_no_result(
    session, clip, tmp_path
) -> None:
    items, result = run(session, clip, tmp_path, start=3)
    assert [(i.index, i.backward) for i in items] == [(2, True), (1, True), (0, True)] + [
        (i, False) for i in range(3, FRAMES)
    ]
    assert result.segmented == FRAMES and items[0].total == FRAMES
    assert sorted(zip_labels(result.masks_zip)) == [f"{i:05d}.png" for i in range(FRAMES)]
    _, again = run(session, clip, tmp_path, start=3)
    assert again.segmented == 3  # earlier frames now have results: forward only
    _, redone = run(session, clip, tmp_path, start=3, redo_earlier=True)
    assert redone.segmented == FRAMES


def test_stop_ends_the_run_before_the_next_frame_and_keeps_what_is_done(session, clip, tmp_path) -> None:
    items, result = run(session, clip, tmp_path, stop_after=2)
    assert len(items) == 2 and result.stopped and result.segmented == 2 and result.frames == 2
    assert probe_video(result.overlay).num_frames == 2
    assert sorted(zip_labels(result.masks_zip)) == ["00000.png", "00001.png"]
    items, result = run(session, clip, tmp_path, start=4, redo_earlier=True, stop_after=1)
    assert len(items) == 1 and items[0].backward and result.stopped
    assert (result.overlay, result.masks_zip, result.frames) == (None, None, 0)
    assert (tmp_path / "masks" / "00003.png").is_file()  # the masks of the frames done are kept


def test_a_clip_damaged_part_way_keeps_and_hands_over_what_was_segmented(session, tmp_path) -> None:
    rng = np.random.default_rng(0)
    with VideoWriter(tmp_path / "noise.mp4", 12, crf=10) as writer:  # a few kB a frame, index at the front
        for _ in range(FRAMES):
            writer.write(rng.integers(0, 256, (H, W, 3), dtype=np.uint8))
    whole = (tmp_path / "noise.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole[: len(whole) * 2 // 3])  # the last frames' data is missing; the header lists all 6
    items, result = run(session, cut, tmp_path)
    assert result.problem is not None and "cut.mp4 is corrupt: cut short after" in result.problem
    done = len(items)
    assert 1 <= done < FRAMES and result.frames == done and not result.stopped
    assert probe_video(result.overlay).num_frames == done and len(zip_labels(result.masks_zip)) == done


def test_no_cutout_writes_the_overlay_and_masks_only(session, clip, tmp_path) -> None:
    _, result = run(session, clip, tmp_path, options=VideoOptions(cutout_background="none"))
    assert result.cutout is None and probe_video(result.overlay).num_frames == FRAMES
    assert len(zip_labels(result.masks_zip)) == FRAMES
    assert sorted(p.name for p in result.overlay.parent.iterdir()) == [
        "square_exports.zip",
        "square_masks.zip",
        "square_overlay.mp4",
    ]


def test_side_by_side_overlay_and_transparent_cutout(session, clip, tmp_path) -> None:
    options = VideoOptions(overlay_style="side_by_side", cutout_background="transparent")
    items, result = run(session, clip, tmp_path, options=options)
    assert items[0].preview.shape == (H, 2 * W, 3)
    assert probe_video(result.overlay).width == 2 * W
    assert result.cutout.suffix == ".webm"
    with av.open(str(result.cutout)) as container:
        stream = container.streams.video[0]
        decoder = av.CodecContext.create("libvpx-vp9", "r")  # FFmpeg's own vp9 decoder drops the alpha plane
        frames = [f for packet in container.demux(stream) for f in decoder.decode(packet)]
    assert len(frames) == FRAMES and frames[0].format.name == "yuva420p"
    alpha = frames[0].to_ndarray(format="rgba")[..., 3]
    assert alpha[30, 20] > 200 and alpha[5, 5] < 50  # object opaque, background transparent


def test_stream_segments_cut_the_overlay_into_short_h264_ts_files(tmp_path) -> None:
    segments = StreamSegments(tmp_path, fps=12, seconds=0.25)  # 3 frames per segment
    frames = [np.full((H, W, 3), 20 * i, np.uint8) for i in range(FRAMES + 1)]
    paths = [segments.add(frame) for frame in frames]
    assert [p is not None for p in paths] == [False, False, True, False, False, True, False]
    last = segments.flush()
    assert last is not None and segments.flush() is None
    files = [paths[2], paths[5], last]
    assert [p.name for p in files] == ["segment-00000.ts", "segment-00001.ts", "segment-00002.ts"]
    for path, count in zip(files, (3, 3, 1), strict=True):
        with av.open(str(path)) as container:
            assert container.format.name == "mpegts"
            stream = container.streams.video[0]
            assert stream.codec_context.name == "h264" and (stream.width, stream.height) == (W, H)
            assert sum(1 for _ in container.decode(stream)) == count
