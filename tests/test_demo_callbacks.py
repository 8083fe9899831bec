"""The demo's callbacks called directly with paths and numpy values (no server): flow, corrections, errors."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import av
import gradio as gr
import numpy as np
import pytest
import torch
from gradio import processing_utils
from PIL import Image

from demo.annotation import PALETTE, editor_frame, editor_value, labels_from_editor
from demo.annotator import Annotator
from demo.api import SegmentApi
from demo.app import build_demo
from demo.clips import read_frame
from demo.context import DemoContext
from demo.errors import strip_paths
from demo.example_clips import EXAMPLES, EXAMPLES_DIR
from demo.limits import Limits
from demo.models import ModelCache, missing_weights_message, model_choices, prepared_networks, random_model_loader
from demo.outputs import values
from demo.pipeline import RunProgress
from demo.run_controller import RunController, adapt_label, parse_scales, progress_text
from demo.workspace import Workspace, remove_workspace, sweep, sweep_leaks
from rgmp.inference import PreparedNetwork
from rgmp.io.masks import read_mask, write_mask
from rgmp.io.video import intact_frames, probe_video
from rgmp.io.video_writer import VideoWriter
from train.online import ADAPT_SCHEDULE, OnlineLearning

BIKE, BIKE_MASK = EXAMPLES_DIR / "bike.mp4", EXAMPLES_DIR / "bike.png"
SIZE = 96
"""Processing size of the tests: tiny, so that a random lite network runs in milliseconds per frame."""


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@dataclass
class Handlers:
    """The page's three groups of handlers over one context."""

    annotator: Annotator
    runs: RunController
    api: SegmentApi


def make_callbacks(tmp_path: Path, loader=None, **limits) -> Handlers:
    context = DemoContext(
        networks=prepared_networks(loader or random_model_loader(), torch.device("cpu")),
        device=torch.device("cpu"),
        limits=Limits(**limits),
        work_root=tmp_path / "work",
        default_size=SIZE,
    )
    return Handlers(Annotator(context), RunController(context, preview_interval=0.0), SegmentApi(context))


def outputs(view) -> dict:
    """The outputs of opening a clip by name; "editor" is the editor's value (its update also sets its height)."""
    out = dict(vars(view))
    if isinstance(out["editor"], dict) and "value" in out["editor"]:
        out["editor_height"], out["editor"] = out["editor"].get("height"), out["editor"]["value"]
    return out


def run(callbacks: Handlers, workspace, editor, **kwargs) -> list[dict]:
    """All the yields of a run, as dicts of the run outputs."""
    args = {
        "model_key": "starter",
        "checkpoint": None,
        "scales": "default",
        "size": SIZE,
        "overlay_style": "overlay",
        "cutout_background": "green",
        "redo_earlier": False,
        "first_seconds": False,
        **kwargs,
    }
    return [dict(vars(y)) for y in callbacks.runs.run(workspace, editor, **args)]


def zip_ids(path: str) -> dict[str, set[int]]:
    with zipfile.ZipFile(path) as archive:
        return {name: set(np.unique(np.array(Image.open(archive.open(name))))) for name in archive.namelist()}


def test_opening_a_video_shows_frame_0_in_the_editor(tmp_path) -> None:
    out = outputs(make_callbacks(tmp_path).annotator.open_clip(None, str(BIKE)))
    workspace = out["state"]
    assert isinstance(workspace, Workspace) and workspace.clip.frames == 4 and workspace.editor_frame == 0
    assert editor_frame(out["editor"]).shape == (480, 854, 3) and out["editor"]["layers"] == []
    assert out["editor"]["background"].endswith("00000.png")  # a file written once: see demo.workspace
    assert out["frame"]["maximum"] == 3 and out["frame"]["interactive"] is True
    assert out["run"]["value"] == "Run from frame 0" and out["run"]["interactive"] is True
    assert "0 objects" in out["objects"] and "854×480 · 24 fps · 4 frames" in out["clip_info"]
    assert out["first_seconds"]["visible"] is False
    assert out["overlay"] is None and out["masks"] is None and out["exports"] is None  # earlier results are cleared
    assert "/ 1.7792 +" in out["editor_height"]  # the editor takes the frame's 854×480 shape


def test_an_example_opens_with_its_first_frame_mask(tmp_path) -> None:
    out = outputs(make_callbacks(tmp_path).annotator.open_example(None, str(BIKE), str(BIKE_MASK)))
    np.testing.assert_array_equal(labels_from_editor(out["editor"]), read_mask(BIKE_MASK))
    assert "2 objects" in out["objects"] and "press Run" in out["status"]
    assert [clip.name for clip in EXAMPLES][:2] == ["bike", "rollerblade"]


def test_full_flow_then_a_correction_from_a_later_frame(tmp_path) -> None:
    callbacks = make_callbacks(tmp_path)
    out = outputs(callbacks.annotator.open_example(None, str(BIKE), str(BIKE_MASK)))
    workspace = out["state"]
    yields = run(callbacks, workspace, out["editor"])
    previews = [y["preview"] for y in yields[:-1]]
    assert len(yields) == 5 and len(set(previews)) == 4 and all(p.endswith(".jpg") for p in previews)
    assert Image.open(previews[-1]).size == (854, 480)
    assert all(isinstance(y["status"], dict) for y in yields[:-1])  # skipped: the progress bar is over it
    final = yields[-1]
    assert "**Done**" in final["status"] and "frames 0–3" in final["status"]
    assert probe_video(final["overlay"]).num_frames == 4 and probe_video(final["cutout"]).num_frames == 4
    ids = zip_ids(final["masks"])
    assert sorted(ids) == [f"{i:05d}.png" for i in range(4)] and ids["00000.png"] == {0, 1, 2}
    with zipfile.ZipFile(final["exports"]) as archive:
        assert archive.namelist() == ["coco.json"] + [f"alpha/{k}/{i:05d}.png" for k in (1, 2) for i in range(4)]

    # correct frame 2: the editor shows the latest result there; repaint it and run again from it
    editor, objects, button = values(callbacks.annotator.show_frame(workspace, 2, out["editor"]))
    np.testing.assert_array_equal(editor_frame(editor), read_frame(BIKE, 2))
    np.testing.assert_array_equal(labels_from_editor(editor), read_mask(workspace.masks_dir / "00002.png"))
    assert button["value"] == "Run from frame 2"
    fixed = np.zeros((480, 854), np.uint8)
    fixed[100:200, 300:400], fixed[250:300, 300:500] = 1, 2
    before = (workspace.masks_dir / "00001.png").read_bytes()
    final = run(callbacks, workspace, editor_value(editor_frame(editor), fixed))[-1]
    assert "2 frames segmented" in final["status"] and "frames 0–3" in final["status"]
    assert (workspace.masks_dir / "00001.png").read_bytes() == before
    np.testing.assert_array_equal(read_mask(workspace.masks_dir / "00002.png"), fixed)
    assert len(zip_ids(final["masks"])) == 4


def test_a_streamed_run_sends_the_overlay_as_video_segments(tmp_path) -> None:
    callbacks = make_callbacks(tmp_path)
    out = outputs(callbacks.annotator.open_example(None, str(BIKE), str(BIKE_MASK)))
    yields = run(callbacks, out["state"], out["editor"], stream_video=True)
    segments = [y["stream"] for y in yields if isinstance(y["stream"], str)]
    assert len(segments) == 1 and segments[0].endswith("segment-00000.ts")  # 4 frames < one 0.5 s segment
    assert probe_video_frames(segments[0]) == 4
    assert "**Done**" in yields[-1]["status"]
    plain = run(callbacks, out["state"], out["editor"])
    assert plain[-1]["stream"] is None  # without streaming the stream output is emptied


def probe_video_frames(path: str) -> int:
    with av.open(path) as container:
        return sum(1 for _ in container.decode(container.streams.video[0]))


def test_moving_the_slider_keeps_what_was_painted_as_a_draft(tmp_path) -> None:
    callbacks = make_callbacks(tmp_path)
    out = outputs(callbacks.annotator.open_clip(None, str(BIKE)))
    workspace = out["state"]
    painted = np.zeros((480, 854), np.uint8)
    painted[10:50, 10:50] = 3
    editor, objects, _ = values(
        callbacks.annotator.show_frame(workspace, 1, editor_value(editor_frame(out["editor"]), painted))
    )
    assert editor["layers"] == [] and "0 objects" in objects and workspace.editor_frame == 1
    editor, objects, _ = values(callbacks.annotator.show_frame(workspace, 0, editor))
    np.testing.assert_array_equal(labels_from_editor(editor), painted)
    assert "1 object" in objects


def test_a_mask_uploaded_for_any_frame_replaces_the_editor_layers_and_must_fit_the_frame(tmp_path) -> None:
    callbacks = make_callbacks(tmp_path)
    out = outputs(callbacks.annotator.open_clip(None, str(BIKE)))
    workspace = out["state"]
    editor, objects = values(callbacks.annotator.load_mask(workspace, str(BIKE_MASK), out["editor"]))
    assert "2 objects" in objects and len(editor["layers"]) == 1
    editor, _, _ = values(
        callbacks.annotator.show_frame(workspace, 2, editor)
    )  # a later frame: the same button, one step
    editor, objects = values(callbacks.annotator.load_mask(workspace, str(BIKE_MASK), editor))
    assert "2 objects" in objects and 2 in workspace.drafts and workspace.sketch.index == 2
    small = tmp_path / "small.png"
    write_mask(small, np.ones((8, 10), np.uint8))
    editor, objects = values(callbacks.annotator.load_mask(workspace, str(small), out["editor"]))
    assert editor == gr.skip()  # the editor keeps what it had
    assert objects == "⚠ the mask small.png is 10×8 but the video frames are 854×480: give a mask of the frame's size"
    assert callbacks.annotator.load_mask(workspace, str(BIKE), out["editor"]).objects.startswith("⚠ cannot read mask")


def test_the_box_tool_in_the_editor_gives_a_mask_and_ignores_its_own_echo(tmp_path) -> None:
    callbacks = make_callbacks(tmp_path)
    out = outputs(callbacks.annotator.open_clip(None, str(EXAMPLES_DIR / "rollerblade.mp4")))
    workspace, frame = out["state"], editor_frame(out["editor"])
    rider = read_mask(EXAMPLES_DIR / "rollerblade.png") == 1
    ys, xs = np.nonzero(rider)
    stroke = np.zeros((480, 854, 4), np.uint8)  # the brush dragged from corner to corner, translucent
    for t in np.linspace(0, 1, 300):
        x, y = round(xs.min() + t * (xs.max() - xs.min())), round(ys.min() + t * (ys.max() - ys.min()))
        stroke[y - 3 : y + 4, x - 3 : x + 4] = (129, 0, 0, 127)
    editor, objects = values(callbacks.annotator.edit(workspace, {"background": frame, "layers": [stroke]}, "box"))
    cut = labels_from_editor(editor) == 1
    assert (cut & rider).sum() / (cut | rider).sum() > 0.7 and "1 object" in objects and "cut in" in objects
    echo = callbacks.annotator.edit(workspace, editor, "box")
    assert values(echo) == (gr.skip(), gr.skip())  # the editor's echo: nothing new
    np.testing.assert_array_equal(workspace.drafts[0] == 1, cut)
    painted, objects = values(callbacks.annotator.edit(workspace, {"background": frame, "layers": [stroke]}, "paint"))
    assert painted == gr.skip() and "1 object" in objects  # paint: as drawn, nothing sent back


def test_edit_counts_objects_and_says_what_is_wrong_under_the_editor(tmp_path) -> None:
    callbacks = make_callbacks(tmp_path)
    frame = np.zeros((20, 30, 3), np.uint8)
    layer = np.zeros((20, 30, 4), np.uint8)
    layer[2:5, 2:5] = (*PALETTE[1], 255)
    layer[10:15, 2:5] = (*PALETTE[2], 255)
    assert "2 objects" in callbacks.annotator.edit(None, {"background": frame, "layers": [layer]}, "box").objects
    assert "No frame" in callbacks.annotator.edit(None, None, "box").objects
    wrong = {"background": frame, "layers": [np.zeros((4, 4, 4), np.uint8)]}
    message = "⚠ layer 1 is 4×4 but the frame is 30×20: clear the editor and paint again"
    assert callbacks.annotator.edit(None, wrong, "box").objects == message


def test_bad_inputs_give_readable_messages_next_to_their_cause_and_name_no_server_path(tmp_path) -> None:
    callbacks = make_callbacks(tmp_path)
    status = run(callbacks, None, None)
    assert [y["status"] for y in status] == ["⚠ no video yet: upload one or pick an example"]
    corrupt, empty, text = tmp_path / "corrupt.mp4", tmp_path / "zero.mp4", tmp_path / "notes.mp4"
    corrupt.write_bytes(BIKE.read_bytes()[:2000])
    empty.write_bytes(b"")
    text.write_text("not a video\n" * 50)
    webm = tmp_path / "empty.webm"
    with av.open(str(webm), "w") as container:  # a video stream that never got a frame
        stream = container.add_stream("libvpx-vp9", rate=24)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        container.start_encoding()
    expected = {
        BIKE_MASK: "⚠ bike.png is a still image, not a video",
        corrupt: "⚠ corrupt.mp4 is",
        empty: "⚠ zero.mp4 is empty (0 bytes)",
        text: "⚠ notes.mp4 is not a readable video (unknown format or corrupt file)",
        webm: "⚠ cannot open video empty.webm",
    }
    for path, message in expected.items():
        out = outputs(callbacks.annotator.open_clip(None, str(path)))
        assert out["clip_info"].startswith(message) and str(tmp_path) not in out["clip_info"]
        assert out["video"] is None and out["editor"] is None and out["run"]["interactive"] is False
        assert out["state"].clip is None
    out = outputs(callbacks.annotator.open_clip(None, str(BIKE)))
    assert [y["status"] for y in run(callbacks, out["state"], out["editor"])] == [
        "⚠ frame 0 is empty: draw a box across an object (or paint it, or upload its mask) first"
    ]
    painted = editor_value(editor_frame(out["editor"]), read_mask(BIKE_MASK))
    assert run(callbacks, out["state"], painted, scales="big")[-1]["status"].startswith(
        "⚠ scales must be comma-separated numbers"
    )


def cut_short_clip(folder: Path, frames: int = 30) -> Path:
    """A 96×64 H.264 mp4 of ``frames`` noise frames (index at the front), cut in half: its header still
    declares every frame."""
    rng = np.random.default_rng(0)
    whole = folder / "whole.mp4"
    with VideoWriter(whole, 24.0, crf=10) as writer:
        for _ in range(frames):
            writer.write(rng.integers(0, 256, (64, 96, 3), dtype=np.uint8))
    half = folder / "half.mp4"
    half.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    return half


def test_a_clip_cut_short_is_found_at_upload_and_its_complete_frames_are_segmented(tmp_path) -> None:
    half = cut_short_clip(tmp_path)
    intact = intact_frames(half)
    assert probe_video(half).num_frames == 30 and 5 < intact < 25
    callbacks = make_callbacks(tmp_path)
    out = outputs(callbacks.annotator.open_clip(None, str(half)))
    assert out["state"].clip.frames == intact and out["frame"]["maximum"] == intact - 1
    assert f"⚠ The file is cut short: only its first {intact} frames" in out["clip_info"]
    labels = np.zeros((64, 96), np.uint8)
    labels[10:40, 20:60] = 1
    final = run(callbacks, out["state"], editor_value(editor_frame(out["editor"]), labels))[-1]
    assert final["status"].startswith("**Done**") and f"frames 0–{intact - 1}" in final["status"]
    assert len(zip_ids(final["masks"])) == intact and probe_video(final["overlay"]).num_frames == intact
    with pytest.raises(gr.Error, match=f"half.mp4 is cut short: only its first {intact} frames are complete"):
        callbacks.api.segment_video(str(half), str(BIKE_MASK))


def test_the_editors_images_go_out_as_files_that_gradio_never_rewrites(tmp_path, monkeypatch) -> None:
    """An array sent twice is re-encoded into the same content-named cache file, in place, truncating it under a
    download in progress ("Too little data for declared Content-Length" in the log); a file is copied once."""
    rewritten = []
    write_bytes = Path.write_bytes

    def spy(path: Path, data: bytes) -> int:
        if path.exists():
            rewritten.append(path.name)
        return write_bytes(path, data)

    monkeypatch.setattr(Path, "write_bytes", spy)
    callbacks = make_callbacks(tmp_path)
    out = outputs(callbacks.annotator.open_example(None, str(BIKE), str(BIKE_MASK)))
    cache = str(tmp_path / "cache")
    for _ in range(2):
        processing_utils.save_img_array_to_cache(editor_frame(out["editor"]), cache, format="png")
    assert rewritten == ["image.png"]  # what Gradio does with an array sent again
    rewritten.clear()
    copies = []
    for _ in range(2):
        editor, _, _ = values(callbacks.annotator.show_frame(out["state"], 0, out["editor"]))
        assert isinstance(editor["background"], str) and all(isinstance(p, str) for p in editor["layers"])
        copies += [processing_utils.save_file_to_cache(p, cache) for p in [editor["background"], *editor["layers"]]]
    assert rewritten == [] and copies[0] == copies[2]  # the frame: one file sent twice, copied once


def test_messages_never_show_server_paths() -> None:
    assert strip_paths("cannot open /tmp/gradio/0a1b/my clip.mp4 now") == "cannot open my clip.mp4 now"
    assert strip_paths("video file not found: /tmp/gradio/0a1b/clip.mp4") == "video file not found: clip.mp4"
    assert strip_paths("see https://example.org/a/b.html and ./x/y") == "see https://example.org/a/b.html and ./x/y"


def test_limits_are_enforced_and_a_long_clip_can_be_cut_to_its_first_seconds(tmp_path) -> None:
    too_big = outputs(
        make_callbacks(tmp_path, max_long_side=640, max_short_side=480).annotator.open_clip(None, str(BIKE))
    )
    assert too_big["clip_info"].startswith("⚠ the video is 854×480; this demo takes frames up to 640×480")
    callbacks = make_callbacks(tmp_path, max_seconds=0.1)  # 2 frames at 24 fps
    out = outputs(callbacks.annotator.open_example(None, str(BIKE), str(BIKE_MASK)))
    assert out["first_seconds"]["visible"] is True and "(2 frames)" in out["first_seconds"]["label"]
    assert "longer than the 0.1 s" in out["clip_info"] and out["frame"]["maximum"] == 1
    assert "tick “Process only the first 0.1 s”" in run(callbacks, out["state"], out["editor"])[-1]["status"]
    final = run(callbacks, out["state"], out["editor"], first_seconds=True)[-1]
    assert len(zip_ids(final["masks"])) == 2 and probe_video(final["overlay"]).num_frames == 2
    with pytest.raises(gr.Error, match="the clip is longer than 0.1 s"):
        callbacks.api.segment_video(str(BIKE), str(BIKE_MASK))


class _Exploding(torch.nn.Module):
    """Stands for a network whose forward pass fails."""

    def __init__(self, model: torch.nn.Module, error: Exception):
        super().__init__()
        self.inner, self.error, self.config = model, error, model.config

    def encode_reference(self, frame, mask):
        return self.inner.encode_reference(frame, mask)

    def forward(self, frame, mask, reference):
        raise self.error


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), "the GPU ran out of memory"),
        (RuntimeError("something broke"), r"failed unexpectedly \(RuntimeError: something broke\)"),
    ],
)
def test_model_failures_become_messages(tmp_path, error, message) -> None:
    loader = random_model_loader()
    callbacks = make_callbacks(tmp_path, lambda key: _Exploding(loader(key), error))
    out = outputs(callbacks.annotator.open_example(None, str(BIKE), str(BIKE_MASK)))
    assert re.search(message, run(callbacks, out["state"], out["editor"])[-1]["status"])


def test_run_and_stop_tell_the_truth_about_a_run(tmp_path) -> None:
    callbacks = make_callbacks(tmp_path)
    out = outputs(callbacks.annotator.open_example(None, str(BIKE), str(BIKE_MASK)))
    workspace = out["state"]
    assert callbacks.runs.stop(workspace) == gr.update(value="Stop", interactive=False)  # idle: Stop does nothing
    assert not workspace.stop.is_set()
    armed = vars(callbacks.runs.arm(workspace, 3))
    assert armed["run"]["value"] == "Running…" and armed["run"]["interactive"] is False
    assert armed["run"]["elem_classes"] == ["running"] and armed["stop"]["interactive"] is True
    assert armed["status"] == "" and armed["preview"]["visible"] is True and workspace.run_state == "queued"
    assert armed["ticket"] == 4  # a new ticket: that starts the run
    assert callbacks.runs.stop(workspace) == gr.update(value="Stop", interactive=False) and workspace.stop.is_set()
    final = run(callbacks, workspace, out["editor"])[-1]
    assert final["status"].startswith("**Stopped**")  # pressed while queued: the run ends at once
    done = vars(callbacks.runs.finish(workspace))
    assert done["run"]["value"] == "Run from frame 0" and done["run"]["interactive"] is True
    assert done["run"]["elem_classes"] == [] and done["stop"]["interactive"] is False
    assert done["preview"]["visible"] is False and workspace.run_state == "idle"
    callbacks.runs.arm(workspace, 4)
    assert not workspace.stop.is_set()  # a new run forgets the earlier Stop
    callbacks.runs.finish(workspace)
    callbacks.runs.queue_full = lambda: True
    busy = vars(callbacks.runs.arm(workspace, 4))
    assert busy["status"].startswith("⚠ The server is busy: its queue of 32 segmentations is full")
    assert busy["ticket"] == gr.skip() and busy["run"] == gr.skip() and workspace.run_state == "idle"
    assert values(callbacks.runs.arm(None, 0)) == (gr.skip(),) * 5


def test_progress_text_names_the_frame_speed_and_time_left() -> None:
    item = RunProgress(done=5, total=35, index=12, elapsed=2.5, draw=lambda: None, backward=False)
    assert progress_text(item) == "frame 12 · 2.00 frames/s · 15 s left"
    assert progress_text(RunProgress(1, None, 3, 1.0, lambda: None, True)) == "frame 3 · 1.00 frames/s · backward pass"


def test_api_function_returns_overlay_and_zip(tmp_path) -> None:
    callbacks = make_callbacks(tmp_path)
    overlay, masks = values(callbacks.api.segment_video(str(BIKE), str(BIKE_MASK)))
    assert overlay.endswith("bike_overlay.mp4") and probe_video(overlay).num_frames == 4
    assert len(zip_ids(masks)) == 4
    assert [p.name for p in Path(overlay).parent.glob("*cutout*")] == []  # not returned, so not made
    with pytest.raises(gr.Error, match="no mask given"):
        callbacks.api.segment_video(str(BIKE), None)


def test_parse_scales(tmp_path) -> None:
    assert parse_scales("default") is None and parse_scales("") is None and parse_scales(None) is None
    assert parse_scales("0.5, 0.75,1") == (0.5, 0.75, 1.0)


def test_limits_from_env_and_budget() -> None:
    limits = Limits.from_env({"RGMP_DEMO_MAX_SECONDS": "12.5", "RGMP_DEMO_MAX_UPLOAD_MB": "50"})
    assert limits.max_seconds == 12.5 and limits.max_upload_mb == 50 and limits.max_frames == 900
    assert "Uploads up to 50 MB" in limits.describe() and "clips up to 12.5 s" in limits.describe()
    with pytest.raises(ValueError, match="RGMP_DEMO_MAX_FRAMES must be a number"):
        Limits.from_env({"RGMP_DEMO_MAX_FRAMES": "many"})
    assert Limits(max_seconds=10, max_frames=100).frame_budget(probe_video(BIKE)) == 100


def test_old_user_folders_are_swept_and_state_deletion_removes_the_folder(tmp_path) -> None:
    old, fresh = Workspace(tmp_path), Workspace(tmp_path)
    os.utime(old.folder, (time.time() - 7200, time.time() - 7200))
    assert sweep(tmp_path, 3600) == 1
    assert not old.folder.exists() and fresh.folder.exists()
    remove_workspace(fresh)
    assert not fresh.folder.exists() and fresh.stop.is_set()
    uploads = tmp_path / "uploads"
    (uploads / "ab12").mkdir(parents=True)
    for name in ("tmpold", "tmpnew", "ab12/clip.mp4"):
        (uploads / name).write_bytes(b"")
    (uploads / "tmpbig").write_bytes(b"being received")
    for name in ("tmpold", "tmpbig", "ab12/clip.mp4"):
        os.utime(uploads / name, (time.time() - 7200, time.time() - 7200))
    assert sweep_leaks(uploads, 3600) == 1  # Gradio's empty leftovers only
    assert sorted(p.name for p in uploads.rglob("*") if p.is_file()) == ["clip.mp4", "tmpbig", "tmpnew"]


def test_model_choices_and_the_missing_weights_message(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr("rgmp.weights.PACKAGE_WEIGHTS", tmp_path / "package")
    monkeypatch.setenv("RGMP_WEIGHTS_DIR", str(tmp_path))
    (tmp_path / "mine.pt").write_bytes(b"")
    assert model_choices() == [
        ("Lite · starter weights (default)", "starter"),
        ("Checkpoint · mine.pt", str(tmp_path / "mine.pt")),
    ]
    assert "no starter weights found" in missing_weights_message()
    calls = []
    cache = ModelCache(lambda key: calls.append(key) or key, size=1)
    assert [cache.get("a"), cache.get("a"), cache.get("b"), cache.get("a")] == ["a", "a", "b", "a"]
    assert calls == ["a", "b", "a"]


@pytest.mark.parametrize(
    ("suffix", "container", "codec"),
    [(".mov", "mov", "libx264"), (".webm", "webm", "libvpx-vp9"), (".avi", "avi", "mpeg4")],
)
def test_mov_webm_and_avi_uploads_open(tmp_path, suffix, container, codec) -> None:
    path = tmp_path / f"clip{suffix}"
    with av.open(str(path), "w", format=container) as output:
        stream = output.add_stream(codec, rate=24)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        for t in range(3):
            picture = np.full((64, 96, 3), 40 * t, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")):
                output.mux(packet)
        for packet in stream.encode(None):
            output.mux(packet)
    out = outputs(make_callbacks(tmp_path).annotator.open_clip(None, str(path)))
    assert out["state"].clip.frames == 3 and editor_frame(out["editor"]).shape == (64, 96, 3)
    assert ("browsers cannot preview" in out["clip_info"]) == (suffix == ".avi")


def test_a_rotated_clip_is_shown_and_segmented_upright(tmp_path) -> None:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        pytest.skip("ffmpeg is absent (apt-get install -y ffmpeg): needed to tag a test clip as rotated")
    rotated = tmp_path / "portrait.mp4"
    command = [ffmpeg, "-loglevel", "error", "-i", str(BIKE), "-c", "copy", "-metadata:s:v:0", "rotate=90"]
    subprocess.run([*command, str(rotated)], check=True)
    callbacks = make_callbacks(tmp_path)
    out = outputs(callbacks.annotator.open_clip(None, str(rotated)))
    assert editor_frame(out["editor"]).shape == (854, 480, 3) and "480×854" in out["clip_info"]
    assert "rotated 90°" in out["clip_info"]
    labels = np.zeros((854, 480), np.uint8)
    labels[300:500, 100:300] = 1
    final = run(callbacks, out["state"], editor_value(editor_frame(out["editor"]), labels))[-1]
    info = probe_video(final["overlay"])
    assert (info.width, info.height, info.num_frames) == (480, 854, 4)


def test_the_page_says_when_no_weights_are_installed(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr("rgmp.weights.PACKAGE_WEIGHTS", tmp_path / "package")
    monkeypatch.delenv("RGMP_WEIGHTS_DIR", raising=False)
    page = build_demo(work_root=tmp_path / "work", device="cpu")
    warnings = [c for c in page.config["components"] if c.get("props", {}).get("elem_id") == "weights-warning"]
    assert len(warnings) == 1 and "no starter weights found" in warnings[0]["props"]["value"]
    with_loader = build_demo(model_loader=random_model_loader(), work_root=tmp_path / "work", device="cpu")
    assert not [c for c in with_loader.config["components"] if c.get("props", {}).get("elem_id") == "weights-warning"]


@dataclass(frozen=True)
class CountedSchedule(OnlineLearning):
    """Online learning that notes each call (the same list in every copy :func:`dataclasses.replace` makes)."""

    calls: list = field(default_factory=list, compare=False)

    def __call__(self, model, frame, mask):
        self.calls.append(self.cancel)
        return super().__call__(model, frame, mask)


def test_adapting_to_the_clip_first_runs_the_schedule_says_so_and_stop_cancels_it(tmp_path, monkeypatch) -> None:
    schedule = CountedSchedule(steps=2, lr=1e-4, batch_size=1, size=(64, 64))
    # a tiny schedule: the real one takes seconds
    monkeypatch.setattr("demo.run_controller.adapt_schedule", lambda device: schedule)
    callbacks = make_callbacks(tmp_path)
    out = outputs(callbacks.annotator.open_example(None, str(BIKE), str(BIKE_MASK)))
    workspace = out["state"]
    said = []
    yields = run(
        callbacks, workspace, out["editor"], adapt=True, progress=lambda *_, desc=None, **__: said.append(desc)
    )
    final = yields[-1]
    assert len(schedule.calls) == 1 and schedule.calls[0] == workspace.stop.is_set  # Stop is its cancel flag
    assert said[0].startswith("adapting the network to this clip first (")
    assert "**Done**" in final["status"] and len(zip_ids(final["masks"])) == 4
    assert probe_video(final["overlay"]).num_frames == 4
    workspace.stop.set()  # Stop pressed while it adapts: it ends, and so does the run
    assert run(callbacks, workspace, out["editor"], adapt=True)[-1]["status"].startswith("**Stopped**")
    assert len(schedule.calls) == 2
    assert run(callbacks, workspace, out["editor"])[-1]["status"].startswith("**Stopped**")
    assert len(schedule.calls) == 2  # unticked: no adapting


def test_the_adapt_box_shows_its_cost_and_is_ticked_for_the_light_model(tmp_path) -> None:
    seconds = round(ADAPT_SCHEDULE.estimated_seconds("cpu"))  # the GPU's schedule does 3× the work, in under 1 s
    assert seconds >= 1 and adapt_label(torch.device("cpu")) == f"Adapt to this clip first (about {seconds} s)"
    assert adapt_label(torch.device("cuda")) == "Adapt to this clip first (under a second)"
    page = build_demo(model_loader=random_model_loader(), work_root=tmp_path / "work", device="cpu")
    boxes = [c["props"] for c in page.config["components"] if c.get("props", {}).get("elem_id") == "adapt"]
    assert len(boxes) == 1 and boxes[0]["label"] == adapt_label(torch.device("cpu")) and boxes[0]["value"] is True


def test_the_network_is_prepared_once_and_kept_between_runs(tmp_path, monkeypatch) -> None:
    built = []
    build = PreparedNetwork.build
    monkeypatch.setattr(PreparedNetwork, "build", classmethod(lambda cls, *a, **k: built.append(a) or build(*a, **k)))
    callbacks = make_callbacks(tmp_path)
    out = outputs(callbacks.annotator.open_example(None, str(BIKE), str(BIKE_MASK)))
    for _ in range(2):
        assert "**Done**" in run(callbacks, out["state"], out["editor"])[-1]["status"]
    callbacks.api.segment_video(str(BIKE), str(BIKE_MASK))
    assert len(built) == 1
