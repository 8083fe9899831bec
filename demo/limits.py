"""What the demo accepts (upload size, clip length, frame size) and how long it keeps files.

Every limit is stated in the page and enforced with a message that says what to do. The defaults suit a
CPU-only hosted Space; a GPU server raises them through environment variables (see :meth:`Limits.from_env`).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields

from demo.errors import DemoError
from rgmp.io.video import VideoInfo


@dataclass(frozen=True)
class Limits:
    """Serving limits.

    Attributes:
        max_upload_mb: largest upload in megabytes (enforced by the server with HTTP 413).
        max_seconds: longest clip processed; a longer one can be cut to its first ``max_seconds``.
        max_frames: most frames processed, whatever the frame rate.
        max_long_side, max_short_side: largest frame size in pixels (1920×1080 by default).
        file_age_s: age in seconds after which a user's uploads and results are deleted.
        queue_size: most requests waiting in the queue.
        concurrency: segmentations running at once on the device.
    """

    max_upload_mb: int = 200
    max_seconds: float = 30.0
    max_frames: int = 900
    max_long_side: int = 1920
    max_short_side: int = 1080
    file_age_s: int = 7200
    queue_size: int = 32
    concurrency: int = 1

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Limits:
        """Defaults overridden by ``RGMP_DEMO_<FIELD>`` variables, e.g. ``RGMP_DEMO_MAX_SECONDS=120``."""
        environ = dict(os.environ if environ is None else environ)
        values = {}
        for item in fields(cls):
            text = environ.get(f"RGMP_DEMO_{item.name.upper()}")
            if text:
                kind = float if item.type == "float" else int
                try:
                    values[item.name] = kind(text)
                except ValueError as err:
                    raise ValueError(f"RGMP_DEMO_{item.name.upper()} must be a number, got {text!r}") from err
        return cls(**values)

    def describe(self) -> str:
        """One line for the page: what is accepted."""
        return (
            f"Uploads up to {self.max_upload_mb} MB · clips up to {self.max_seconds:g} s and {self.max_frames} "
            f"frames (longer clips: the first {self.max_seconds:g} s) · frames up to "
            f"{self.max_long_side}×{self.max_short_side} · files deleted after {self.file_age_s // 60} min"
        )

    def check_frame_size(self, info: VideoInfo) -> None:
        """Raise :class:`DemoError` when the frames are larger than the limit."""
        long_side, short_side = max(info.width, info.height), min(info.width, info.height)
        if long_side > self.max_long_side or short_side > self.max_short_side:
            raise DemoError(
                f"the video is {info.width}×{info.height}; this demo takes frames up to "
                f"{self.max_long_side}×{self.max_short_side}: downscale it (e.g. to 1080p or 720p) and upload again"
            )

    def frame_budget(self, info: VideoInfo) -> int:
        """How many frames of this clip may be processed: ``max_seconds`` of it, at most ``max_frames``."""
        return max(1, min(self.max_frames, math.floor(self.max_seconds * info.fps + 1e-6)))

    def is_too_long(self, info: VideoInfo) -> bool:
        """True when the clip has more frames than :meth:`frame_budget` (unknown length counts as fitting)."""
        return info.num_frames is not None and info.num_frames > self.frame_budget(info)
