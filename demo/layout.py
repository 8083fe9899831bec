"""The page's sections, each built by one function that returns its components by name (the names the handlers'
outputs use, :mod:`demo.outputs`).

Flow: 1 input (upload or example) → 2 annotate (frame slider, image editor, or a mask PNG) → 3 run (model,
scales, processing size, adaptation to the clip) → 4 watch (live preview, progress, Stop) → 5 take away (overlay,
cut-out, masks zip) → 6 correct (pick a frame, repaint, run again from it).
"""

from __future__ import annotations

import gradio as gr
import torch

from demo.annotation import BRUSH_COLOURS, BRUSH_RADIUS, ERASER_RADIUS, describe_objects, editor_height
from demo.example_clips import available_examples
from demo.limits import Limits
from demo.mask_tools import TOOLS
from demo.models import MODEL_SIZE, STARTER, model_choices
from demo.run_controller import adapt_label

TITLE = "RGMP · video object segmentation"
SIZES = [
    ("model's default", MODEL_SIZE),
    ("240 px", 240),
    ("360 px", 360),
    ("480 px (paper)", 480),
    ("720 px", 720),
    ("1080 px", 1080),
]
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

Components = dict[str, gr.components.Component]


def device_text(device: torch.device) -> str:
    """``CPU`` or ``CUDA (NVIDIA H100 …)``."""
    if device.type == "cuda":
        return f"CUDA ({torch.cuda.get_device_name(device)})"
    return device.type.upper()


def header(device: torch.device, limits: Limits, weights_problem: str | None) -> None:
    """The title, what the page does, where it runs and its limits; a warning when no weights are installed."""
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


def input_section() -> tuple[Components, gr.Examples | None]:
    """1 · the video upload, the line about the clip, the "first seconds only" box and the examples (None when
    none are installed)."""
    with gr.Column(elem_id="input-column", min_width=300):
        parts = {
            "video": gr.Video(
                label="1 · Video (mp4, mov, webm, avi)", sources=["upload"], elem_id="video-input", height=240
            ),
            "clip_info": gr.Markdown(elem_id="clip-info"),
            "first_seconds": gr.Checkbox(visible=False, value=False, elem_id="first-seconds"),
            "example_mask": gr.File(visible=False, type="filepath"),
        }
        examples = available_examples()
        example_list = None
        if examples:
            example_list = gr.Examples(
                examples=[[str(clip.video), str(clip.mask)] for clip in examples],
                inputs=[parts["video"], parts["example_mask"]],
                example_labels=[clip.label for clip in examples],
                label="Examples (first-frame masks included: pick one and press Run)",
                cache_examples=False,
            )
    return parts, example_list


def editor_section() -> Components:
    """2 · the mask tool, the frame slider, the image editor, the objects line and the mask upload."""
    with gr.Column(elem_id="editor-column", min_width=300):
        parts = {
            "tool": gr.Radio(
                list(TOOLS),
                value="box",
                label="2 · Annotate: mask tool",
                info="One brush colour per object. Box: drag the brush across the object, corner to corner. "
                "Strokes: paint on the object, erase off it; the mask follows the frame's edges. Paint: as drawn.",
                elem_id="tool",
            ),
            "frame": gr.Slider(
                0, 1, value=0, step=1, label="Annotated frame", interactive=False, elem_id="frame-slider"
            ),
            "editor": gr.ImageEditor(
                label="The annotated frame",
                type="numpy",
                image_mode="RGBA",
                sources=(),
                transforms=(),
                brush=gr.Brush(
                    colors=BRUSH_COLOURS, default_color=BRUSH_COLOURS[0], color_mode="fixed", default_size=BRUSH_RADIUS
                ),
                eraser=gr.Eraser(default_size=ERASER_RADIUS),
                layers=gr.LayerOptions(allow_additional_layers=True),
                format="png",
                interactive=True,
                height=editor_height(16 / 9),
                elem_id="annotator",
            ),
        }
        with gr.Row(elem_id="objects-row"):
            parts["objects"] = gr.Markdown(describe_objects(None), elem_id="objects")
            parts["mask_upload"] = gr.UploadButton(
                "Upload a mask PNG for this frame",
                file_types=[".png"],
                type="filepath",
                size="sm",
                scale=0,
                min_width=220,
                elem_id="mask-upload",
            )
    return parts


def run_options(device: torch.device, first_model: str, default_size: int | None) -> Components:
    """3 · the model, the processing size (None: the model's), adapting to the clip, and the other run options
    (folded)."""
    default_size = MODEL_SIZE if default_size is None else default_size
    sizes = SIZES if default_size in dict(SIZES).values() else [*SIZES, (f"{default_size} px", default_size)]
    parts: Components = {}
    with gr.Row():
        parts["model"] = gr.Dropdown(model_choices(first_model), value=first_model, label="3 · Run · Model", scale=2)
        parts["size"] = gr.Dropdown(
            sizes, value=default_size, label="Processing size (short side)", scale=1, elem_id="size"
        )
    # On by default, except for the paper model on a CPU, where adapting takes minutes (as the CLI's --adapt auto).
    ticked = device.type != "cpu" or first_model == STARTER
    parts["adapt"] = gr.Checkbox(value=ticked, label=adapt_label(device), elem_id="adapt")
    with gr.Accordion("More run options", open=False, elem_id="run-options"):
        parts["scales"] = gr.Dropdown(SCALES, value="default", label="Scales", allow_custom_value=True)
        with gr.Row():
            parts["overlay_style"] = gr.Radio(
                [("colour + contours", "overlay"), ("side by side", "side_by_side")], value="overlay", label="Overlay"
            )
            parts["cutout_background"] = gr.Radio(
                [("green", "green"), ("transparent", "transparent"), ("none (faster)", "none")],
                value="green",
                label="Cut-out",
            )
        parts["redo_earlier"] = gr.Checkbox(
            value=False,
            label="Re-segment the frames before the annotated frame too (backward); frames without a result always are",
        )
        parts["stream_video"] = gr.Checkbox(
            value=False,
            label="Also stream the overlay as a video while it runs (HLS: it stalls whenever the model is slower "
            "than real time, as on a CPU; the live preview is always there)",
            elem_id="stream-video",
        )
        parts["checkpoint"] = gr.File(label="Your own RGMP checkpoint (.pt / .pth)", file_types=[".pt", ".pth"])
    return parts


def run_section(device: torch.device, first_model: str, default_size: int | None) -> Components:
    """3 and 4 · the run options, Run and Stop, the status line, the live preview and the results."""
    with gr.Column(elem_id="run-column", min_width=300):
        parts = run_options(device, first_model, default_size)
        with gr.Row():
            parts["run"] = gr.Button("Run", variant="primary", interactive=False, scale=3, elem_id="run")
            parts["stop"] = gr.Button(
                "Stop", variant="secondary", interactive=False, scale=1, min_width=80, elem_id="stop"
            )
        parts["status"] = gr.Markdown(elem_id="status")
        parts["preview"] = gr.Image(
            label="Live preview", format="jpeg", interactive=False, visible=False, elem_id="preview"
        )
        parts["stream"] = gr.Video(
            label="Overlay, streamed while it runs",
            streaming=True,
            autoplay=True,
            interactive=False,
            visible="hidden",  # in the page (so that a stream started right after ticking plays), not shown
            elem_id="stream-video-output",
        )
        parts |= results()
    return parts


def results() -> Components:
    """4 · the overlay and cut-out videos and the two zips."""
    parts = {
        "overlay": gr.Video(label="4 · Results: overlay (H.264)", interactive=False, elem_id="overlay-video"),
        "cutout": gr.Video(label="Cut-out", interactive=False, elem_id="cutout-video"),
    }
    with gr.Group(elem_id="downloads"):
        parts["masks"] = gr.File(label="Masks: DAVIS-palette PNGs (zip)", interactive=False, elem_id="masks-zip")
        parts["exports"] = gr.File(
            label="Masks: COCO run-length encoding (coco.json) and alpha mattes (alpha/<object>/), zip",
            interactive=False,
            elem_id="exports-zip",
        )
    return parts


def api_section() -> Components:
    """The scripting API's hidden inputs, outputs and trigger (documented in docs/demo.md)."""
    with gr.Column(visible=False):
        return {
            "video": gr.File(label="video", type="filepath"),
            "mask": gr.File(label="mask", type="filepath"),
            "overlay": gr.File(label="overlay"),
            "masks": gr.File(label="masks"),
            "button": gr.Button(),
        }
