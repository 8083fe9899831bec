"""The uploaded clip: checked against the limits, described, and its frames and masks checked before a run."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

import numpy as np

from demo.errors import WARNING, DemoError
from demo.limits import Limits
from demo.workspace import Clip, Workspace
from rgmp.inference.session import object_ids_of
from rgmp.io.masks import VOID
from rgmp.io.video import intact_frames, iter_video, probe_video


def probe(video: str | Path, limits: Limits) -> Clip:
    """Check an uploaded video against the limits, demux it whole to find a file cut short, and describe it."""
    info = probe_video(video)
    limits.check_frame_size(info)
    intact = intact_frames(video)
    if intact == 0:
        raise DemoError(f"{Path(video).name} is corrupt: not one frame is complete")
    budget = limits.frame_budget(info)
    known = [n for n in (info.num_frames, intact) if n is not None]
    length = min(known) if known else None  # unknown: reading stops at the budget
    return Clip(Path(video), info, min(length or budget, budget), length is not None and length > budget, intact)


def describe_clip(clip: Clip, limits: Limits) -> str:
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
            f"\n\n{WARNING} This clip is longer than the {limits.max_seconds:g} s this demo processes: tick "
            f"“Process only the first {limits.max_seconds:g} s” to segment its first {clip.frames} frames, "
            "or trim it and upload again."
        )
    return text


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
