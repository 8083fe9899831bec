"""Dataset indexes in their native layouts, for both training stages.

A dataset is named by a spec ``KIND:PATH`` (optionally ``KIND:PATH:SPLIT``). Static kinds give
:class:`StaticEntry` rows (one image and its mask), video kinds give :class:`VideoEntry` rows (one clip); every
video kind can also feed stage 1 through :func:`static_entries`, one row per annotated frame.

- ``voc``: ``JPEGImages/<id>.jpg``, ``SegmentationObject/<id>.png`` (indexed, 255 void),
  ``ImageSets/Segmentation/<split>.txt`` (default split: train).
- ``sbd``: ``img/<id>.jpg``, ``inst/<id>.mat`` (``GTinst.Segmentation`` instance ids), ``<split>.txt``.
- ``ecssd``: ``images/<id>.jpg``, ``ground_truth_mask/<id>.png`` (binary, > 127).
- ``msra10k``: ``<id>.jpg`` beside ``<id>.png`` (binary) in PATH, ``Imgs/`` or ``MSRA10K_Imgs_GT/Imgs/``.
- ``folder``: ``images/<id>.*`` and ``masks/<id>.png`` (binary, or instance ids if palette PNGs).
- ``davis2016``: ``JPEGImages/480p/<seq>/*.jpg``, ``Annotations/480p/<seq>/*.png`` (object where > 0),
  ``ImageSets/480p/<split>.txt`` (all sequences when absent).
- ``davis2017``: the same with indexed masks (255 void) and ``ImageSets/2017/<split>.txt``.
- ``ytvos``: ``[train/]JPEGImages/<vid>/*.jpg``, ``[train/]Annotations/<vid>/*.png`` (indexed; only the
  annotated frames are used).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image

from rgmp.data import davis
from rgmp.errors import InputError

LabelFormat = Literal["binary", "binary_any", "indexed", "auto", "mat"]
STATIC_KINDS = ("voc", "sbd", "ecssd", "msra10k", "folder")
VIDEO_KINDS = ("davis2016", "davis2017", "ytvos")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


class DatasetError(InputError):
    """A dataset spec is malformed or its folder does not have the expected layout."""


@dataclass(frozen=True)
class StaticEntry:
    """One image and its mask file; ``labels`` says how to read the mask."""

    image: Path
    mask: Path
    labels: LabelFormat


@dataclass(frozen=True)
class VideoEntry:
    """One clip: its annotated frames in time order and their masks."""

    name: str
    frames: tuple[Path, ...]
    masks: tuple[Path, ...]
    labels: LabelFormat


@dataclass(frozen=True)
class DatasetSpec:
    kind: str
    path: Path
    split: str | None = None

    @classmethod
    def parse(cls, text: str) -> DatasetSpec:
        """``KIND:PATH[:SPLIT]`` → spec; an unknown kind raises :class:`DatasetError`."""
        kind, sep, rest = text.partition(":")
        if not sep or not rest:
            raise DatasetError(
                f"dataset spec {text!r} is not KIND:PATH (kinds: {', '.join(STATIC_KINDS + VIDEO_KINDS)})"
            )
        if kind not in STATIC_KINDS + VIDEO_KINDS:
            raise DatasetError(
                f"unknown dataset kind {kind!r} in {text!r}; choose one of {', '.join(STATIC_KINDS + VIDEO_KINDS)}"
            )
        path, _, split = rest.partition(":") if not Path(rest).exists() else (rest, "", "")
        return cls(kind, Path(path), split or None)

    def __str__(self) -> str:
        return f"{self.kind}:{self.path}" + (f":{self.split}" if self.split else "")


# --------------------------------------------------------------------------------------------------------------
# Reading


def read_image(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def read_labels(path: Path, labels: LabelFormat) -> np.ndarray:
    """(H, W) uint8 label map: 0 background, 1..K instances, 255 void.

    "indexed" (DAVIS-2017, VOC, YouTube-VOS) and "binary_any" (DAVIS-2016) masks are read as DAVIS annotations
    (:func:`rgmp.data.davis.read_annotation`).
    """
    if labels == "mat":
        from scipy.io import loadmat

        inst = loadmat(str(path), squeeze_me=True, struct_as_record=False)["GTinst"].Segmentation
        return np.asarray(inst, dtype=np.uint8)
    if labels in ("indexed", "binary_any"):
        return davis.read_annotation(path, "2017" if labels == "indexed" else "2016")
    with Image.open(path) as im:
        if labels == "auto" and im.mode == "P":
            return np.asarray(im, dtype=np.uint8).copy()
        grey = np.asarray(im.convert("L"))
    return (grey > 127).astype(np.uint8)


# --------------------------------------------------------------------------------------------------------------
# Indexes


def _require(path: Path, what: str) -> Path:
    if not path.exists():
        raise DatasetError(f"{what}: {path} not found")
    return path


def _ids(list_file: Path) -> list[str]:
    return [line.split()[0] for line in _require(list_file, "image list").read_text().splitlines() if line.strip()]


def _by_stem(folder: Path, suffixes: tuple[str, ...] = IMAGE_SUFFIXES) -> dict[str, Path]:
    return {p.stem: p for p in sorted(_require(folder, "folder").iterdir()) if p.suffix.lower() in suffixes}


def _pair_folders(images: Path, masks: Path, labels: LabelFormat) -> list[StaticEntry]:
    image_files, mask_files = _by_stem(images), _by_stem(masks, (".png", ".bmp"))
    return [StaticEntry(image_files[s], mask_files[s], labels) for s in sorted(image_files) if s in mask_files]


def static_entries(spec: DatasetSpec, exclude: tuple[str, ...] = ()) -> list[StaticEntry]:
    """All (image, mask) rows of a dataset; video kinds give one row per annotated frame of each kept clip."""
    root = _require(spec.path, f"dataset {spec.kind}")
    if spec.kind == "voc":
        ids = _ids(root / "ImageSets" / "Segmentation" / f"{spec.split or 'train'}.txt")
        rows = [
            StaticEntry(root / "JPEGImages" / f"{i}.jpg", root / "SegmentationObject" / f"{i}.png", "indexed")
            for i in ids
        ]
    elif spec.kind == "sbd":
        ids = _ids(root / f"{spec.split or 'train'}.txt")
        rows = [StaticEntry(root / "img" / f"{i}.jpg", root / "inst" / f"{i}.mat", "mat") for i in ids]
    elif spec.kind == "ecssd":
        rows = _pair_folders(root / "images", root / "ground_truth_mask", "binary")
    elif spec.kind == "msra10k":
        folder = next((d for d in (root / "MSRA10K_Imgs_GT" / "Imgs", root / "Imgs") if d.is_dir()), root)
        images = _by_stem(folder, (".jpg", ".jpeg"))
        masks = _by_stem(folder, (".png",))
        rows = [StaticEntry(images[s], masks[s], "binary") for s in sorted(images) if s in masks]
    elif spec.kind == "folder":
        rows = _pair_folders(root / "images", root / "masks", "auto")
    else:
        rows = [
            StaticEntry(frame, mask, clip.labels)
            for clip in video_entries(spec, exclude)
            for frame, mask in zip(clip.frames, clip.masks, strict=True)
        ]
    missing = [r.image for r in rows if not r.image.is_file()][:3]
    if missing:
        raise DatasetError(f"{spec}: listed images are missing, e.g. {', '.join(map(str, missing))}")
    if not rows:
        raise DatasetError(f"{spec}: no image/mask pairs found")
    return rows


def video_entries(spec: DatasetSpec, exclude: tuple[str, ...] = ()) -> list[VideoEntry]:
    """The clips of a video dataset (sequences named in ``exclude`` are left out), annotated frames only."""
    root = _require(spec.path, f"dataset {spec.kind}")
    if spec.kind in ("davis2016", "davis2017"):
        frames_root, masks_root = davis.frames_root(root), davis.annotations_root(root)
        list_file = davis.image_set_path(root, "2016" if spec.kind == "davis2016" else "2017", spec.split or "train")
        if list_file.is_file():
            names = davis.read_image_set(list_file)
        else:
            names = sorted(d.name for d in _require(frames_root, "frame folder").iterdir() if d.is_dir())
        labels: LabelFormat = "binary_any" if spec.kind == "davis2016" else "indexed"
    elif spec.kind == "ytvos":
        base = root / "train" if (root / "train" / "JPEGImages").is_dir() else root
        frames_root, masks_root = base / "JPEGImages", base / "Annotations"
        names = sorted(d.name for d in _require(frames_root, "frame folder").iterdir() if d.is_dir())
        labels = "indexed"
    else:
        raise DatasetError(f"{spec.kind} is not a video dataset (video kinds: {', '.join(VIDEO_KINDS)})")
    unknown = sorted(set(exclude) - set(names))
    clips = []
    for name in names:
        if name in exclude:
            continue
        frames = _by_stem(_require(frames_root / name, "frame folder"), (".jpg", ".jpeg", ".png"))
        masks = _by_stem(_require(masks_root / name, "annotation folder"), (".png",))
        stems = sorted(s for s in frames if s in masks)
        if len(stems) >= 2:
            clips.append(VideoEntry(name, tuple(frames[s] for s in stems), tuple(masks[s] for s in stems), labels))
    if unknown and spec.kind != "ytvos":
        raise DatasetError(f"{spec}: excluded sequences not in the dataset: {', '.join(unknown)}")
    if not clips:
        raise DatasetError(f"{spec}: no clips with at least two annotated frames")
    return clips
