"""The Gradio page: layout and event wiring (:func:`build_demo`) and serving (:func:`launch_demo`).

Flow: 1 input (upload or example) → 2 annotate (frame slider, image editor, or a mask PNG) → 3 run (model,
scales, processing size) → 4 watch (live preview, progress, Stop) → 5 take away (overlay, cut-out, masks zip)
→ 6 correct (pick a frame, repaint, run again from it). ``/segment_video`` is the API for scripts.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from pathlib import Path

import gradio as gr
import torch

from demo.annotation import BRUSH_COLOURS, BRUSH_RADIUS, ERASER_RADIUS, describe_objects, editor_height
from demo.callbacks import ARM_OUTPUTS, CLIP_OUTPUTS, FINISH_OUTPUTS, RUN_OUTPUTS, DemoCallbacks
from demo.example_clips import EXAMPLES_DIR, attribution, available_examples
from demo.limits import Limits
from demo.mask_tools import TOOLS
from demo.models import (
    ModelCache,
    ModelLoader,
    default_model,
    load_weights,
    missing_weights_message,
    model_choices,
)
from demo.workspace import remove_workspace, sweep, sweep_leaks
from rgmp.device import pick_device

TITLE = "RGMP · video object segmentation"
SIZES = [("240 px", 240), ("360 px", 360), ("480 px (paper)", 480), ("720 px", 720), ("1080 px", 1080)]
SCALES = [("model default", "default"), ("1.0", "1.0"), ("0.5, 0.75, 1.0 (paper)", "0.5,0.75,1.0")]
CSS = """
#main { display: grid !important; grid-template-columns: minmax(300px, 2fr) minmax(0, 3fr);
        grid-template-areas: "input editor" "run editor"; align-items: start; }
#input-column { grid-area: input; }
#editor-column { grid-area: editor; container-type: inline-size; }  /* 100cqw: its width, see editor_height */
#run-column { grid-area: run; }
@media (max-width: 900px) {
  #main { grid-template-columns: minmax(0, 1fr); grid-template-areas: "input" "editor" "run"; }
  #objects-row { flex-direction: column; }
}
#status { min-height: 3.5em; }  /* room for the progress line and its bar, drawn over it */
#weights-warning { border-left: 4px solid #d97706; padding-left: 0.75em; }
#run.running { opacity: 1; cursor: progress; animation: rgmp-running 1.2s ease-in-out infinite alternate; }
@keyframes rgmp-running { from { filter: brightness(0.85); } to { filter: brightness(1.15); } }
"""


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


def device_text(device: torch.device) -> str:
    """``CPU`` or ``CUDA (NVIDIA H100 …)``."""
    if device.type == "cuda":
        return f"CUDA ({torch.cuda.get_device_name(device)})"
    return device.type.upper()


def build_demo(
    *,
    model_loader: ModelLoader | None = None,
    limits: Limits | None = None,
    device: str | torch.device | None = None,
    work_root: Path | None = None,
    default_size: int = 480,
) -> gr.Blocks:
    """Build the page.

    Args:
        model_loader: key → network; default: the installed weights (tests pass a random model's loader).
        limits: serving limits; default: :meth:`Limits.from_env`.
        device: where the network runs; default ``$RGMP_DEVICE``, else CUDA > MPS > CPU.
        work_root: parent of the users' private folders; default :func:`default_work_root`.
        default_size: the processing size (short side, px) selected at first and used by the API.
    """
    limits = limits or Limits.from_env()
    if device is None:
        device = pick_device(os.environ.get("RGMP_DEVICE"))
    elif not isinstance(device, torch.device):
        device = pick_device(device)
    first_model = default_model(device)
    callbacks = DemoCallbacks(
        models=ModelCache(model_loader or load_weights),
        device=device,
        limits=limits,
        work_root=work_root or default_work_root(),
        default_size=default_size,
        default_model=first_model,
        queue_full=lambda: queue_full(demo),
    )
    weights_problem = None if model_loader is not None else missing_weights_message()
    # Segmentations wait in Gradio's queue, whose size is bounded; a full queue refuses any queued event, and in
    # the page that leaves a bare "Error" badge. So everything else skips the queue (it is quick), and Run first
    # asks whether there is room (arm), then starts the segmentation through a hidden ticket.
    heavy = {"concurrency_id": f"rgmp-{device.type}", "concurrency_limit": limits.concurrency}
    light = {"queue": False, "api_visibility": "private"}
    sizes = SIZES if default_size in dict(SIZES).values() else [*SIZES, (f"{default_size} px", default_size)]

    with gr.Blocks(title=TITLE, delete_cache=cache_schedule(limits)) as demo:
        state = gr.State(None, time_to_live=limits.file_age_s, delete_callback=remove_workspace)
        ticket = gr.Number(0, visible=False)  # Run's arm step changes it when there is room: that starts the run
        gr.Markdown(
            f"# {TITLE}\n"
            "Upload a clip, draw a box across each object on one frame, and watch the masks propagate "
            "([Oh et al., CVPR 2018](https://openaccess.thecvf.com/content_cvpr_2018/html/"
            f"Oh_Fast_Video_Object_CVPR_2018_paper.html)). Runs on **{device_text(device)}**. "
            f"<small>{limits.describe()}</small>",
            elem_id="header",
        )
        if weights_problem:
            gr.Markdown(f"⚠ **No weights installed.** {weights_problem}", elem_id="weights-warning")

        with gr.Row(elem_id="main"):
            with gr.Column(elem_id="input-column", min_width=300):
                video_in = gr.Video(
                    label="1 · Video (mp4, mov, webm, avi)", sources=["upload"], elem_id="video-input", height=240
                )
                clip_info = gr.Markdown(elem_id="clip-info")
                first_seconds = gr.Checkbox(visible=False, value=False, elem_id="first-seconds")
                example_mask = gr.File(visible=False, type="filepath")
                examples = available_examples()
                if examples:
                    example_list = gr.Examples(
                        examples=[[str(clip.video), str(clip.mask)] for clip in examples],
                        inputs=[video_in, example_mask],
                        example_labels=[clip.label for clip in examples],
                        label="Examples (first-frame masks included: pick one and press Run)",
                        cache_examples=False,
                    )

            with gr.Column(elem_id="editor-column", min_width=300):
                tool = gr.Radio(
                    list(TOOLS),
                    value="box",
                    label="2 · Annotate: mask tool",
                    info="One brush colour per object. Box: drag the brush across the object, corner to corner. "
                    "Strokes: paint on the object, erase off it; the mask follows the frame's edges. Paint: as drawn.",
                    elem_id="tool",
                )
                frame = gr.Slider(
                    0, 1, value=0, step=1, label="Annotated frame", interactive=False, elem_id="frame-slider"
                )
                editor = gr.ImageEditor(
                    label="The annotated frame",
                    type="numpy",
                    image_mode="RGBA",
                    sources=(),
                    transforms=(),
                    brush=gr.Brush(
                        colors=BRUSH_COLOURS,
                        default_color=BRUSH_COLOURS[0],
                        color_mode="fixed",
                        default_size=BRUSH_RADIUS,
                    ),
                    eraser=gr.Eraser(default_size=ERASER_RADIUS),
                    layers=gr.LayerOptions(allow_additional_layers=True),
                    format="png",
                    interactive=True,
                    height=editor_height(16 / 9),
                    elem_id="annotator",
                )
                with gr.Row(elem_id="objects-row"):
                    objects = gr.Markdown(describe_objects(None), elem_id="objects")
                    mask_upload = gr.UploadButton(
                        "Upload a mask PNG for this frame",
                        file_types=[".png"],
                        type="filepath",
                        size="sm",
                        scale=0,
                        min_width=220,
                        elem_id="mask-upload",
                    )

            with gr.Column(elem_id="run-column", min_width=300):
                with gr.Row():
                    model = gr.Dropdown(model_choices(first_model), value=first_model, label="3 · Run · Model", scale=2)
                    size = gr.Dropdown(
                        sizes, value=default_size, label="Processing size (short side)", scale=1, elem_id="size"
                    )
                with gr.Accordion("More run options", open=False, elem_id="run-options"):
                    scales = gr.Dropdown(SCALES, value="default", label="Scales", allow_custom_value=True)
                    with gr.Row():
                        overlay_style = gr.Radio(
                            [("colour + contours", "overlay"), ("side by side", "side_by_side")],
                            value="overlay",
                            label="Overlay",
                        )
                        cutout_background = gr.Radio(
                            [("green", "green"), ("transparent", "transparent"), ("none (faster)", "none")],
                            value="green",
                            label="Cut-out",
                        )
                    redo_earlier = gr.Checkbox(
                        value=False,
                        label="Re-segment the frames before the annotated frame too (backward); frames without a "
                        "result always are",
                    )
                    stream_video = gr.Checkbox(
                        value=False,
                        label="Also stream the overlay as a video while it runs (HLS: it stalls whenever the model "
                        "is slower than real time, as on a CPU; the live preview is always there)",
                        elem_id="stream-video",
                    )
                    checkpoint = gr.File(label="Your own RGMP checkpoint (.pt / .pth)", file_types=[".pt", ".pth"])
                with gr.Row():
                    run = gr.Button("Run", variant="primary", interactive=False, scale=3, elem_id="run")
                    stop = gr.Button(
                        "Stop", variant="secondary", interactive=False, scale=1, min_width=80, elem_id="stop"
                    )
                status = gr.Markdown(elem_id="status")
                preview = gr.Image(
                    label="Live preview", format="jpeg", interactive=False, visible=False, elem_id="preview"
                )
                stream = gr.Video(
                    label="Overlay, streamed while it runs",
                    streaming=True,
                    autoplay=True,
                    interactive=False,
                    visible="hidden",  # in the page (so that a stream started right after ticking plays), not shown
                    elem_id="stream-video-output",
                )
                overlay = gr.Video(label="4 · Results: overlay (H.264)", interactive=False, elem_id="overlay-video")
                cutout = gr.Video(label="Cut-out", interactive=False, elem_id="cutout-video")
                with gr.Group(elem_id="downloads"):
                    masks = gr.File(label="Masks: DAVIS-palette PNGs (zip)", interactive=False, elem_id="masks-zip")
                    exports = gr.File(
                        label="Masks: COCO run-length encoding (coco.json) and alpha mattes (alpha/<object>/), zip",
                        interactive=False,
                        elem_id="exports-zip",
                    )

        with gr.Accordion("Example clips: sources and licences", open=False):
            gr.Markdown(attribution())

        with gr.Column(visible=False):  # the scripting API, documented in docs/demo.md
            api_video = gr.File(label="video", type="filepath")
            api_mask = gr.File(label="mask", type="filepath")
            api_overlay = gr.File(label="overlay")
            api_masks = gr.File(label="masks")
            api_button = gr.Button()

        named = {
            "state": state,
            "ticket": ticket,
            "video": video_in,
            "clip_info": clip_info,
            "first_seconds": first_seconds,
            "frame": frame,
            "editor": editor,
            "objects": objects,
            "run": run,
            "stop": stop,
            "status": status,
            "preview": preview,
            "overlay": overlay,
            "cutout": cutout,
            "masks": masks,
            "exports": exports,
            "stream": stream,
        }
        clip_outputs = [named[name] for name in CLIP_OUTPUTS]
        quiet = {"show_progress": "hidden", **light}
        video_in.upload(callbacks.open_clip, [state, video_in], clip_outputs, **light)
        video_in.clear(callbacks.open_clip, [state, video_in], clip_outputs, **light)
        if examples:
            example_list.load_input_event.then(
                callbacks.open_example, [state, video_in, example_mask], clip_outputs, **light
            )
        mask_upload.upload(callbacks.load_mask, [state, mask_upload, editor], [editor, objects], **light)
        editor.input(
            callbacks.edit,
            [state, editor, tool],
            [editor, objects],
            trigger_mode="always_last",
            **quiet,
        )
        frame.release(callbacks.show_frame, [state, frame, editor], [editor, objects, run], **light)
        run.click(callbacks.arm, [state, ticket], [named[name] for name in ARM_OUTPUTS], **light)
        ticket.change(
            callbacks.run,
            [
                state,
                editor,
                model,
                checkpoint,
                scales,
                size,
                overlay_style,
                cutout_background,
                redo_earlier,
                first_seconds,
                stream_video,
            ],
            [named[name] for name in RUN_OUTPUTS],
            show_progress_on=[status],
            api_visibility="private",
            **heavy,
        ).then(callbacks.finish, [state], [named[name] for name in FINISH_OUTPUTS], **light)
        stream_video.change(
            lambda on: gr.update(visible=True if on else "hidden", value=None), [stream_video], [stream], **light
        )
        stop.click(callbacks.stop, [state], [stop], **light)
        api_button.click(
            callbacks.segment_video,
            [api_video, api_mask],
            [api_overlay, api_masks],
            api_name="segment_video",
            api_description="(video file, mask PNG of its first frame) → (overlay mp4, zip of DAVIS-palette PNGs)",
            **heavy,
        )
    demo.queue(max_size=limits.queue_size, default_concurrency_limit=1)
    return demo


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
