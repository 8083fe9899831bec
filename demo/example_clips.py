"""The example clips shipped in ``demo/examples/``: short H.264 mp4s with their first-frame masks.

They are cut from the shared development data (see ``demo/examples/ATTRIBUTION.md`` for sources and licences).
Rebuild them with ``python -m demo.example_clips [--data ../shared/data]``.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
FPS = 24.0
"""DAVIS sequences were recorded at 24 frames per second."""


@dataclass(frozen=True)
class ExampleClip:
    """One example.

    Attributes:
        name: file stem in ``demo/examples/`` (``<name>.mp4``, ``<name>.png``).
        label: what the page shows.
        source: DAVIS-layout root under the shared data folder, and the sequence name.
        frames: how many frames of the sequence are kept.
    """

    name: str
    label: str
    source: tuple[str, str]
    frames: int

    @property
    def video(self) -> Path:
        return EXAMPLES_DIR / f"{self.name}.mp4"

    @property
    def mask(self) -> Path:
        return EXAMPLES_DIR / f"{self.name}.png"


EXAMPLES = (
    ExampleClip("bike", "bike · 2 objects · 4 frames", ("clips", "bike"), 4),
    ExampleClip("rollerblade", "rollerblade · 35 frames", ("clips", "rollerblade"), 35),
    ExampleClip("dog-agility", "dog-agility · 25 frames", ("DAVIS2016-train", "dog-agility"), 25),
    ExampleClip("bear", "bear · 40 frames", ("DAVIS2016-train", "bear"), 40),
    ExampleClip("surf", "surf · 40 frames", ("DAVIS2016-train", "surf"), 40),
)


def available_examples() -> list[ExampleClip]:
    """The examples whose files are present."""
    return [clip for clip in EXAMPLES if clip.video.is_file() and clip.mask.is_file()]


def attribution() -> str:
    """The attribution text (markdown) shipped with the examples."""
    path = EXAMPLES_DIR / "ATTRIBUTION.md"
    return path.read_text(encoding="utf-8") if path.is_file() else ""


def build(data: Path, out: Path = EXAMPLES_DIR) -> list[Path]:
    """Write every example's mp4 and first-frame mask from the shared data folder; returns the files."""
    from rgmp.io.masks import read_mask, write_mask
    from rgmp.io.video import list_frame_folder
    from rgmp.io.video_writer import VideoWriter

    written = []
    for clip in EXAMPLES:
        root, sequence = clip.source
        frames = list_frame_folder(data / root / "JPEGImages" / "480p" / sequence)[: clip.frames]
        with VideoWriter(out / f"{clip.name}.mp4", FPS, crf=26, preset="slow") as writer:
            for path in frames:
                writer.write(np.asarray(Image.open(path).convert("RGB")))
        labels = read_mask(data / root / "Annotations" / "480p" / sequence / f"{frames[0].stem}.png")
        write_mask(out / f"{clip.name}.png", labels)
        written += [out / f"{clip.name}.mp4", out / f"{clip.name}.png"]
    return written


def main(argv: list[str] | None = None) -> int:
    default = Path(os.environ.get("RGMP_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser = argparse.ArgumentParser(prog="python -m demo.example_clips", description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default, help=f"shared data folder (default {default})")
    args = parser.parse_args(argv)
    if not (args.data / "clips").is_dir():
        print(f"error: no shared data at {args.data} (give --data)", file=sys.stderr)
        return 2
    for path in build(args.data):
        print(f"{path.stat().st_size / 1e6:6.2f} MB  {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
