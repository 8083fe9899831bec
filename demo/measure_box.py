"""How good is a mask from a box alone, and what does propagating it give? ``python -m demo.measure_box``.

For each sequence of the development split (DAVIS-2016 train sequences kept out of training) and each shipped
example clip, the box of every object is its first-frame ground truth's bounding box; the Box tool's cut
(:func:`demo.grabcut.box_mask`) is compared with that ground truth (IoU, mean over objects), and both the cut and
the exact mask are propagated through the clip with the demo's default model and settings (480 px, the model's
scales), scored with the DAVIS measures (J&F mean over objects, first and last frames not scored, as the
official evaluation). Objects are cut from the largest box to the smallest, a later cut winning where they
overlap, as a user drawing the object in front last would get. The markdown table is what ``docs/demo.md``
shows; rerun it when the default weights change.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from demo.example_clips import EXAMPLES
from demo.grabcut import bounding_box, box_mask
from rgmp.io.masks import VOID

DEV_SPLIT = ("bmx-bumps", "dance-jump", "dog-agility", "mallard-fly", "surf")
"""The project's development split: DAVIS-2016 train sequences the starter weights were not trained on."""


@dataclass(frozen=True)
class Sequence:
    """A clip with its ground truth.

    Attributes:
        name: what the table shows.
        frames: (T, H, W, 3) uint8 RGB.
        truth: (T', H, W) uint8 label maps of the first T' frames (T' = T, or 1 when only frame 0 is annotated).
    """

    name: str
    frames: np.ndarray
    truth: np.ndarray


@dataclass(frozen=True)
class Row:
    """One line of the table: box IoU on frame 0, J&F from the box's mask and from the exact mask (None without
    ground truth after frame 0), seconds per cut."""

    name: str
    frames: int
    objects: int
    box_iou: float
    jf_box: float | None
    jf_exact: float | None
    cut_seconds: float


def box_labels(frame: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, float]:
    """The Box tool's label map for the ground truth's objects, and the mean seconds per cut.

    Args:
        frame: (H, W, 3) uint8 RGB.
        truth: (H, W) uint8 label map (255 = void, ignored).
    """
    ids = [int(i) for i in np.unique(truth) if i not in (0, VOID)]
    boxes = {i: bounding_box(truth == i) for i in ids}
    area = {i: (b[2] - b[0]) * (b[3] - b[1]) for i, b in boxes.items()}
    labels = np.zeros(truth.shape, np.uint8)
    began = time.perf_counter()
    for object_id in sorted(ids, key=lambda i: -area[i]):
        labels[box_mask(frame, boxes[object_id])] = object_id
    return labels, (time.perf_counter() - began) / len(ids)


def mean_iou(labels: np.ndarray, truth: np.ndarray) -> float:
    """Mean over the ground truth's objects of the IoU of ``labels == k`` with ``truth == k``."""
    ids = [int(i) for i in np.unique(truth) if i not in (0, VOID)]
    return float(np.mean([((labels == i) & (truth == i)).sum() / ((labels == i) | (truth == i)).sum() for i in ids]))


def jf_mean(truth: np.ndarray, predicted: np.ndarray) -> float:
    """DAVIS J&F mean of a (T, H, W) prediction: (mean J + mean F) / 2, averaged over objects."""
    from rgmp.metrics import evaluate_semisupervised

    j, f = evaluate_semisupervised(truth, predicted)
    return float(np.mean((j.mean(axis=1) + f.mean(axis=1)) / 2))


def propagate(session, frames: np.ndarray, first: np.ndarray) -> np.ndarray:
    """(T, H, W) uint8 labels of ``frames`` propagated from the first frame's ``first`` label map."""
    return np.stack([result.labels for result in session.propagate(iter(frames), first)])


def sequences(data: Path) -> Iterator[Sequence]:
    """The development split's sequences (whole), then the shipped examples (their mp4 frames)."""
    from rgmp.io.masks import read_mask
    from rgmp.io.video import iter_video

    davis = data / "DAVIS2016-train"
    for name in DEV_SPLIT:
        frames = sorted((davis / "JPEGImages" / "480p" / name).glob("*.jpg"))
        truth = [read_mask(davis / "Annotations" / "480p" / name / f"{f.stem}.png") for f in frames]
        yield Sequence(
            f"dev · {name}", np.stack([np.asarray(Image.open(f).convert("RGB")) for f in frames]), np.stack(truth)
        )
    for clip in EXAMPLES:
        if not clip.video.is_file():
            continue
        frames = np.stack(list(iter_video(clip.video)))
        root, name = clip.source
        annotations = sorted((data / root / "Annotations" / "480p" / name).glob("*.png"))[: len(frames)]
        truth = [read_mask(path) for path in annotations] if len(annotations) == len(frames) else []
        yield Sequence(f"example · {clip.name}", frames, np.stack(truth or [read_mask(clip.mask)]))


def measure(data: Path, weights: str | None = None, size: int = 480) -> Iterator[Row]:
    """One :class:`Row` per sequence (see the module docstring)."""
    from demo.models import STARTER, load_weights
    from rgmp.inference import Session, SessionOptions

    model = load_weights(weights or STARTER)
    session = Session(model, "cpu", SessionOptions(size=size), dtype="auto")
    for sequence in sequences(data):
        first_truth = sequence.truth[0]
        labels, seconds = box_labels(sequence.frames[0], first_truth)
        jf_box = jf_exact = None
        if len(sequence.truth) == len(sequence.frames) >= 3:
            jf_box = jf_mean(sequence.truth, propagate(session, sequence.frames, labels))
            jf_exact = jf_mean(sequence.truth, propagate(session, sequence.frames, first_truth))
        objects = len([i for i in np.unique(first_truth) if i not in (0, VOID)])
        iou = mean_iou(labels, first_truth)
        yield Row(sequence.name, len(sequence.frames), objects, iou, jf_box, jf_exact, seconds)


def markdown(rows: list[Row]) -> str:
    """The table for ``docs/demo.md``."""

    def pct(value: float | None) -> str:
        return "—" if value is None else f"{100 * value:.1f}"

    lines = [
        "| sequence | frames | objects | box IoU, frame 0 | J&F from the box's mask | J&F from the exact mask "
        "| cut (s) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row.name} | {row.frames} | {row.objects} | {pct(row.box_iou)} | {pct(row.jf_box)} | "
            f"{pct(row.jf_exact)} | {row.cut_seconds:.2f} |"
        )
    scored = [row for row in rows if row.jf_box is not None]
    lines.append(
        f"| **mean** | | | {pct(np.mean([r.box_iou for r in rows]))} | {pct(np.mean([r.jf_box for r in scored]))} | "
        f"{pct(np.mean([r.jf_exact for r in scored]))} | {np.mean([r.cut_seconds for r in rows]):.2f} |"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    default = Path(os.environ.get("RGMP_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser = argparse.ArgumentParser(prog="python -m demo.measure_box", description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default, help=f"shared data folder (default {default})")
    parser.add_argument("--weights", default=None, help="a checkpoint (default: the starter weights)")
    parser.add_argument("--size", type=int, default=480, help="processing size, short side (default 480)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for the network")
    args = parser.parse_args(argv)
    if not (args.data / "DAVIS2016-train").is_dir():
        print(f"error: no DAVIS2016-train under {args.data} (give --data)", file=sys.stderr)
        return 2
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    rows = []
    for row in measure(args.data, args.weights, args.size):
        rows.append(row)
        print(f"{row}", file=sys.stderr, flush=True)
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
