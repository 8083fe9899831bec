"""The Gradio page: its handlers wired to its sections (:func:`build_demo`), and serving (:func:`launch_demo`).

The sections are laid out in :mod:`demo.layout`; what the events do is in :mod:`demo.annotator` (input and
annotation), :mod:`demo.run_controller` (Run, Stop, progress) and :mod:`demo.api` (``/segment_video``, the API for
scripts).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from pathlib import Path

import gradio as gr
import torch

from demo import layout
from demo.annotator import Annotator, ClipView, EditorUpdate, FrameView
from demo.api import ApiResult, SegmentApi
from demo.context import DemoContext
from demo.example_clips import EXAMPLES_DIR, attribution
from demo.layout import CSS, TITLE, Components
from demo.limits import Limits
from demo.models import ModelLoader, default_model, load_weights, missing_weights_message, prepared_networks
from demo.outputs import in_order, names
from demo.run_controller import Armed, Finished, RunController, RunUpdate
from demo.workspace import remove_workspace, sweep, sweep_leaks
from rgmp.device import pick_device


def default_work_root() -> Path:
    """Parent of the users' folders: ``$GRADIO_TEMP_DIR/rgmp-demo`` (or the system temp folder's)."""
    return Path(os.environ.get("GRADIO_TEMP_DIR") or tempfile.gettempdir()) / "rgmp-demo"


def queue_full(demo: gr.Blocks) -> bool:
    """Whether Gradio's queue would refuse one more event (it counts the events waiting, of every kind)."""
    queue = demo._queue  # no public accessor in Gradio 6.31
    return queue.max_size is not None and len(queue) >= queue.max_size


def cache_schedule(limits: Limits) -> tuple[int, int]:
    """Gradio's ``delete_cache`` (frequency, age) in seconds: files older than the limit, checked at least every
    10 minutes (and 4 times within the age, for short ages)."""
    return max(1, min(600, limits.file_age_s // 4)), limits.file_age_s


def sweeper(work_root: Path, limits: Limits):
    """A FastAPI lifespan that deletes, on :func:`cache_schedule`'s rhythm, the users' folders older than the limit
    (the API's one-call folders, and pages whose state was not deleted) and the empty files that Gradio 6.31's
    ``gr.File(type="filepath")`` leaves in its upload folder for every file it receives (:func:`sweep_leaks`)."""
    frequency, age = cache_schedule(limits)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        async def loop():
            while True:
                await asyncio.sleep(frequency)
                await asyncio.to_thread(sweep, work_root, age)
                await asyncio.to_thread(sweep_leaks, Path(app.uploaded_file_dir), age)

        task = asyncio.create_task(loop())
        try:
            yield
        finally:
            task.cancel()

    return lifespan


def build_demo(
    *,
    model_loader: ModelLoader | None = None,
    limits: Limits | None = None,
    device: str | torch.device | None = None,
    work_root: Path | None = None,
    default_size: int | None = None,
) -> gr.Blocks:
    """Build the page.

    Args:
        model_loader: key → network; default: the installed weights (tests pass a random model's loader).
        limits: serving limits; default: :meth:`Limits.from_env`.
        device: where the network runs; default ``$RGMP_DEVICE``, else CUDA > MPS > CPU.
        work_root: parent of the users' private folders; default :func:`default_work_root`.
        default_size: the processing size (short side, px) selected at first and used by the API; None = the
            model's.
    """
    limits = limits or Limits.from_env()
    if device is None:
        device = pick_device(os.environ.get("RGMP_DEVICE"))
    elif not isinstance(device, torch.device):
        device = pick_device(device)
    first_model = default_model(device)
    context = DemoContext(
        networks=prepared_networks(model_loader or load_weights, device),
        device=device,
        limits=limits,
        work_root=work_root or default_work_root(),
        default_size=default_size,
        default_model=first_model,
    )
    weights_problem = None if model_loader is not None else missing_weights_message()
    with gr.Blocks(title=TITLE, delete_cache=cache_schedule(limits)) as demo:
        page: Components = {
            "state": gr.State(None, time_to_live=limits.file_age_s, delete_callback=remove_workspace),
            "ticket": gr.Number(0, visible=False),  # Run's arm step changes it when there is room: that starts the run
        }
        layout.header(device, limits, weights_problem)
        with gr.Row(elem_id="main"):
            inputs, examples = layout.input_section()
            page |= inputs | layout.editor_section() | layout.run_section(device, first_model, default_size)
        with gr.Accordion("Example clips: sources and licences", open=False):
            gr.Markdown(attribution())
        api = layout.api_section()
        wire_annotation(page, examples, Annotator(context))
        wire_run(page, RunController(context, queue_full=lambda: queue_full(demo)), device, limits)
        wire_api(api, SegmentApi(context), device, limits)
    demo.queue(max_size=limits.queue_size, default_concurrency_limit=1)
    return demo


# Segmentations wait in Gradio's queue, whose size is bounded; a full queue refuses any queued event, and in the page
# that leaves a bare "Error" badge. So everything else skips the queue (it is quick), and Run first asks whether there
# is room (arm), then starts the segmentation through a hidden ticket.
LIGHT = {"queue": False, "api_visibility": "private"}
"""Event options of the quick events."""


def heavy(device: torch.device, limits: Limits) -> dict[str, object]:
    """Event options of the segmentations: one queue per device, ``limits.concurrency`` at once."""
    return {"concurrency_id": f"rgmp-{device.type}", "concurrency_limit": limits.concurrency}


def wire_annotation(page: Components, examples: gr.Examples | None, annotator: Annotator) -> None:
    """Upload, example, mask upload, strokes and the frame slider → :class:`Annotator`."""
    clip_view = [page[name] for name in names(ClipView)]
    editor_update = [page[name] for name in names(EditorUpdate)]
    open_clip = in_order(annotator.open_clip)
    page["video"].upload(open_clip, [page["state"], page["video"]], clip_view, **LIGHT)
    page["video"].clear(open_clip, [page["state"], page["video"]], clip_view, **LIGHT)
    if examples is not None:
        examples.load_input_event.then(
            in_order(annotator.open_example), [page["state"], page["video"], page["example_mask"]], clip_view, **LIGHT
        )
    page["mask_upload"].upload(
        in_order(annotator.load_mask), [page["state"], page["mask_upload"], page["editor"]], editor_update, **LIGHT
    )
    page["editor"].input(
        in_order(annotator.edit),
        [page["state"], page["editor"], page["tool"]],
        editor_update,
        trigger_mode="always_last",
        show_progress="hidden",
        **LIGHT,
    )
    page["frame"].release(
        in_order(annotator.show_frame),
        [page["state"], page["frame"], page["editor"]],
        [page[name] for name in names(FrameView)],
        **LIGHT,
    )


RUN_INPUTS = (
    "state",
    "editor",
    "model",
    "checkpoint",
    "scales",
    "size",
    "overlay_style",
    "cutout_background",
    "redo_earlier",
    "first_seconds",
    "stream_video",
    "adapt",
)
"""The inputs of :meth:`RunController.run`, in its parameters' order."""


def wire_run(page: Components, runs: RunController, device: torch.device, limits: Limits) -> None:
    """Run (arm, then the segmentation, then finish), Stop and the stream box → :class:`RunController`."""
    page["run"].click(
        in_order(runs.arm), [page["state"], page["ticket"]], [page[name] for name in names(Armed)], **LIGHT
    )
    page["ticket"].change(
        in_order(runs.run),
        [page[name] for name in RUN_INPUTS],
        [page[name] for name in names(RunUpdate)],
        show_progress_on=[page["status"]],
        api_visibility="private",
        **heavy(device, limits),
    ).then(in_order(runs.finish), [page["state"]], [page[name] for name in names(Finished)], **LIGHT)
    page["stream_video"].change(
        lambda on: gr.update(visible=True if on else "hidden", value=None),
        [page["stream_video"]],
        [page["stream"]],
        **LIGHT,
    )
    page["stop"].click(runs.stop, [page["state"]], [page["stop"]], **LIGHT)


def wire_api(api: Components, segment: SegmentApi, device: torch.device, limits: Limits) -> None:
    """The hidden button of ``/segment_video`` → :class:`SegmentApi`."""
    api["button"].click(
        in_order(segment.segment_video),
        [api["video"], api["mask"]],
        [api[name] for name in names(ApiResult)],
        api_name="segment_video",
        api_description="(video file, mask PNG of its first frame) → (overlay mp4, zip of DAVIS-palette PNGs)",
        **heavy(device, limits),
    )


def launch_demo(
    demo: gr.Blocks,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    limits: Limits | None = None,
    work_root: Path | None = None,
    block: bool = True,
    **kwargs,
) -> tuple[object, str, str]:
    """Serve the page (``launch`` with the demo's CSS, the upload limit, the example folder allowed, and old
    users' folders swept on schedule).

    Args:
        demo: from :func:`build_demo`.
        host: interface to bind; 127.0.0.1 unless told otherwise (0.0.0.0 on a server or a Space).
        port: TCP port (None: ``$GRADIO_SERVER_PORT``, else the first free one from 7860).
        limits: the limits the page was built with (upload size, file age); default :meth:`Limits.from_env`.
        work_root: the users' folders the page was built with; default :func:`default_work_root`.
        block: serve until interrupted (False: return at once, for tests).
        kwargs: more ``Blocks.launch`` arguments.

    Returns:
        ``Blocks.launch``'s (app, local URL, share URL).
    """
    limits = limits or Limits.from_env()
    return demo.launch(
        server_name=host,
        server_port=port,
        prevent_thread_lock=not block,
        max_file_size=f"{limits.max_upload_mb}mb",
        allowed_paths=[str(EXAMPLES_DIR)],
        css=CSS,
        app_kwargs={"lifespan": sweeper(work_root or default_work_root(), limits)},
        **kwargs,
    )
