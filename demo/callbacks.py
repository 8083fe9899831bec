"""What the page's events do, as plain methods over paths, numpy arrays and the user's :class:`Workspace`.

Each method returns the values of its event's outputs in order (values or ``gr.update(...)``), so it can be
tested without a server. The page's handlers never raise: a problem becomes a "⚠" line in the component next to
what caused it (the clip line under the video, the objects line under the editor, the status line beside Run),
which stays until the user acts, and no output is left with a bare error badge. The API (:meth:`segment_video`)
raises ``gr.Error`` with the same message, which ``gradio_client`` turns into an ``AppError``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import torch

from demo.annotation import describe_objects, editor_frame, editor_height, editor_value, labels_from_editor
from demo.errors import DemoError, strip_paths, user_message
from demo.limits import Limits
from demo.mask_tools import Sketch, Tool
from demo.models import STARTER, ModelCache
from demo.pipeline import RunProgress, RunResult, segment_clip
from demo.render import RenderOptions, StreamSegments
from demo.workspace import Clip, Workspace, sweep
from rgmp.errors import InputError
from rgmp.inference import Session, SessionOptions
from rgmp.inference import parse_scales as parse_scale_text
from rgmp.inference.session import object_ids_of
from rgmp.io.masks import VOID, read_mask
from rgmp.io.video import intact_frames, iter_video, probe_video

CLIP_OUTPUTS = (
    "state",
    "video",
    "clip_info",
    "first_seconds",
    "frame",
    "editor",
    "objects",
    "run",
    "status",
    "preview",
    "overlay",
    "cutout",
    "masks",
    "exports",
)
"""Outputs of :meth:`DemoCallbacks.open_clip` and :meth:`DemoCallbacks.open_example`, in order."""
RUN_OUTPUTS = ("preview", "status", "overlay", "cutout", "masks", "stream", "exports")
"""Outputs of :meth:`DemoCallbacks.run`, in order."""
ARM_OUTPUTS = ("run", "stop", "status", "preview", "ticket")
"""Outputs of :meth:`DemoCallbacks.arm`, in order."""
FINISH_OUTPUTS = ("run", "stop", "preview")
"""Outputs of :meth:`DemoCallbacks.finish`, in order."""
WARNING = "⚠"
"""Starts every message about a problem."""


def warning(err: BaseException, what: str) -> str:
    """The page's line about ``err``: "⚠ " and :func:`demo.errors.user_message`."""
    return f"{WARNING} {user_message(err, what)}"


def parse_scales(text: str | None) -> tuple[float, ...] | None:
    """ "default" or empty → None (the model's own); "0.5, 0.75, 1" → (0.5, 0.75, 1.0)."""
    if text is None or text.strip() in ("", "default"):
        return None
    try:
        return parse_scale_text(text)
    except InputError as err:
        raise DemoError(str(err)) from None


class DemoCallbacks:
    """The page's behaviour.

    Args:
        models: loaded networks by key.
        device: where sessions run.
        limits: what is accepted.
        work_root: parent of the users' private folders.
        default_size: processing size (short side, px) of the API and of the page's default.
        default_model: the model key used when none is chosen, and by the API (:func:`demo.models.default_model`).
        preview_interval: least time between two live-preview updates, in seconds.
        queue_full: whether the server's queue would refuse a segmentation now (default: never).
    """

    def __init__(
        self,
        *,
        models: ModelCache,
        device: torch.device,
        limits: Limits,
        work_root: Path,
        default_size: int | None = 480,
        default_model: str = STARTER,
        preview_interval: float = 0.25,
        queue_full: Callable[[], bool] = lambda: False,
    ):
        self.models = models
        self.device = device
        self.limits = limits
        self.work_root = work_root
        self.default_size = default_size
        self.default_model = default_model
        self.preview_interval = preview_interval
        self.queue_full = queue_full

    # ----------------------------------------------------------------------------------------------------------
    # Input and annotation

    def workspace(self, workspace: Workspace | None) -> Workspace:
        """The user's workspace, created on first use (old folders of gone users are swept then)."""
        if workspace is None:
            sweep(self.work_root, self.limits.file_age_s)
            workspace = Workspace(self.work_root)
        workspace.touch()
        return workspace

    def probe(self, video: str | Path) -> Clip:
        """Check an uploaded video against the limits, demux it whole to find a file cut short, and describe it."""
        info = probe_video(video)
        self.limits.check_frame_size(info)
        intact = intact_frames(video)
        if intact == 0:
            raise DemoError(f"{Path(video).name} is corrupt: not one frame is complete")
        budget = self.limits.frame_budget(info)
        known = [n for n in (info.num_frames, intact) if n is not None]
        length = min(known) if known else None  # unknown: reading stops at the budget
        return Clip(Path(video), info, min(length or budget, budget), length is not None and length > budget, intact)

    def open_clip(self, workspace: Workspace | None, video: str | None) -> tuple[Any, ...]:
        """A video was uploaded (or cleared): show its first frame in the editor. Outputs: :data:`CLIP_OUTPUTS`.

        A file that cannot be used is taken out of the video box, and the line under it says why.
        """
        workspace = self.workspace(workspace)
        empty = {
            "state": workspace,
            "first_seconds": gr.update(visible=False, value=False),
            "frame": gr.update(value=0, maximum=1, interactive=False),
            "editor": None,
            "objects": describe_objects(None),
            "run": gr.update(value="Run", interactive=False),
            "status": "",
        }
        if video is None:
            workspace.clip = None
            return clip_outputs(**empty, clip_info="")
        try:
            clip = self.probe(video)
            frame = read_frame(clip.path, 0)
        except Exception as err:  # every problem becomes the line under the video box
            workspace.clip = None
            return clip_outputs(**empty, video=None, clip_info=warning(err, "opening the video"))
        workspace.set_clip(clip)
        workspace.sketch = Sketch.of(0, np.zeros(frame.shape[:2], np.uint8))
        return clip_outputs(
            state=workspace,
            clip_info=self.describe_clip(clip),
            first_seconds=gr.update(
                visible=clip.too_long,
                value=False,
                label=f"Process only the first {self.limits.max_seconds:g} s ({clip.frames} frames)",
            ),
            frame=gr.update(value=0, maximum=max(clip.frames - 1, 1), interactive=clip.frames > 1),
            editor=gr.update(
                value=editor_files(workspace, 0, frame), height=editor_height(clip.info.width / clip.info.height)
            ),
            objects=describe_objects(np.zeros(frame.shape[:2], np.uint8)),
            run=gr.update(value="Run from frame 0", interactive=True),
            status="Draw a box across each object (one colour per object), touch it up, or upload a mask; then Run.",
        )

    def open_example(self, workspace: Workspace | None, video: str | None, mask: str | None) -> tuple[Any, ...]:
        """An example was picked: open its video and load its first-frame mask. Outputs: :data:`CLIP_OUTPUTS`."""
        outputs = dict(zip(CLIP_OUTPUTS, self.open_clip(workspace, video), strict=True))
        if outputs["editor"] is not None and mask is not None:
            value, outputs["objects"] = self.load_mask(outputs["state"], mask, outputs["editor"]["value"])
            if isinstance(value, dict) and "background" in value:
                outputs["editor"] = {**outputs["editor"], "value": value}
                outputs["status"] = "The example's first-frame mask is loaded: press Run (or redraw it first)."
        return clip_outputs(**outputs)

    def load_mask(
        self, workspace: Workspace | None, mask: str | None, editor: dict[str, Any] | None
    ) -> tuple[Any, str]:
        """A mask PNG was uploaded for the frame in the editor. Outputs: (editor, objects)."""
        if mask is None:
            return gr.skip(), gr.skip()
        try:
            frame = editor_frame(editor)
            labels = read_mask(mask)
            if labels.shape != frame.shape[:2]:
                raise DemoError(
                    f"the mask {Path(mask).name} is {labels.shape[1]}×{labels.shape[0]} but the video frames are "
                    f"{frame.shape[1]}×{frame.shape[0]}: give a mask of the frame's size"
                )
        except Exception as err:  # shown under the editor; the editor keeps what it had
            return gr.skip(), warning(err, "reading the mask")
        if workspace is None:
            return editor_value(frame, labels), describe_objects(labels)
        workspace.drafts[workspace.editor_frame] = labels
        workspace.sketch = Sketch.of(workspace.editor_frame, labels)
        return editor_files(workspace, workspace.editor_frame, frame, labels), describe_objects(labels)

    def edit(self, workspace: Workspace | None, editor: dict[str, Any] | None, tool: Tool) -> tuple[Any, str]:
        """The user drew in the editor: apply the mask tool to the stroke. Outputs: (editor, objects)."""
        if editor is None or editor.get("background") is None:
            return gr.skip(), describe_objects(None)
        try:
            labels = labels_from_editor(editor)
            frame = editor_frame(editor)
            if workspace is None or workspace.clip is None:
                return gr.skip(), describe_objects(labels)
            sketch = workspace.sketch
            if sketch is None or sketch.index != workspace.editor_frame or sketch.shown.shape != labels.shape:
                sketch = workspace.sketch = Sketch.of(workspace.editor_frame, labels)
            if sketch.shows(labels):  # nothing new (the editor echoes what it was given): keep the last note
                return gr.skip(), gr.skip()
            result, note = sketch.update(frame, labels, tool)
        except Exception as err:  # shown under the editor
            return gr.skip(), warning(err, "reading the strokes")
        shown = labels if result is None else result
        workspace.drafts[workspace.editor_frame] = shown
        text = describe_objects(shown) + (f" · {note}" if note else "")
        editor = gr.skip() if result is None else editor_files(workspace, workspace.editor_frame, frame, result)
        return editor, text

    def show_frame(
        self, workspace: Workspace | None, index: int, editor: dict[str, Any] | None
    ) -> tuple[Any, str, Any]:
        """The frame slider moved: show that frame with its mask (draft, else latest result).

        What was painted on the previous frame is kept as a draft. Outputs: (editor, objects, run).
        """
        try:
            clip = require_clip(workspace)
            index = int(index)
            if editor is not None and editor.get("background") is not None:
                painted = labels_from_editor(editor)
                if painted.any():
                    workspace.drafts[workspace.editor_frame] = painted
            frame = read_frame(clip.path, index)
        except Exception as err:  # shown under the editor
            return gr.skip(), warning(err, "reading the frame"), gr.skip()
        labels = workspace.drafts.get(index)
        if labels is None:
            labels = workspace.result_mask(index)
        workspace.editor_frame = index
        shown = labels if labels is not None else np.zeros(frame.shape[:2], np.uint8)
        workspace.sketch = Sketch.of(index, shown)
        run = gr.skip() if workspace.run_state != "idle" else gr.update(value=f"Run from frame {index}")
        return editor_files(workspace, index, frame, labels), describe_objects(shown), run

    def describe_clip(self, clip: Clip) -> str:
        """One line about the clip: size, frame rate, length and what will be processed."""
        info = clip.info
        count = "unknown number of" if info.num_frames is None else str(info.num_frames)
        text = f"{info.width}×{info.height} · {info.fps:.4g} fps · {count} frames"
        if info.num_frames:
            text += f" ({info.num_frames / info.fps:.1f} s)"
        if info.rotation:
            text += f" · rotated {info.rotation}°"
        if clip.path.suffix.lower() in (".avi", ".mkv"):
            text += " · browsers cannot preview this container, but its frames are read fine"
        if clip.intact is not None:
            text += (
                f"\n\n{WARNING} The file is cut short: only its first {clip.intact} frames "
                f"({clip.intact / info.fps:.1f} s) are complete. They can be segmented; for the rest, upload the "
                "whole file."
            )
        if clip.too_long:
            text += (
                f"\n\n{WARNING} This clip is longer than the {self.limits.max_seconds:g} s this demo processes: tick "
                f"“Process only the first {self.limits.max_seconds:g} s” to segment its first {clip.frames} frames, "
                "or trim it and upload again."
            )
        return text

    # ----------------------------------------------------------------------------------------------------------
    # Run

    def arm(self, workspace: Workspace | None, ticket: float | None) -> tuple[Any, ...]:
        """Run was pressed: when the queue has room, show the run going, enable Stop, forget an earlier Stop, clear
        the status line (the progress is drawn over it), show the live preview, and take a new ``ticket`` (which
        starts the run); when it has none, say so in the status line. Outputs: :data:`ARM_OUTPUTS`.

        A Stop pressed while the run waits in the queue still counts.
        """
        skip = gr.skip()
        if workspace is None or workspace.clip is None:
            return skip, skip, skip, skip, skip
        if self.queue_full():
            busy = (
                f"{WARNING} The server is busy: its queue of {self.limits.queue_size} segmentations is full. Press "
                "Run again in a minute."
            )
            return skip, skip, busy, skip, skip
        workspace.stop.clear()
        workspace.run_state = "queued"
        return (
            gr.update(value="Running…", interactive=False, elem_classes=["running"]),
            gr.update(value="Stop", interactive=True),
            "",
            gr.update(value=None, visible=True),
            (ticket or 0) + 1,
        )

    def finish(self, workspace: Workspace | None) -> tuple[Any, ...]:
        """The run ended (done, stopped or failed): Run back, Stop disabled, the live preview hidden (the overlay
        video shows the result). Outputs: :data:`FINISH_OUTPUTS`."""
        ready = workspace is not None and workspace.clip is not None
        if workspace is not None:
            workspace.run_state = "idle"
        frame = workspace.editor_frame if ready else 0
        return (
            gr.update(value=f"Run from frame {frame}" if ready else "Run", interactive=ready, elem_classes=[]),
            gr.update(value="Stop", interactive=False),
            gr.update(visible=False),
        )

    def stop(self, workspace: Workspace | None) -> Any:
        """The Stop button: the running segmentation ends before its next frame; Stop is disabled at once. Output:
        stop.

        Its label stays "Stop": this answer may reach the page after :meth:`finish`'s, and a "Stopping…" would
        then stay.
        """
        if workspace is not None and workspace.run_state != "idle":
            workspace.stop.set()
        return gr.update(value="Stop", interactive=False)

    def session(self, model_key: str | None, checkpoint: str | None, scales: str | None, size: int | None) -> Session:
        """A session with the chosen network (an uploaded checkpoint wins), scales and processing size (which the
        session never makes larger than the clip)."""
        key = checkpoint or model_key or self.default_model
        model = self.models.get(key)
        options = SessionOptions(scales=parse_scales(scales), size=int(size) if size else None)
        return Session(model, self.device, options, dtype="auto")

    def run(
        self,
        workspace: Workspace | None,
        editor: dict[str, Any] | None,
        model_key: str | None,
        checkpoint: str | None,
        scales: str | None,
        size: int | None,
        overlay_style: str,
        cutout_background: str,
        redo_earlier: bool,
        first_seconds: bool,
        stream_video: bool = False,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 (Gradio's way to ask for a progress bar)
    ) -> Iterator[tuple[Any, ...]]:
        """Segment the clip from the frame in the editor. Yields the outputs :data:`RUN_OUTPUTS`.

        Progress goes to ``progress`` (shown over the status line); the live preview shows the latest overlay
        frame at most every ``preview_interval`` seconds; with ``stream_video`` the forward pass's overlay frames
        also go out as short video segments. A problem ends the run with a "⚠" status line; files already
        written for a clip damaged part way through are handed over.
        """
        skip = gr.skip()
        segments = None
        if workspace is not None:
            workspace.run_state = "running"
        try:
            clip = require_clip(workspace)
            if clip.too_long and not first_seconds:
                raise DemoError(
                    f"the clip is longer than {self.limits.max_seconds:g} s: tick “Process only the first "
                    f"{self.limits.max_seconds:g} s”, or trim it and upload again"
                )
            start = workspace.editor_frame
            labels = checked_labels(labels_from_editor(editor), clip, f"frame {start}")
            session = self.session(model_key, checkpoint, scales, size)
            workspace.drafts.clear()
            run_dir = workspace.new_run_dir()
            segments = StreamSegments(run_dir / "stream", clip.info.fps) if stream_video else None
            run = segment_clip(
                session,
                clip.path,
                labels,
                start=start,
                max_frames=clip.frames,
                fps=clip.info.fps,
                masks_dir=workspace.masks_dir,
                out_dir=run_dir,
                options=RenderOptions(overlay_style, cutout_background),
                stop=workspace.stop,
                redo_earlier=redo_earlier,
            )
            shown = 0.0
            for item in run:
                if isinstance(item, RunProgress):
                    workspace.touch()  # in use: the sweep of old folders leaves it alone however long the run
                    progress((item.done, item.total), desc=progress_text(item), unit="frames")
                    segment = segments.add(item.preview) if segments and not item.backward else None
                    if segment is not None or time.monotonic() - shown >= self.preview_interval:
                        shown = time.monotonic()
                        preview = str(workspace.image_file(item.preview, ".jpg"))
                        yield preview, skip, skip, skip, skip, _path(segment) or skip, skip
                else:
                    segment = segments.flush() if segments else None
                    if segment is not None:
                        yield skip, skip, skip, skip, skip, str(segment), skip
                    overlay, cutout, masks = _path(item.overlay), _path(item.cutout), _path(item.masks_zip)
                    stream = skip if segments else None
                    yield skip, self.result_text(item), overlay, cutout, masks, stream, _path(item.exports)
        except Exception as err:  # the status line says what went wrong; the server keeps serving
            yield skip, warning(err, "segmentation"), skip, skip, skip, skip, skip
        finally:
            if workspace is not None:
                workspace.run_state = "idle"

    def result_text(self, result: RunResult) -> str:
        """The status line at the end of a run."""
        speed = result.segmented / result.elapsed if result.elapsed else 0.0
        timing = f"{result.segmented} frames segmented in {result.elapsed:.1f} s ({speed:.2f} frames/s, {self.device})"
        if result.frames == 0:
            return f"**Stopped** during the backward pass ({timing}): no files were written."
        cover = f"the files cover frames 0–{result.frames - 1}"
        if result.problem is not None:
            return (
                f"{WARNING} **The file ends early** ({strip_paths(result.problem)}): kept what was done, {timing}; "
                f"{cover}."
            )
        if result.stopped:
            return f"**Stopped**: {timing}; {cover}."
        return (
            f"**Done**: {timing}; {cover}. To correct a frame: pick it with the slider, redraw it, and run again "
            "from it (later frames are propagated from the corrected one)."
        )

    # ----------------------------------------------------------------------------------------------------------
    # API

    def segment_video(self, video: str | None, mask: str | None) -> tuple[str, str]:
        """``/segment_video``: (video file, mask PNG of its first frame) → (overlay mp4, zip of palette PNGs).

        Uses the default model, its default scales and the default processing size; clips longer than the
        limit are refused, and so are files cut short.

        Raises:
            gr.Error: with the message the page would show.
        """
        try:
            if not video:
                raise DemoError("no video given")
            if not mask:
                raise DemoError("no mask given: send the first frame's mask as a PNG")
            if not Path(video).is_file() or not Path(mask).is_file():
                raise DemoError(
                    f"the files sent are no longer on the server (deleted after {self.limits.file_age_s} s): send "
                    "them again"
                )
            clip = self.probe(video)
            if clip.intact is not None:
                raise DemoError(
                    f"{Path(video).name} is cut short: only its first {clip.intact} frames are complete; send the "
                    "whole file"
                )
            if clip.too_long:
                raise DemoError(
                    f"the clip is longer than {self.limits.max_seconds:g} s ({self.limits.max_frames} frames at most): "
                    "trim it and send it again"
                )
            labels = checked_labels(read_mask(mask), clip, "the mask")
            workspace = self.workspace(None)
            run = segment_clip(
                self.session(self.default_model, None, None, self.default_size),
                clip.path,
                labels,
                start=0,
                max_frames=clip.frames,
                fps=clip.info.fps,
                masks_dir=workspace.masks_dir,
                out_dir=workspace.new_run_dir(),
                options=RenderOptions(cutout_background="none"),  # not returned: spare its writing
                stop=workspace.stop,
            )
            result = None
            for item in run:
                workspace.touch()  # in use: the sweep of old folders leaves it alone however long the run
                result = item
            assert isinstance(result, RunResult)
            if result.problem is not None:
                raise DemoError(result.problem)
            return str(result.overlay), str(result.masks_zip)
        except Exception as err:  # every failure reaches the client as one readable line
            raise gr.Error(user_message(err, "segmentation"), print_exception=False) from None


# --------------------------------------------------------------------------------------------------------------


def clip_outputs(**given: Any) -> tuple[Any, ...]:
    """The values of :data:`CLIP_OUTPUTS` in order; the video box is left as it is and the five result outputs
    are cleared unless given."""
    values = {"video": gr.skip(), "preview": None, "overlay": None, "cutout": None, "masks": None, "exports": None}
    values.update(given)
    return tuple(values[name] for name in CLIP_OUTPUTS)


def editor_files(
    workspace: Workspace, index: int, frame: np.ndarray, labels: np.ndarray | None = None
) -> dict[str, Any]:
    """:func:`demo.annotation.editor_value` with its images as files in the user's folder (see
    :mod:`demo.workspace` for why): frame ``index`` and ``labels`` painted on one layer (or none)."""
    value = editor_value(frame, labels)
    layers = [str(workspace.image_file(layer)) for layer in value["layers"]]
    return {"background": str(workspace.frame_file(index, frame)), "layers": layers, "composite": None}


def require_clip(workspace: Workspace | None) -> Clip:
    """The workspace's clip, or a :class:`DemoError` asking for one."""
    if workspace is None or workspace.clip is None:
        raise DemoError("no video yet: upload one or pick an example")
    if not workspace.clip.path.is_file():
        raise DemoError("the uploaded video has expired from the server: upload it again")
    return workspace.clip


def checked_labels(labels: np.ndarray, clip: Clip, what: str) -> np.ndarray:
    """``labels`` if it fits the clip's frames and holds at least one object, else a :class:`DemoError`."""
    height, width = clip.info.height, clip.info.width
    if labels.shape != (height, width):
        raise DemoError(
            f"{what} is {labels.shape[1]}×{labels.shape[0]} but the video frames are {width}×{height}: "
            "the mask must have the frame's size"
        )
    if not np.any((labels != 0) & (labels != VOID)):
        raise DemoError(f"{what} is empty: draw a box across an object (or paint it, or upload its mask) first")
    object_ids_of(labels)  # too many objects raise here, before any work
    return labels


def read_frame(video: Path, index: int) -> np.ndarray:
    """Frame ``index`` of a video as (H, W, 3) uint8, decoding lazily up to it."""
    with closing(iter_video(video, index + 1)) as frames:
        for position, frame in enumerate(frames):
            if position == index:
                return frame
    raise DemoError(f"the video has no frame {index}")


def progress_text(item: RunProgress) -> str:
    """``frame 12 · 2.1 frames/s · 14 s left`` (and the pass direction when going backward); the bar shows
    how many frames are done."""
    text = f"frame {item.index} · {item.fps:.2f} frames/s"
    if item.eta is not None:
        text += f" · {item.eta:.0f} s left"
    return text + (" · backward pass" if item.backward else "")


def _path(path: Path | None) -> str | None:
    return None if path is None else str(path)
