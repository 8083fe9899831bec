"""The page's input and annotation events: a clip uploaded or an example picked, a mask uploaded, strokes drawn
with a mask tool (box, strokes, paint), the frame slider moved.

Each handler takes paths, numpy values and the user's :class:`Workspace` and answers with a dataclass of named
outputs (:mod:`demo.outputs`), so it can be tested without a server. None raises: a problem becomes a "⚠" line in
the component next to what caused it (the clip line under the video, the objects line under the editor).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from demo.annotation import describe_objects, editor_frame, editor_height, editor_value, labels_from_editor
from demo.clips import describe_clip, probe, read_frame, require_clip
from demo.context import DemoContext
from demo.errors import DemoError, warning
from demo.mask_tools import Sketch, Tool
from demo.outputs import Update, skip
from demo.workspace import Workspace
from rgmp.io.masks import read_mask


@dataclass
class ClipView:
    """What opening (or clearing) a clip shows; the video box is left as it is and the results are cleared unless
    given."""

    state: Workspace
    clip_info: str
    first_seconds: Update
    frame: Update
    editor: Update
    objects: str
    run: Update
    status: str
    video: Update = skip()
    preview: Update = None
    overlay: Update = None
    cutout: Update = None
    masks: Update = None
    exports: Update = None


@dataclass
class EditorUpdate:
    """The editor's new value (or skip) and the objects line under it."""

    editor: Update
    objects: Update


@dataclass
class FrameView:
    """The frame picked with the slider: the editor, the objects line and the Run button's label."""

    editor: Update
    objects: str
    run: Update


class Annotator:
    """Input and annotation events over :class:`DemoContext`."""

    def __init__(self, context: DemoContext):
        self.context = context

    def open_clip(self, workspace: Workspace | None, video: str | None) -> ClipView:
        """A video was uploaded (or cleared): show its first frame in the editor.

        A file that cannot be used is taken out of the video box, and the line under it says why.
        """
        workspace = self.context.workspace(workspace)
        limits = self.context.limits
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
            return ClipView(**empty, clip_info="")
        try:
            clip = probe(video, limits)
            frame = read_frame(clip.path, 0)
        except Exception as err:  # every problem becomes the line under the video box
            workspace.clip = None
            return ClipView(**empty, video=None, clip_info=warning(err, "opening the video"))
        workspace.set_clip(clip)
        workspace.sketch = Sketch.of(0, np.zeros(frame.shape[:2], np.uint8))
        return ClipView(
            state=workspace,
            clip_info=describe_clip(clip, limits),
            first_seconds=gr.update(
                visible=clip.too_long,
                value=False,
                label=f"Process only the first {limits.max_seconds:g} s ({clip.frames} frames)",
            ),
            frame=gr.update(value=0, maximum=max(clip.frames - 1, 1), interactive=clip.frames > 1),
            editor=gr.update(
                value=editor_files(workspace, 0, frame), height=editor_height(clip.info.width / clip.info.height)
            ),
            objects=describe_objects(np.zeros(frame.shape[:2], np.uint8)),
            run=gr.update(value="Run from frame 0", interactive=True),
            status="Draw a box across each object (one colour per object), touch it up, or upload a mask; then Run.",
        )

    def open_example(self, workspace: Workspace | None, video: str | None, mask: str | None) -> ClipView:
        """An example was picked: open its video and load its first-frame mask."""
        view = self.open_clip(workspace, video)
        if view.editor is None or mask is None:
            return view
        loaded = self.load_mask(view.state, mask, view.editor["value"])
        view = dataclasses.replace(view, objects=loaded.objects)
        if isinstance(loaded.editor, dict) and "background" in loaded.editor:
            view.editor = {**view.editor, "value": loaded.editor}
            view.status = "The example's first-frame mask is loaded: press Run (or redraw it first)."
        return view

    def load_mask(self, workspace: Workspace | None, mask: str | None, editor: dict[str, Any] | None) -> EditorUpdate:
        """A mask PNG was uploaded for the frame in the editor."""
        if mask is None:
            return EditorUpdate(gr.skip(), gr.skip())
        try:
            frame = editor_frame(editor)
            labels = read_mask(mask)
            if labels.shape != frame.shape[:2]:
                raise DemoError(
                    f"the mask {Path(mask).name} is {labels.shape[1]}×{labels.shape[0]} but the video frames are "
                    f"{frame.shape[1]}×{frame.shape[0]}: give a mask of the frame's size"
                )
        except Exception as err:  # shown under the editor; the editor keeps what it had
            return EditorUpdate(gr.skip(), warning(err, "reading the mask"))
        if workspace is None:
            return EditorUpdate(editor_value(frame, labels), describe_objects(labels))
        workspace.drafts[workspace.editor_frame] = labels
        workspace.sketch = Sketch.of(workspace.editor_frame, labels)
        return EditorUpdate(editor_files(workspace, workspace.editor_frame, frame, labels), describe_objects(labels))

    def edit(self, workspace: Workspace | None, editor: dict[str, Any] | None, tool: Tool) -> EditorUpdate:
        """The user drew in the editor: apply the mask tool to the stroke."""
        if editor is None or editor.get("background") is None:
            return EditorUpdate(gr.skip(), describe_objects(None))
        try:
            labels = labels_from_editor(editor)
            frame = editor_frame(editor)
            if workspace is None or workspace.clip is None:
                return EditorUpdate(gr.skip(), describe_objects(labels))
            sketch = workspace.sketch
            if sketch is None or sketch.index != workspace.editor_frame or sketch.shown.shape != labels.shape:
                sketch = workspace.sketch = Sketch.of(workspace.editor_frame, labels)
            if sketch.shows(labels):  # nothing new (the editor echoes what it was given): keep the last note
                return EditorUpdate(gr.skip(), gr.skip())
            result, note = sketch.update(frame, labels, tool)
        except Exception as err:  # shown under the editor
            return EditorUpdate(gr.skip(), warning(err, "reading the strokes"))
        shown = labels if result is None else result
        workspace.drafts[workspace.editor_frame] = shown
        text = describe_objects(shown) + (f" · {note}" if note else "")
        value = gr.skip() if result is None else editor_files(workspace, workspace.editor_frame, frame, result)
        return EditorUpdate(value, text)

    def show_frame(self, workspace: Workspace | None, index: int, editor: dict[str, Any] | None) -> FrameView:
        """The frame slider moved: show that frame with its mask (draft, else latest result).

        What was painted on the previous frame is kept as a draft.
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
            return FrameView(gr.skip(), warning(err, "reading the frame"), gr.skip())
        labels = workspace.drafts.get(index)
        if labels is None:
            labels = workspace.result_mask(index)
        workspace.editor_frame = index
        shown = labels if labels is not None else np.zeros(frame.shape[:2], np.uint8)
        workspace.sketch = Sketch.of(index, shown)
        run = gr.skip() if workspace.run_state != "idle" else gr.update(value=f"Run from frame {index}")
        return FrameView(editor_files(workspace, index, frame, labels), describe_objects(shown), run)


def editor_files(
    workspace: Workspace, index: int, frame: np.ndarray, labels: np.ndarray | None = None
) -> dict[str, Any]:
    """:func:`demo.annotation.editor_value` with its images as files in the user's folder (see
    :mod:`demo.workspace` for why): frame ``index`` and ``labels`` painted on one layer (or none)."""
    value = editor_value(frame, labels)
    layers = [str(workspace.image_file(layer)) for layer in value["layers"]]
    return {"background": str(workspace.frame_file(index, frame)), "layers": layers, "composite": None}
