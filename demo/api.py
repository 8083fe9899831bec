"""``/segment_video``, the page's API for scripts: (video file, mask PNG of its first frame) → (overlay mp4, zip of
DAVIS-palette PNGs), with the default model, its default scales and the default processing size."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from demo.clips import checked_labels, probe
from demo.context import DemoContext
from demo.errors import DemoError, user_message
from demo.pipeline import RunResult, segment_clip
from rgmp.inference import Session, SessionOptions
from rgmp.io.masks import read_mask
from rgmp.io.outputs import VideoOptions


@dataclass
class ApiResult:
    """What ``/segment_video`` returns: the overlay video and the masks zip (paths)."""

    overlay: str
    masks: str


class SegmentApi:
    """``/segment_video`` over :class:`DemoContext`."""

    def __init__(self, context: DemoContext):
        self.context = context

    def segment_video(self, video: str | None, mask: str | None) -> ApiResult:
        """Segment ``video`` from ``mask``, its first frame's label map.

        Clips longer than the limit are refused, and so are files cut short.

        Raises:
            gr.Error: with the message the page would show (an ``AppError`` for ``gradio_client``).
        """
        limits = self.context.limits
        try:
            if not video:
                raise DemoError("no video given")
            if not mask:
                raise DemoError("no mask given: send the first frame's mask as a PNG")
            if not Path(video).is_file() or not Path(mask).is_file():
                raise DemoError(
                    f"the files sent are no longer on the server (deleted after {limits.file_age_s} s): send them again"
                )
            clip = probe(video, limits)
            if clip.intact is not None:
                raise DemoError(
                    f"{Path(video).name} is cut short: only its first {clip.intact} frames are complete; send the "
                    "whole file"
                )
            if clip.too_long:
                raise DemoError(
                    f"the clip is longer than {limits.max_seconds:g} s ({limits.max_frames} frames at most): "
                    "trim it and send it again"
                )
            labels = checked_labels(read_mask(mask), clip, "the mask")
            workspace = self.context.workspace(None)
            network = self.context.networks.get(self.context.default_model)
            run = segment_clip(
                Session(network, network.device, SessionOptions(size=self.context.default_size)),
                clip.path,
                labels,
                start=0,
                max_frames=clip.frames,
                fps=clip.info.fps,
                masks_dir=workspace.masks_dir,
                out_dir=workspace.new_run_dir(),
                options=VideoOptions(cutout_background="none"),  # not returned: spare its writing
                stop=workspace.stop,
            )
            result = None
            for item in run:
                workspace.touch()  # in use: the sweep of old folders leaves it alone however long the run
                result = item
            assert isinstance(result, RunResult)
            if result.problem is not None:
                raise DemoError(result.problem)
            return ApiResult(str(result.overlay), str(result.masks_zip))
        except Exception as err:  # every failure reaches the client as one readable line
            raise gr.Error(user_message(err, "segmentation"), print_exception=False) from None
