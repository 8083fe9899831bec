"""The Gradio page: layout and event wiring (:func:`build_demo`) and serving (:func:`launch_demo`).

Flow: 1 input (upload or example) → 2 annotate (frame slider, image editor, or a mask PNG) → 3 run (model,
scales, processing size) → 4 watch (live preview, progress, Stop) → 5 take away (overlay, cut-out, masks zip)
→ 6 correct (pick a frame, repaint, run again from it). ``/segment_video`` is the API for scripts.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import gradio as gr
import torch

from demo.annotation import BRUSH_COLOURS, describe_objects
from demo.callbacks import CLIP_OUTPUTS, RUN_OUTPUTS, DemoCallbacks
from demo.example_clips import EXAMPLES_DIR, attribution, available_examples
from demo.limits import Limits
from demo.models import (
    ModelCache,
    ModelLoader,
    default_model,
    load_weights,
    missing_weights_message,
    model_choices,
)
from demo.workspace import remove_workspace
from rgmp.device import pick_device

TITLE = "RGMP · video object segmentation"
SIZES = [("240 px", 240), ("360 px", 360), ("480 px (paper)", 480), ("720 px", 720), ("1080 px", 1080)]
SCALES = [("model default", "default"), ("1.0", "1.0"), ("0.5, 0.75, 1.0 (paper)", "0.5,0.75,1.0")]
CSS = """
#status { min-height: 4em; }
#weights-warning { border-left: 4px solid #d97706; padding-left: 0.75em; }
"""


def default_work_root() -> Path:
    """Parent of the users' folders: ``$GRADIO_TEMP_DIR/rgmp-demo`` (or the system temp folder's)."""
    return Path(os.environ.get("GRADIO_TEMP_DIR") or tempfile.gettempdir()) / "rgmp-demo"


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
    )
    weights_problem = None if model_loader is not None else missing_weights_message()
    heavy = {"concurrency_id": f"rgmp-{device.type}", "concurrency_limit": limits.concurrency}
    light = {"concurrency_id": "light", "concurrency_limit": 4, "api_visibility": "private"}
    sizes = SIZES if default_size in dict(SIZES).values() else [*SIZES, (f"{default_size} px", default_size)]

    with gr.Blocks(title=TITLE, delete_cache=(600, limits.file_age_s)) as demo:
        state = gr.State(None, time_to_live=limits.file_age_s, delete_callback=remove_workspace)
        gr.Markdown(
            f"# {TITLE}\n"
            "Upload a clip, paint the objects on one frame, and watch the masks propagate "
            "([Oh et al., CVPR 2018](https://openaccess.thecvf.com/content_cvpr_2018/html/"
            f"Oh_Fast_Video_Object_CVPR_2018_paper.html)). Runs on **{device_text(device)}**.\n\n"
            f"<small>{limits.describe()}</small>"
        )
        if weights_problem:
            gr.Markdown(f"⚠ **No weights installed.** {weights_problem}", elem_id="weights-warning")

        with gr.Row():
            with gr.Column(scale=2):
                gr.Markdown("### 1 · Video")
                video_in = gr.Video(
                    label="Video (mp4, mov, webm, avi)", sources=["upload"], elem_id="video-input", height=300
                )
                clip_info = gr.Markdown(elem_id="clip-info")
                first_seconds = gr.Checkbox(visible=False, value=False, elem_id="first-seconds")
                mask_in = gr.File(
                    label="Mask PNG of the annotated frame (optional: DAVIS palette or 0/255)",
                    file_types=[".png"],
                    type="filepath",
                    elem_id="mask-input",
                )
                examples = available_examples()
                if examples:
                    example_list = gr.Examples(
                        examples=[[str(clip.video), str(clip.mask)] for clip in examples],
                        inputs=[video_in, mask_in],
                        example_labels=[clip.label for clip in examples],
                        label="Examples (first-frame masks included: pick one and press Run)",
                        cache_examples=False,
                    )
            with gr.Column(scale=3):
                gr.Markdown("### 2 · Annotate")
                frame = gr.Slider(
                    0, 1, value=0, step=1, label="Annotated frame", interactive=False, elem_id="frame-slider"
                )
                editor = gr.ImageEditor(
                    label="Paint each object in its own colour, or on its own layer (+); the eraser removes",
                    type="numpy",
                    image_mode="RGBA",
                    sources=(),
                    transforms=(),
                    brush=gr.Brush(colors=BRUSH_COLOURS, default_color=BRUSH_COLOURS[0], color_mode="defaults"),
                    eraser=gr.Eraser(),
                    layers=gr.LayerOptions(allow_additional_layers=True),
                    format="png",
                    interactive=True,
                    elem_id="annotator",
                )
                objects = gr.Markdown(describe_objects(None), elem_id="objects")

        gr.Markdown("### 3 · Run")
        with gr.Row():
            model = gr.Dropdown(model_choices(first_model), value=first_model, label="Model", scale=2)
            scales = gr.Dropdown(SCALES, value="default", label="Scales", allow_custom_value=True, scale=1)
            size = gr.Dropdown(sizes, value=default_size, label="Processing size (short side)", scale=1, elem_id="size")
            overlay_style = gr.Radio(
                [("colour + contours", "overlay"), ("side by side", "side_by_side")],
                value="overlay",
                label="Overlay",
                scale=1,
            )
            cutout_background = gr.Radio(
                [("green", "green"), ("transparent", "transparent"), ("none (faster)", "none")],
                value="green",
                label="Cut-out",
                scale=1,
            )
        with gr.Row():
            stream_video = gr.Checkbox(
                value=False,
                label="Also stream the overlay as a video while it runs (HLS: it stalls whenever the model is "
                "slower than real time, as on a CPU; the live preview is always there)",
                elem_id="stream-video",
            )
            redo_earlier = gr.Checkbox(
                value=False,
                label="Re-segment the frames before the annotated frame too (backward); frames without a result "
                "always are",
            )
            with gr.Accordion("Your own checkpoint", open=False):
                checkpoint = gr.File(label="RGMP checkpoint (.pt / .pth)", file_types=[".pt", ".pth"])
        with gr.Row():
            run = gr.Button("Run", variant="primary", interactive=False, elem_id="run")
            stop = gr.Button("Stop", variant="stop", elem_id="stop")
        status = gr.Markdown(elem_id="status")

        gr.Markdown("### 4 · Watch  ·  5 · Take away")
        with gr.Row():
            preview = gr.Image(label="Live preview", format="jpeg", interactive=False, elem_id="preview")
            overlay = gr.Video(label="Overlay (H.264)", interactive=False, elem_id="overlay-video")
            stream = gr.Video(
                label="Overlay, streamed while it runs",
                streaming=True,
                autoplay=True,
                interactive=False,
                visible="hidden",  # in the page (so that a stream started right after ticking plays), not shown
                elem_id="stream-video-output",
            )
        with gr.Row():
            cutout = gr.Video(label="Cut-out", interactive=False, elem_id="cutout-video")
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
            "clip_info": clip_info,
            "first_seconds": first_seconds,
            "frame": frame,
            "editor": editor,
            "objects": objects,
            "run": run,
            "status": status,
            "preview": preview,
            "overlay": overlay,
            "cutout": cutout,
            "masks": masks,
            "exports": exports,
            "stream": stream,
        }
        clip_outputs = [named[name] for name in CLIP_OUTPUTS]
        video_in.upload(callbacks.open_clip, [state, video_in], clip_outputs, **light)
        video_in.clear(callbacks.open_clip, [state, video_in], clip_outputs, **light)
        if examples:
            example_list.load_input_event.then(
                callbacks.open_example, [state, video_in, mask_in], clip_outputs, **light
            )
        mask_in.upload(callbacks.load_mask, [state, mask_in, editor], [editor, objects], **light)
        editor.change(
            callbacks.count_objects, [editor], [objects], trigger_mode="always_last", show_progress="hidden", **light
        )
        frame.release(callbacks.show_frame, [state, frame, editor], [editor, objects, run], **light)
        run.click(callbacks.arm, [state], None, queue=False, api_visibility="private").then(
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
        )
        stream_video.change(
            lambda on: gr.update(visible=True if on else "hidden", value=None),
            [stream_video],
            [stream],
            queue=False,
            api_visibility="private",
        )
        stop.click(callbacks.stop, [state], [status], queue=False, api_visibility="private")
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
    block: bool = True,
    **kwargs,
) -> tuple[object, str, str]:
    """Serve the page (``launch`` with the demo's CSS, the upload limit, and the example folder allowed).

    Args:
        demo: from :func:`build_demo`.
        host: interface to bind; 127.0.0.1 unless told otherwise (0.0.0.0 on a server or a Space).
        port: TCP port (None: ``$GRADIO_SERVER_PORT``, else the first free one from 7860).
        limits: the limits the page was built with (for the upload size); default :meth:`Limits.from_env`.
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
        **kwargs,
    )
