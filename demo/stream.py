"""The overlay cut into short H.264 MPEG-TS segments while a run goes: the chunks a streaming ``gr.Video`` plays
(HLS)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rgmp.io.video_writer import VideoWriter

SEGMENT_CRF = 23
"""x264 quality of the segments: they are watched once, live."""


class StreamSegments:
    """Cuts overlay frames into short H.264 MPEG-TS segments (:class:`VideoWriter` kind "h264-ts").

    Args:
        folder: where the segments go (``segment-00000.ts``...).
        fps: the clip's frame rate.
        seconds: length of one segment.
    """

    def __init__(self, folder: Path, fps: float, seconds: float = 0.5):
        self.folder = folder
        self.fps = fps
        self.frames_per_segment = max(1, round(fps * seconds))
        self._writer: VideoWriter | None = None
        self._count = 0

    def add(self, frame: np.ndarray) -> Path | None:
        """Append one (H, W, 3) uint8 frame; returns a segment's path when one is complete."""
        if self._writer is None:
            path = self.folder / f"segment-{self._count:05d}.ts"
            self._writer = VideoWriter(path, self.fps, crf=SEGMENT_CRF, kind="h264-ts")
        self._writer.write(frame)
        if self._writer.frames_written >= self.frames_per_segment:
            return self.flush()
        return None

    def flush(self) -> Path | None:
        """Close the segment being written (if it holds frames) and return its path."""
        writer, self._writer = self._writer, None
        if writer is None or not writer.frames_written:
            return None
        writer.close()
        self._count += 1
        return writer.path
