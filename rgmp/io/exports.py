"""Mask formats beside the DAVIS palette PNGs: COCO run-length encoding and per-object alpha mattes.

A clip's outputs, in its output folder (``segment --out``, one folder per clip for ``segment-batch``):

- ``png``: ``<frame>.png``, DAVIS palette PNGs of the object ids (:func:`rgmp.io.masks.write_mask`);
- ``coco``: ``coco.json``, one COCO file for the clip (:func:`coco_document`): one image per frame and one
  annotation per frame and object, with its run-length encoded mask (``pycocotools``), box and area, plus the
  video fields of the COCO video extension (``videos``, ``video_id``, ``frame_id``, ``instance_id``) that video
  tools read;
- ``alpha``: ``alpha/<object id>/<frame>.png``, one 8-bit grayscale PNG sequence per object, 255 × the object's
  soft probability (:func:`alpha_mattes`), the mattes compositing tools take.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

from rgmp.io.files import atomic_path, write_text_atomic

FORMATS = ("png", "coco", "alpha")
"""The formats a clip's masks can be written in."""
COCO_FILE = "coco.json"
ALPHA_DIR = "alpha"


def parse_formats(text: str) -> tuple[str, ...]:
    """ "png,coco" → ("png", "coco"): comma-separated names of :data:`FORMATS`, in that order, without repeats.

    Raises:
        ValueError: an unknown name, or none.
    """
    names = {part.strip().lower() for part in text.split(",") if part.strip()}
    unknown = sorted(names - set(FORMATS))
    if unknown or not names:
        raise ValueError(f"formats are comma-separated names among {', '.join(FORMATS)}; got {text!r}")
    return tuple(name for name in FORMATS if name in names)


# --------------------------------------------------------------------------------------------------------------
# Alpha mattes


def alpha_mattes(probs: np.ndarray) -> np.ndarray:
    """Soft probabilities ``(K+1, H, W)`` float (channel 0 = background) → ``(K, H, W) uint8`` mattes, the
    objects' probabilities × 255, rounded."""
    return np.rint(np.clip(probs[1:], 0.0, 1.0) * 255.0).astype(np.uint8)


def alpha_path(folder: str | os.PathLike[str], object_id: int, name: str) -> Path:
    """Where frame ``name``'s matte of object ``object_id`` goes: ``<folder>/alpha/<object_id>/<name>.png``."""
    return Path(folder) / ALPHA_DIR / str(object_id) / f"{name}.png"


def write_alpha_mattes(
    folder: str | os.PathLike[str],
    name: str,
    probs: np.ndarray,
    object_ids: Sequence[int],
    compress_level: int = 6,
) -> None:
    """Write one frame's mattes, one grayscale PNG per object (atomically, folders created).

    Args:
        folder: the clip's output folder.
        name: the frame's name (file stem).
        probs: ``(K+1, H, W)`` float soft probabilities; channel k is object ``object_ids[k-1]``.
        object_ids: the K objects' ids.
        compress_level: zlib level, 0..9.
    """
    for object_id, matte in zip(object_ids, alpha_mattes(probs), strict=True):
        with atomic_path(alpha_path(folder, object_id, name)) as tmp:
            Image.fromarray(matte, mode="L").save(tmp, format="PNG", compress_level=compress_level)


# --------------------------------------------------------------------------------------------------------------
# COCO run-length encoding


def coco_annotations(labels: np.ndarray, object_ids: Iterable[int]) -> list[dict[str, Any]]:
    """The COCO annotations of one frame, one per object present (absent objects have none).

    Args:
        labels: ``(H, W)`` integer label map.
        object_ids: the clip's object ids.

    Returns:
        ``{"instance_id", "segmentation": {"size": [H, W], "counts": str}, "area": int, "bbox": [x, y, w, h]}``
        per object, in id order; ``image_id``, ``id`` and the rest are added by :func:`coco_document`.
    """
    labels = np.asarray(labels)
    present = [int(k) for k in sorted(object_ids) if np.any(labels == k)]
    if not present:
        return []
    masks = np.asfortranarray(np.stack([labels == k for k in present], axis=-1).astype(np.uint8))
    rles = mask_utils.encode(masks)
    areas = mask_utils.area(rles)
    boxes = mask_utils.toBbox(rles)
    return [
        {
            "instance_id": object_id,
            "segmentation": {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")},
            "area": int(area),
            "bbox": [float(v) for v in box],
        }
        for object_id, rle, area, box in zip(present, rles, areas, boxes, strict=True)
    ]


def coco_document(
    video: str,
    size: tuple[int, int],
    object_ids: Sequence[int],
    frames: Sequence[tuple[int, str, list[dict[str, Any]]]],
) -> dict[str, Any]:
    """One clip's COCO file (``pycocotools.coco.COCO`` loads it; ``annToMask`` gives each object's mask back).

    Args:
        video: the clip's name.
        size: frame (height, width).
        object_ids: the clip's object ids; each is a category and an instance (``instance_id``).
        frames: (frame index, image file name, :func:`coco_annotations` of the frame), in frame order.
    """
    height, width = size
    images, annotations = [], []
    for image_id, (index, file_name, frame_annotations) in enumerate(frames, start=1):
        images.append(
            {
                "id": image_id,
                "video_id": 1,
                "frame_id": index,
                "file_name": file_name,
                "height": height,
                "width": width,
            }
        )
        for annotation in frame_annotations:
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "video_id": 1,
                    "category_id": annotation["instance_id"],
                    **annotation,
                    "iscrowd": 0,
                }
            )
    return {
        "info": {"description": f"RGMP masks of {video}: one image per frame, one annotation per frame and object"},
        "videos": [{"id": 1, "name": video, "height": height, "width": width, "length": len(frames)}],
        "images": images,
        "annotations": annotations,
        "categories": [{"id": int(k), "name": f"object {int(k)}"} for k in object_ids],
    }


def coco_json(document: dict[str, Any]) -> str:
    """A :func:`coco_document` as compact JSON text."""
    return json.dumps(document, separators=(",", ":"))


def write_coco(path: str | os.PathLike[str], document: dict[str, Any]) -> None:
    """Write a :func:`coco_document` as compact JSON, atomically."""
    write_text_atomic(path, coco_json(document))
