"""Per-user state: one private folder per browser session, holding that user's clip, masks and results.

The folder name is random, nothing lists it, and results reach the user through Gradio's own per-file cache,
so no user sees another's files. Images the page shows (the editor's frame and mask layer, the live preview) are
handed to Gradio as files written here, each under a name of its own: Gradio copies a file into its cache once,
whereas an image given as an array is re-encoded into the same content-named cache file every time it is sent
again, which truncates that file under a browser that is downloading it (uvicorn then logs "Too little data for
declared Content-Length"). Folders are removed when the session state expires and, as a safety net,
by :func:`sweep` once they are older than the configured age.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image

from demo.mask_tools import Sketch
from rgmp.io.files import atomic_path
from rgmp.io.masks import read_mask
from rgmp.io.video import VideoInfo

KEPT_IMAGES = 16
"""Images (:meth:`Workspace.image_file`) kept in a user's folder."""


@dataclass(frozen=True)
class Clip:
    """The uploaded video and how much of it is processed.

    Attributes:
        path: the video file (in Gradio's upload cache).
        info: its size, frame rate, frame count and rotation (frames are read already rotated).
        frames: how many frames are processed: all of them, or the first ``max_seconds`` of a long clip
            (when the container does not tell its length, reading stops there too).
        too_long: the clip is longer than the limit; processing needs the user's consent to cut it.
        intact: for a file cut short (found at upload by demuxing it, :func:`rgmp.io.video.intact_frames`), how
            many frames it really holds; None for a whole file.
    """

    path: Path
    info: VideoInfo
    frames: int
    too_long: bool
    intact: int | None = None


class Workspace:
    """One user's folder and clip state.

    Attributes:
        folder: private folder; ``masks/`` holds the latest result per frame (``00000.png``...),
            ``runs/<n>/`` the files of each run.
        clip: the current clip, None before an upload.
        editor_frame: index of the frame shown in the editor (the annotated frame of the next run).
        drafts: label maps painted on other frames and not run yet, by frame index.
        sketch: what the editor shows on ``editor_frame``, for the mask tools; None before a frame is shown.
        stop: set by the Stop button; the running segmentation checks it before every frame.
        run_state: "idle"; "queued" from Run pressed until the segmentation starts; then "running" until it ends.
    """

    def __init__(self, root: Path):
        root.mkdir(parents=True, exist_ok=True)
        self.folder = Path(tempfile.mkdtemp(prefix="user-", dir=root))
        self.clip: Clip | None = None
        self.editor_frame = 0
        self.drafts: dict[int, np.ndarray] = {}
        self.sketch: Sketch | None = None
        self.stop = threading.Event()
        self.run_state: Literal["idle", "queued", "running"] = "idle"
        self._runs = 0
        self._images = 0

    @property
    def masks_dir(self) -> Path:
        return self.folder / "masks"

    def frame_file(self, index: int, frame: np.ndarray) -> Path:
        """Frame ``index`` of the clip as a PNG in the folder (written on first use; the editor's background)."""
        path = self.folder / "frames" / f"{index:05d}.png"
        if not path.is_file():
            with atomic_path(path) as tmp:
                Image.fromarray(frame).save(tmp, format="PNG", compress_level=1)
        return path

    def image_file(self, image: np.ndarray, suffix: str = ".png") -> Path:
        """``image`` (H, W, 3 or 4) uint8 written under a new name (an editor layer, a preview frame); only the
        latest :data:`KEPT_IMAGES` are kept, Gradio having copied the earlier ones into its cache."""
        folder = self.folder / "images"
        self._images += 1
        path = folder / f"{self._images:06d}{suffix}"
        with atomic_path(path) as tmp:
            Image.fromarray(image).save(tmp, format="JPEG" if suffix == ".jpg" else "PNG", compress_level=1)
        for old in sorted(folder.glob("[0-9]*"))[:-KEPT_IMAGES]:
            old.unlink(missing_ok=True)
        return path

    def set_clip(self, clip: Clip) -> None:
        """Start over with a new clip: earlier masks, drafts and runs are dropped."""
        self.clip = clip
        self.editor_frame = 0
        self.drafts.clear()
        self.sketch = None
        for child in self.folder.iterdir():
            if child.is_dir():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)

    def result_mask(self, index: int) -> np.ndarray | None:
        """The latest result for frame ``index`` as an (H, W) uint8 label map, or None."""
        path = self.masks_dir / f"{index:05d}.png"
        return read_mask(path) if path.is_file() else None

    def new_run_dir(self) -> Path:
        """A fresh folder for one run's files (earlier runs' files stay downloadable)."""
        self._runs += 1
        path = self.folder / "runs" / str(self._runs)
        path.mkdir(parents=True)
        self.touch()
        return path

    def touch(self) -> None:
        """Mark the folder as in use, so that :func:`sweep` leaves it alone."""
        self.folder.touch()

    def remove(self) -> None:
        """Delete the folder and everything in it."""
        shutil.rmtree(self.folder, ignore_errors=True)


def remove_workspace(workspace: Workspace | None) -> None:
    """``gr.State`` delete callback: stop any run and delete the folder."""
    if workspace is not None:
        workspace.stop.set()
        workspace.remove()


def sweep(root: Path, max_age_s: float, *, now: float | None = None) -> int:
    """Delete the user folders under ``root`` not touched for ``max_age_s`` seconds; returns how many."""
    now = time.time() if now is None else now
    removed = 0
    for folder in root.glob("user-*") if root.is_dir() else []:
        try:
            if now - folder.stat().st_mtime > max_age_s:
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
        except FileNotFoundError:  # removed meanwhile by its own session
            continue
    return removed


def sweep_leaks(upload_dir: Path, max_age_s: float, *, now: float | None = None) -> int:
    """Delete the empty ``tmp*`` files older than ``max_age_s`` at the top of Gradio's upload folder; returns how many.

    Gradio 6.31's ``gr.File(type="filepath")`` creates one there for every file it hands to a function and never
    uses or deletes it (``File._process_single_file``); uploads themselves live in sub-folders, and a ``tmp*``
    file being received is younger than any file age the demo uses.
    """
    now = time.time() if now is None else now
    removed = 0
    for path in upload_dir.glob("tmp*") if upload_dir.is_dir() else []:
        try:
            stat = path.stat()
            if path.is_file() and stat.st_size == 0 and now - stat.st_mtime > max_age_s:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    return removed
