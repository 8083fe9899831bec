"""The page's run events: Run (armed when the queue has room, then the segmentation itself), Stop, and the end of a
run; with the progress line, the live preview and the streamed overlay while it goes.

Each handler answers with a dataclass of named outputs (:mod:`demo.outputs`), so it can be tested without a
server. None raises: a problem ends the run with a "⚠" line in the status line beside Run, which stays until the
user acts; files already written for a clip damaged part way through are handed over.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import torch

from demo.annotation import labels_from_editor
from demo.clips import checked_labels, require_clip
from demo.context import DemoContext
from demo.errors import WARNING, DemoError, strip_paths, warning
from demo.models import MODEL_SIZE
from demo.outputs import Update, skip
from demo.pipeline import RunProgress, RunResult, segment_clip
from demo.stream import StreamSegments
from demo.workspace import Workspace
from rgmp.errors import InputError
from rgmp.inference import Session, SessionOptions
from rgmp.inference import parse_scales as parse_scale_text
from rgmp.io.outputs import VideoOptions
from train.online import adapt_schedule


@dataclass
class Armed:
    """Run pressed: the Run and Stop buttons, the status line, the live preview and the ticket that starts the
    run."""

    run: Update = skip()
    stop: Update = skip()
    status: Update = skip()
    preview: Update = skip()
    ticket: Update = skip()


@dataclass
class Finished:
    """The run ended: the Run and Stop buttons and the live preview."""

    run: Update
    stop: Update
    preview: Update


@dataclass
class RunUpdate:
    """One step of a run: the live preview, the status line, the result files and the streamed segment."""

    preview: Update = skip()
    status: Update = skip()
    overlay: Update = skip()
    cutout: Update = skip()
    masks: Update = skip()
    stream: Update = skip()
    exports: Update = skip()


def parse_scales(text: str | None) -> tuple[float, ...] | None:
    """ "default" or empty → None (the model's own); "0.5, 0.75, 1" → (0.5, 0.75, 1.0)."""
    if text is None or text.strip() in ("", "default"):
        return None
    try:
        return parse_scale_text(text)
    except InputError as err:
        raise DemoError(str(err)) from None


def adapt_cost(device: torch.device) -> str:
    """About how long adapting to a clip (:func:`train.online.adapt_schedule`) takes on ``device``, in words."""
    seconds = adapt_schedule(device).estimated_seconds(device)
    return f"about {round(seconds)} s" if seconds >= 1 else "under a second"


def adapt_label(device: torch.device) -> str:
    """The label of the "adapt to this clip first" box, with its cost on ``device``."""
    return f"Adapt to this clip first ({adapt_cost(device)})"


class RunController:
    """Run, Stop and the run's progress over :class:`DemoContext`.

    Args:
        context: the page's shared set-up.
        preview_interval: least time between two live-preview updates, in seconds.
        queue_full: whether the server's queue would refuse a segmentation now (default: never).
    """

    def __init__(
        self,
        context: DemoContext,
        *,
        preview_interval: float = 0.25,
        queue_full: Callable[[], bool] = lambda: False,
    ):
        self.context = context
        self.preview_interval = preview_interval
        self.queue_full = queue_full

    def arm(self, workspace: Workspace | None, ticket: float | None) -> Armed:
        """Run was pressed: when the queue has room, show the run going, enable Stop, forget an earlier Stop, clear
        the status line (the progress is drawn over it), show the live preview, and take a new ``ticket`` (which
        starts the run); when it has none, say so in the status line.

        A Stop pressed while the run waits in the queue still counts.
        """
        if workspace is None or workspace.clip is None:
            return Armed()
        if self.queue_full():
            return Armed(
                status=f"{WARNING} The server is busy: its queue of {self.context.limits.queue_size} segmentations "
                "is full. Press Run again in a minute."
            )
        workspace.stop.clear()
        workspace.run_state = "queued"
        return Armed(
            run=gr.update(value="Running…", interactive=False, elem_classes=["running"]),
            stop=gr.update(value="Stop", interactive=True),
            status="",
            preview=gr.update(value=None, visible=True),
            ticket=(ticket or 0) + 1,
        )

    def finish(self, workspace: Workspace | None) -> Finished:
        """The run ended (done, stopped or failed): Run back, Stop disabled, the live preview hidden (the overlay
        video shows the result)."""
        ready = workspace is not None and workspace.clip is not None
        if workspace is not None:
            workspace.run_state = "idle"
        frame = workspace.editor_frame if ready else 0
        return Finished(
            run=gr.update(value=f"Run from frame {frame}" if ready else "Run", interactive=ready, elem_classes=[]),
            stop=gr.update(value="Stop", interactive=False),
            preview=gr.update(visible=False),
        )

    def stop(self, workspace: Workspace | None) -> Update:
        """The Stop button: the running segmentation (or its adaptation to the clip) ends before its next frame (or
        step); Stop is disabled at once. Output: stop.

        Its label stays "Stop": this answer may reach the page after :meth:`finish`'s, and a "Stopping…" would
        then stay.
        """
        if workspace is not None and workspace.run_state != "idle":
            workspace.stop.set()
        return gr.update(value="Stop", interactive=False)

    def session(
        self,
        model_key: str | None,
        checkpoint: str | None,
        scales: str | None,
        size: int | str | None,
        adapt: Callable[[], bool] | None = None,
    ) -> Session:
        """A session with the chosen network (an uploaded checkpoint wins), prepared once and kept; scales and
        processing size (which the session never makes larger than the clip); with ``adapt`` (the Stop flag),
        adapted to the clip first by the device's :func:`train.online.adapt_schedule`, which Stop cancels. On a
        CUDA GPU every frame is also averaged with its mirror image (flip), as the best-scoring settings do."""
        key = checkpoint or model_key or self.context.default_model
        network = self.context.networks.get(key)
        options = SessionOptions(
            scales=parse_scales(scales),
            size=None if size in (None, "", MODEL_SIZE) else int(size),
            adapt=None if adapt is None else dataclasses.replace(adapt_schedule(network.device), cancel=adapt),
            flip=network.device.type == "cuda",
        )
        return Session(network, network.device, options)

    def run(
        self,
        workspace: Workspace | None,
        editor: dict[str, Any] | None,
        model_key: str | None,
        checkpoint: str | None,
        scales: str | None,
        size: int | str | None,
        overlay_style: str,
        cutout_background: str,
        redo_earlier: bool,
        first_seconds: bool,
        stream_video: bool = False,
        adapt: bool = False,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 (Gradio's way to ask for a progress bar)
    ) -> Iterator[RunUpdate]:
        """Segment the clip from the frame in the editor, adapting the network to the clip first with ``adapt``.

        Progress goes to ``progress`` (shown over the status line); the live preview shows the latest overlay
        frame at most every ``preview_interval`` seconds; with ``stream_video`` the forward pass's overlay frames
        also go out as short video segments.
        """
        limits = self.context.limits
        segments = None
        if workspace is not None:
            workspace.run_state = "running"
        try:
            clip = require_clip(workspace)
            if clip.too_long and not first_seconds:
                raise DemoError(
                    f"the clip is longer than {limits.max_seconds:g} s: tick “Process only the first "
                    f"{limits.max_seconds:g} s”, or trim it and upload again"
                )
            start = workspace.editor_frame
            labels = checked_labels(labels_from_editor(editor), clip, f"frame {start}")
            session = self.session(model_key, checkpoint, scales, size, workspace.stop.is_set if adapt else None)
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
                options=VideoOptions(overlay_style, cutout_background),
                stop=workspace.stop,
                redo_earlier=redo_earlier,
            )
            if adapt:
                progress(None, desc=f"adapting the network to this clip first ({adapt_cost(self.context.device)})")
            shown = 0.0
            for item in run:
                if isinstance(item, RunProgress):
                    workspace.touch()  # in use: the sweep of old folders leaves it alone however long the run
                    progress((item.done, item.total), desc=progress_text(item), unit="frames")
                    segment = segments.add(item.preview) if segments and not item.backward else None
                    if segment is not None or time.monotonic() - shown >= self.preview_interval:
                        shown = time.monotonic()
                        preview = str(workspace.image_file(item.preview, ".jpg"))
                        yield RunUpdate(preview=preview, stream=_path(segment) or gr.skip())
                else:
                    segment = segments.flush() if segments else None
                    if segment is not None:
                        yield RunUpdate(stream=str(segment))
                    yield RunUpdate(
                        status=self.result_text(item),
                        overlay=_path(item.overlay),
                        cutout=_path(item.cutout),
                        masks=_path(item.masks_zip),
                        stream=gr.skip() if segments else None,
                        exports=_path(item.exports),
                    )
        except Exception as err:  # the status line says what went wrong; the server keeps serving
            yield RunUpdate(status=warning(err, "segmentation"))
        finally:
            if workspace is not None:
                workspace.run_state = "idle"

    def result_text(self, result: RunResult) -> str:
        """The status line at the end of a run."""
        speed = result.segmented / result.elapsed if result.elapsed else 0.0
        device = self.context.device
        timing = f"{result.segmented} frames segmented in {result.elapsed:.1f} s ({speed:.2f} frames/s, {device})"
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


def progress_text(item: RunProgress) -> str:
    """``frame 12 · 2.1 frames/s · 14 s left`` (and the pass direction when going backward); the bar shows
    how many frames are done."""
    text = f"frame {item.index} · {item.fps:.2f} frames/s"
    if item.eta is not None:
        text += f" · {item.eta:.0f} s left"
    return text + (" · backward pass" if item.backward else "")


def _path(path: Path | None) -> str | None:
    return None if path is None else str(path)
