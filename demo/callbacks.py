"""What the page's events do, as plain methods over paths, numpy arrays and the user's :class:`Workspace`.

Each method returns the values of its event's outputs in order (values or ``gr.update(...)``), so it can be
tested without a server. User errors become ``gr.Error`` (a readable message in the page, an ``AppError`` for
``gradio_client``); the server keeps serving.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import torch

from demo.annotation import describe_objects, editor_frame, editor_value, labels_from_editor
from demo.errors import DemoError, user_error_types
from demo.limits import Limits
from demo.models import STARTER, ModelCache
from demo.pipeline import RunProgress, RunResult, segment_clip
from demo.render import RenderOptions, StreamSegments
from demo.workspace import Clip, Workspace, sweep
from rgmp.errors import InputError
from rgmp.inference import Session, SessionOptions
from rgmp.inference import parse_scales as parse_scale_text
from rgmp.inference.session import object_ids_of
from rgmp.io.masks import read_mask
from rgmp.io.video import iter_video, probe_video

log = logging.getLogger(__name__)

CLIP_OUTPUTS = (
    "state",
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


@contextmanager
def page_errors(what: str) -> Iterator[None]:
    """Turn any exception into a ``gr.Error`` with a readable one-line message.

    User errors keep their message; a GPU out-of-memory says what to lower; anything else is logged with its
    traceback and reported as unexpected.
    """
    try:
        yield
    except gr.Error:
        raise
    except user_error_types() as err:
        raise gr.Error(str(err), print_exception=False) from None
    except torch.OutOfMemoryError:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        raise gr.Error(
            f"{what}: the GPU ran out of memory. Choose a smaller processing size, fewer scales or a shorter "
            "clip, and run again.",
            print_exception=False,
        ) from None
    except Exception as err:
        log.exception("%s failed", what)
        message = " ".join(str(err).split()) or type(err).__name__
        raise gr.Error(f"{what} failed unexpectedly ({type(err).__name__}: {message})") from None


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
    ):
        self.models = models
        self.device = device
        self.limits = limits
        self.work_root = work_root
        self.default_size = default_size
        self.default_model = default_model
        self.preview_interval = preview_interval

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
        """Check an uploaded video against the limits and describe it."""
        info = probe_video(video)
        self.limits.check_frame_size(info)
        budget = self.limits.frame_budget(info)
        return Clip(Path(video), info, min(info.num_frames or budget, budget), self.limits.is_too_long(info))

    def open_clip(self, workspace: Workspace | None, video: str | None) -> tuple[Any, ...]:
        """A video was uploaded (or cleared): show its first frame in the editor. Outputs: :data:`CLIP_OUTPUTS`."""
        with page_errors("opening the video"):
            workspace = self.workspace(workspace)
            if video is None:
                workspace.clip = None
                return clip_outputs(
                    state=workspace,
                    clip_info="",
                    first_seconds=gr.update(visible=False, value=False),
                    frame=gr.update(value=0, maximum=1, interactive=False),
                    editor=None,
                    objects=describe_objects(None),
                    run=gr.update(value="Run", interactive=False),
                    status="",
                )
            clip = self.probe(video)
            frame = read_frame(clip.path, 0)
            workspace.set_clip(clip)
            return clip_outputs(
                state=workspace,
                clip_info=self.describe_clip(clip),
                first_seconds=gr.update(
                    visible=clip.too_long,
                    value=False,
                    label=f"Process only the first {self.limits.max_seconds:g} s ({clip.frames} frames)",
                ),
                frame=gr.update(value=0, maximum=max(clip.frames - 1, 1), interactive=clip.frames > 1),
                editor=editor_value(frame),
                objects=describe_objects(np.zeros(frame.shape[:2], np.uint8)),
                run=gr.update(value="Run from frame 0", interactive=True),
                status="Paint each object in its own colour (or on its own layer), or upload a mask, then press Run.",
            )

    def open_example(self, workspace: Workspace | None, video: str | None, mask: str | None) -> tuple[Any, ...]:
        """An example was picked: open its video and load its first-frame mask. Outputs: :data:`CLIP_OUTPUTS`."""
        outputs = dict(zip(CLIP_OUTPUTS, self.open_clip(workspace, video), strict=True))
        if video is not None and mask is not None:
            outputs["editor"], outputs["objects"] = self.load_mask(outputs["state"], mask, outputs["editor"])
            outputs["status"] = "The example's first-frame mask is loaded: press Run (or repaint it first)."
        return clip_outputs(**outputs)

    def load_mask(
        self, workspace: Workspace | None, mask: str | None, editor: dict[str, Any] | None
    ) -> tuple[Any, str]:
        """A mask PNG was uploaded for the frame in the editor. Outputs: (editor, objects)."""
        with page_errors("reading the mask"):
            if mask is None:
                return gr.skip(), gr.skip()
            frame = editor_frame(editor)
            labels = read_mask(mask)
            if labels.shape != frame.shape[:2]:
                raise DemoError(
                    f"the mask is {labels.shape[1]}×{labels.shape[0]} but the video frames are "
                    f"{frame.shape[1]}×{frame.shape[0]}: give a mask of the frame's size"
                )
            if workspace is not None:
                workspace.drafts[workspace.editor_frame] = labels
            return editor_value(frame, labels), describe_objects(labels)

    def count_objects(self, editor: dict[str, Any] | None) -> str:
        """The editor changed: say how many objects are painted. Output: objects."""
        if editor is None or editor.get("background") is None:
            return describe_objects(None)
        try:
            return describe_objects(labels_from_editor(editor))
        except DemoError as err:
            return f"⚠ {err}"

    def show_frame(
        self, workspace: Workspace | None, index: int, editor: dict[str, Any] | None
    ) -> tuple[Any, str, Any]:
        """The frame slider moved: show that frame with its mask (draft, else latest result).

        What was painted on the previous frame is kept as a draft. Outputs: (editor, objects, run).
        """
        with page_errors("reading the frame"):
            clip = require_clip(workspace)
            index = int(index)
            if editor is not None and editor.get("background") is not None:
                painted = labels_from_editor(editor)
                if painted.any():
                    workspace.drafts[workspace.editor_frame] = painted
            frame = read_frame(clip.path, index)
            labels = workspace.drafts.get(index)
            if labels is None:
                labels = workspace.result_mask(index)
            workspace.editor_frame = index
            shown = labels if labels is not None else np.zeros(frame.shape[:2], np.uint8)
            return editor_value(frame, labels), describe_objects(shown), gr.update(value=f"Run from frame {index}")

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
        if clip.too_long:
            text += (
                f"\n\n⚠ This clip is longer than the {self.limits.max_seconds:g} s this demo processes: tick "
                f"“Process only the first {self.limits.max_seconds:g} s” to segment its first {clip.frames} frames, "
                "or trim it and upload again."
            )
        return text

    # ----------------------------------------------------------------------------------------------------------
    # Run

    def arm(self, workspace: Workspace | None) -> None:
        """Before a run is queued: forget an earlier Stop (a Stop pressed while queued still counts)."""
        if workspace is not None:
            workspace.stop.clear()

    def stop(self, workspace: Workspace | None) -> Any:
        """The Stop button: the running segmentation ends before its next frame. Output: status."""
        if workspace is None:
            return gr.skip()
        workspace.stop.set()
        return "Stopping…"

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

        The live preview shows the latest overlay frame at most every ``preview_interval`` seconds; with
        ``stream_video`` the forward pass's overlay frames also go out as 2-second video segments.
        """
        with page_errors("segmentation"):
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
            skip = gr.skip()
            for item in run:
                if isinstance(item, RunProgress):
                    progress((item.done, item.total), desc=progress_text(item), unit="frames")
                    segment = segments.add(item.preview) if segments and not item.backward else None
                    if segment is not None or time.monotonic() - shown >= self.preview_interval:
                        shown = time.monotonic()
                        yield item.preview, progress_text(item), skip, skip, skip, _path(segment) or skip, skip
                else:
                    segment = segments.flush() if segments else None
                    if segment is not None:
                        yield skip, skip, skip, skip, skip, str(segment), skip
                    overlay, cutout, masks = _path(item.overlay), _path(item.cutout), _path(item.masks_zip)
                    stream = skip if segments else None
                    yield skip, self.result_text(item), overlay, cutout, masks, stream, _path(item.exports)

    def result_text(self, result: RunResult) -> str:
        """The status line at the end of a run."""
        speed = result.segmented / result.elapsed if result.elapsed else 0.0
        timing = f"{result.segmented} frames segmented in {result.elapsed:.1f} s ({speed:.2f} frames/s, {self.device})"
        if result.frames == 0:
            return f"**Stopped** during the backward pass ({timing}): no files were written."
        cover = f"the files cover frames 0–{result.frames - 1}"
        if result.stopped:
            return f"**Stopped**: {timing}; {cover}."
        return (
            f"**Done**: {timing}; {cover}. To correct a frame: pick it with the slider, repaint it, and run "
            "again from it (later frames are propagated from the corrected one)."
        )

    # ----------------------------------------------------------------------------------------------------------
    # API

    def segment_video(self, video: str | None, mask: str | None) -> tuple[str, str]:
        """``/segment_video``: (video file, mask PNG of its first frame) → (overlay mp4, zip of palette PNGs).

        Uses the default model, its default scales and the default processing size; clips longer than the
        limit are refused.
        """
        with page_errors("segmentation"):
            if not video:
                raise DemoError("no video given")
            if not mask:
                raise DemoError("no mask given: send the first frame's mask as a PNG")
            clip = self.probe(video)
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
            result = [item for item in run if isinstance(item, RunResult)][0]
            return str(result.overlay), str(result.masks_zip)


# --------------------------------------------------------------------------------------------------------------


def clip_outputs(**values: Any) -> tuple[Any, ...]:
    """The values of :data:`CLIP_OUTPUTS` in order; the five result outputs default to None (cleared)."""
    values = {"preview": None, "overlay": None, "cutout": None, "masks": None, "exports": None, **values}
    return tuple(values[name] for name in CLIP_OUTPUTS)


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
    if not np.any((labels != 0) & (labels != 255)):
        raise DemoError(f"{what} is empty: paint at least one object (or upload its mask) before running")
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
    """``frame 12 · 5/34 · 2.1 frames/s · 14 s left`` (and the pass direction when going backward)."""
    total = "?" if item.total is None else str(item.total)
    text = f"frame {item.index} · {item.done}/{total} · {item.fps:.2f} frames/s"
    if item.eta is not None:
        text += f" · {item.eta:.0f} s left"
    return text + (" · backward pass" if item.backward else "")


def _path(path: Path | None) -> str | None:
    return None if path is None else str(path)
