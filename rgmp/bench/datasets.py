"""The evaluation datasets, each read in its native layout (docs/benchmarks.md).

Readers list :class:`Sequence` records, frame paths and where each frame's ground truth is; the ground truth is
read on demand (:func:`read_labels`), so listing thousands of sequences costs only directory listings.

- DAVIS-2016 / DAVIS-2017: :mod:`rgmp.data.davis`.
- SegTrack v2: ``JPEGImages/<seq>/*``, ``GroundTruth/<seq>/*`` (one object) or ``GroundTruth/<seq>/<k>/*``
  (object k), optional ``ImageSets/all.txt``; masks matched to frames by order.
- JumpCut: ``<seq>/*`` frames and ``<seq>/gt/<frame stem>.png`` masks.
"""

from __future__ import annotations

import os
from collections.abc import Sequence as Seq
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image

from rgmp.bench import BenchmarkError
from rgmp.data import davis
from rgmp.io.masks import VOID
from rgmp.io.video import VideoError, list_frame_folder

DatasetName = Literal["davis2016", "davis2017", "segtrackv2", "jumpcut"]
DATASETS: tuple[str, ...] = ("davis2016", "davis2017", "segtrackv2", "jumpcut")


@dataclass(frozen=True)
class Sequence:
    """One sequence of a dataset.

    Attributes:
        name: sequence name (results go to ``results/<name>/``).
        frames: the T frame image paths in frame order.
        labels: per frame, its ground truth files, or None where the frame is not annotated: one label map (DAVIS),
            or one binary mask per object (object k = entry k-1).
        encoding: how the files read: DAVIS annotations of that year (:func:`rgmp.data.davis.read_annotation`), or
            "binary" (object wherever gray > 127).
    """

    name: str
    frames: tuple[Path, ...]
    labels: tuple[tuple[Path, ...] | None, ...]
    encoding: Literal["2016", "2017", "binary"]

    def __len__(self) -> int:
        return len(self.frames)


def read_dataset(
    dataset: DatasetName,
    root: str | os.PathLike[str],
    *,
    subset: str = "val",
    sequences: Seq[str] | None = None,
    resolution: str = "480p",
) -> list[Sequence]:
    """The sequences of a dataset (one of :data:`DATASETS`), in its own order or the order of ``sequences``.

    ``subset`` (DAVIS image set) and ``resolution`` (DAVIS folder) matter only for DAVIS.

    Raises:
        BenchmarkError: missing folders or files, unknown sequence names, frames without matching masks.
    """
    root = Path(root)
    if not root.is_dir():
        raise BenchmarkError(f"dataset folder not found: {root}")
    if dataset not in DATASETS:
        raise BenchmarkError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    try:
        if dataset in ("davis2016", "davis2017"):
            year = dataset.removeprefix("davis")
            names = davis.sequence_names(root, year, subset, resolution)  # type: ignore[arg-type]
        elif dataset == "segtrackv2":
            names = _segtrack_names(root)
        else:
            names = sorted(p.name for p in root.iterdir() if p.is_dir() and (p / "gt").is_dir())
        if sequences is not None:
            unknown = [s for s in sequences if s not in names]
            if unknown:
                raise BenchmarkError(f"unknown sequence(s) in {root}: {', '.join(unknown)}")
            names = list(sequences)
        if not names:
            raise BenchmarkError(f"no sequences found in {root} for {dataset}")
        if dataset == "segtrackv2":
            return [_segtrack_sequence(root, name) for name in names]
        if dataset == "jumpcut":
            return [_jumpcut_sequence(root, name) for name in names]
        return [_davis_sequence(root, name, resolution, year) for name in names]  # type: ignore[arg-type]
    except (davis.DavisError, VideoError) as err:
        raise BenchmarkError(str(err)) from None


def read_labels(sequence: Sequence, index: int) -> np.ndarray:
    """Ground truth of frame ``index`` as an (H, W) uint8 label map (0 = background, k = object k, 255 = void);
    binary per-object masks are combined with later objects drawn over earlier ones.

    Raises:
        BenchmarkError: the frame has no ground truth, or a file cannot be read.
    """
    source = sequence.labels[index]
    if source is None:
        raise BenchmarkError(f"{sequence.name}: frame {index} ({sequence.frames[index].name}) has no ground truth")
    if sequence.encoding != "binary":
        try:
            return davis.read_annotation(source[0], sequence.encoding)
        except davis.DavisError as err:
            raise BenchmarkError(str(err)) from None
    masks = [_read_binary(path) for path in source]
    labels = np.zeros(masks[0].shape, np.uint8)
    for object_id, (path, mask) in enumerate(zip(source, masks, strict=True), start=1):
        if mask.shape != labels.shape:
            raise BenchmarkError(f"{path} is {mask.shape[1]}x{mask.shape[0]}, other objects' masks differ")
        labels[mask] = object_id
    return labels


def read_object_masks(sequence: Sequence, index: int) -> list[np.ndarray]:
    """Per-object (H, W) bool masks of frame ``index``, object k at position k-1: binary datasets read each object's
    own file (overlapping objects keep their full masks), label maps are split by id (1 .. :func:`num_objects`)."""
    source = sequence.labels[index]
    if source is not None and sequence.encoding == "binary":
        return [_read_binary(path) for path in source]
    labels = read_labels(sequence, index)
    return [labels == k for k in range(1, num_objects(sequence) + 1)]


def num_objects(sequence: Sequence) -> int:
    """Number of objects of a sequence (binary datasets: mask files per frame; DAVIS: ids in the first mask)."""
    if sequence.encoding == "binary":
        return len(next(s for s in sequence.labels if s is not None))
    first = read_labels(sequence, 0)
    return int(np.where(first == VOID, 0, first).max())


def read_frame(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB frame."""
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except OSError as err:
        raise BenchmarkError(f"cannot read frame {path}: {err}") from None


def _read_binary(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("L")) > 127
    except OSError as err:
        raise BenchmarkError(f"cannot read mask {path}: {err}") from None


def _matching(frames: list[Path], folder: Path) -> tuple[tuple[Path, ...] | None, ...]:
    """Per frame, ``folder/<frame stem>.png`` when it exists."""
    return tuple((folder / f"{f.stem}.png",) if (folder / f"{f.stem}.png").is_file() else None for f in frames)


def _davis_sequence(root: Path, name: str, resolution: str, year: Literal["2016", "2017"]) -> Sequence:
    frames = list_frame_folder(davis.frames_root(root, resolution) / name)
    annotations = davis.annotations_root(root, resolution) / name
    labels = _matching(frames, annotations)
    if labels[0] is None:
        raise BenchmarkError(f"{name}: the first frame has no annotation in {annotations}")
    return Sequence(name, tuple(frames), labels, year)


def _segtrack_names(root: Path) -> list[str]:
    if not (root / "JPEGImages").is_dir() or not (root / "GroundTruth").is_dir():
        raise BenchmarkError(f"{root} is not a SegTrack v2 folder (needs JPEGImages/ and GroundTruth/)")
    listing = root / "ImageSets" / "all.txt"
    if listing.is_file():
        return [line.strip().lstrip("*") for line in listing.read_text().splitlines() if line.strip()]
    return sorted(p.name for p in (root / "JPEGImages").iterdir() if p.is_dir())


def _segtrack_sequence(root: Path, name: str) -> Sequence:
    frames = list_frame_folder(root / "JPEGImages" / name)
    gt = root / "GroundTruth" / name
    if not gt.is_dir():
        raise BenchmarkError(f"{name}: missing ground truth folder {gt}")
    object_dirs = sorted((p for p in gt.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name))
    per_object = [list_frame_folder(d) for d in object_dirs or [gt]]
    for masks in per_object:
        if len(masks) != len(frames):
            raise BenchmarkError(f"{name}: {len(frames)} frames but {len(masks)} masks in {masks[0].parent}")
    return Sequence(name, tuple(frames), tuple(zip(*per_object, strict=True)), "binary")


def _jumpcut_sequence(root: Path, name: str) -> Sequence:
    frames = list_frame_folder(root / name)
    return Sequence(name, tuple(frames), _matching(frames, root / name / "gt"), "binary")
