"""The evaluation datasets, each read in its native layout (see docs/benchmarks.md).

Every reader returns :class:`Sequence` records: frame paths plus, per frame, where its ground truth is. Ground truth
is read on demand with :func:`read_labels`, so listing thousands of sequences costs only directory listings.

- DAVIS-2016 / DAVIS-2017: read with :mod:`rgmp.data.davis`.
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

LabelSource = tuple[Path, ...]
"""Ground truth of one frame: one label-map PNG (DAVIS), or one binary mask per object (object k = entry k-1)."""

Encoding = Literal["2016", "2017", "binary"]
"""How ground-truth files read: DAVIS annotations of that year (:func:`rgmp.data.davis.read_annotation`), or "binary"
(one file per object, object wherever gray > 127)."""


@dataclass(frozen=True)
class Sequence:
    """One sequence of a dataset.

    Attributes:
        name: sequence name (results go to ``results/<name>/``).
        frames: frame image paths in frame order, length T.
        labels: per frame, its ground truth (:data:`LabelSource`) or None where the frame is not annotated.
        encoding: how the ground-truth files read (:data:`Encoding`).
    """

    name: str
    frames: tuple[Path, ...]
    labels: tuple[LabelSource | None, ...]
    encoding: Encoding

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
    """The sequences of a dataset, in the dataset's own order (or the order of ``sequences``).

    Args:
        dataset: one of :data:`DATASETS`.
        root: dataset root folder.
        subset: DAVIS image set name ("val", "train", ...); ignored elsewhere.
        sequences: restrict to these sequence names (any unknown name raises).
        resolution: DAVIS resolution folder.

    Raises:
        BenchmarkError: missing folders or files, unknown sequence names, frames without matching masks.
    """
    root = Path(root)
    if not root.is_dir():
        raise BenchmarkError(f"dataset folder not found: {root}")
    if dataset in ("davis2016", "davis2017"):
        names = _davis_names(root, dataset, subset, resolution)
        encoding = "2016" if dataset == "davis2016" else "2017"
        build = lambda name: _davis_sequence(root, name, resolution, encoding)  # noqa: E731
    elif dataset == "segtrackv2":
        names = _segtrack_names(root)
        build = lambda name: _segtrack_sequence(root, name)  # noqa: E731
    elif dataset == "jumpcut":
        names = sorted(p.name for p in root.iterdir() if p.is_dir() and (p / "gt").is_dir())
        build = lambda name: _jumpcut_sequence(root, name)  # noqa: E731
    else:
        raise BenchmarkError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    if sequences is not None:
        unknown = [s for s in sequences if s not in names]
        if unknown:
            raise BenchmarkError(f"unknown sequence(s) in {root}: {', '.join(unknown)}")
        names = list(sequences)
    if not names:
        raise BenchmarkError(f"no sequences found in {root} for {dataset}")
    return [build(name) for name in names]


def read_labels(sequence: Sequence, index: int) -> np.ndarray:
    """Ground truth of frame ``index`` as an (H, W) uint8 label map (0 = background, k = object k, 255 = void).

    Binary per-object masks are combined with later objects drawn over earlier ones.

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
    labels: np.ndarray | None = None
    for object_id, path in enumerate(source, start=1):
        mask = _read_binary(path)
        if labels is None:
            labels = np.zeros(mask.shape, np.uint8)
        elif mask.shape != labels.shape:
            raise BenchmarkError(f"{path} is {mask.shape[1]}x{mask.shape[0]}, other objects' masks differ")
        labels[mask] = object_id
    assert labels is not None
    return labels


def read_object_masks(sequence: Sequence, index: int) -> list[np.ndarray]:
    """Per-object (H, W) bool masks of frame ``index``, object k at position k-1.

    Binary datasets read each object's own file, so overlapping objects keep their full masks; label maps are split
    by id (1 .. the largest id of the first frame).
    """
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


# ----------------------------------------------------------------------------------------------------------------


def _read_binary(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("L")) > 127
    except OSError as err:
        raise BenchmarkError(f"cannot read mask {path}: {err}") from None


def _frames(folder: Path) -> list[Path]:
    try:
        return list_frame_folder(folder)
    except VideoError as err:
        raise BenchmarkError(str(err)) from None


def _davis_names(root: Path, dataset: str, subset: str, resolution: str) -> list[str]:
    try:
        return davis.sequence_names(root, "2017" if dataset == "davis2017" else "2016", subset, resolution)
    except davis.DavisError as err:
        raise BenchmarkError(str(err)) from None


def _matching(frames: list[Path], folder: Path) -> tuple[LabelSource | None, ...]:
    """Per frame, ``folder/<frame stem>.png`` when it exists."""
    return tuple((folder / f"{f.stem}.png",) if (folder / f"{f.stem}.png").is_file() else None for f in frames)


def _davis_sequence(root: Path, name: str, resolution: str, encoding: Encoding) -> Sequence:
    frames = _frames(davis.frames_root(root, resolution) / name)
    annotations = davis.annotations_root(root, resolution) / name
    labels = _matching(frames, annotations)
    if labels[0] is None:
        raise BenchmarkError(f"{name}: the first frame has no annotation in {annotations}")
    return Sequence(name, tuple(frames), labels, encoding)


def _segtrack_names(root: Path) -> list[str]:
    frames_root = root / "JPEGImages"
    if not frames_root.is_dir() or not (root / "GroundTruth").is_dir():
        raise BenchmarkError(f"{root} is not a SegTrack v2 folder (needs JPEGImages/ and GroundTruth/)")
    listing = root / "ImageSets" / "all.txt"
    if listing.is_file():
        return [line.strip().lstrip("*") for line in listing.read_text().splitlines() if line.strip()]
    return sorted(p.name for p in frames_root.iterdir() if p.is_dir())


def _segtrack_sequence(root: Path, name: str) -> Sequence:
    frames = _frames(root / "JPEGImages" / name)
    gt = root / "GroundTruth" / name
    if not gt.is_dir():
        raise BenchmarkError(f"{name}: missing ground truth folder {gt}")
    object_dirs = sorted((p for p in gt.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name))
    per_object = [_frames(d) for d in object_dirs] if object_dirs else [_frames(gt)]
    for masks in per_object:
        if len(masks) != len(frames):
            raise BenchmarkError(f"{name}: {len(frames)} frames but {len(masks)} masks in {masks[0].parent}")
    labels = tuple(tuple(masks[t] for masks in per_object) for t in range(len(frames)))
    return Sequence(name, tuple(frames), labels, "binary")


def _jumpcut_sequence(root: Path, name: str) -> Sequence:
    frames = _frames(root / name)
    return Sequence(name, tuple(frames), _matching(frames, root / name / "gt"), "binary")
