"""From the image editor's strokes to a label map, and back.

``gr.ImageEditor(type="numpy", image_mode="RGBA")`` hands over ``{"background", "layers", "composite"}``: each
layer is an (H, W, 4) uint8 image, transparent except the strokes. One object is one colour within one layer:
two colours in a layer are two objects, and the same colour on two layers is two objects as well. A stroke in
a DAVIS palette colour keeps that colour's index as object id (so a mask loaded into the editor and touched up
keeps its ids); other colours get the smallest free ids, in layer order. Later layers are painted over earlier
ones; the eraser makes pixels transparent, which is background.

The brush is translucent (:data:`BRUSH_OPACITY`), so that the frame's edges stay visible under the strokes. Its
colours therefore come back rounded (128 may read 129), and where two strokes of different colours overlap the
layer holds a mix of them, more of the upper one. So colours within a few levels of a palette colour are read
as that colour, and in a layer that holds palette colours any other colour is such a mix and joins the nearest
palette colour present. Masks put into the editor (:func:`paint_labels`) are a translucent fill with an opaque
outline, which read back exactly.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from PIL import Image

from demo.errors import DemoError
from rgmp.inference.session import MAX_OBJECTS
from rgmp.io.masks import VOID, palette_array

PALETTE = palette_array()
"""(256, 3) uint8: the DAVIS palette; object k is drawn in colour PALETTE[k]."""

BRUSH_OPACITY = 0.5
"""Opacity of the brush's strokes: the frame shows through them."""
BRUSH_COLOURS = [(f"#{r:02x}{g:02x}{b:02x}", BRUSH_OPACITY) for r, g, b in PALETTE[1:9]]
"""The brush colours offered in the editor, as (hex, opacity): objects 1..8 of the DAVIS palette."""
BRUSH_RADIUS = 4
"""Default brush radius in frame pixels: a fine stroke along an object's edge at 480p."""
ERASER_RADIUS = 8
"""Default eraser radius in frame pixels."""
FILL_ALPHA = 96
"""Alpha of a mask's fill in the editor (its outline is opaque)."""
EDITOR_SIDE_PX, EDITOR_BARS_PX = 70, 90
"""Room the image editor takes beside the image (its tool bar) and above and below it (its top and layer bars)."""
_COLOUR_TOLERANCE = 8
"""Largest per-channel difference at which a stroke colour is read as a palette colour (palette colours differ
by at least 32 on some channel)."""
_MIN_ALPHA = 16
"""Layer pixels at least this opaque are painted."""

_SPECK_PIXELS = 16
_SPECK_SHARE = 0.01
"""A colour on fewer than 16 pixels and less than 1% of a layer's strokes is an anti-aliasing speck of a
neighbouring stroke, not an object: its pixels join the nearest kept colour."""


def _rgb_keys(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 → (...) int64 keys 0xRRGGBB."""
    rgb = rgb.astype(np.int64)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


_PALETTE_IDS = {int(key): index for index, key in enumerate(_rgb_keys(PALETTE)) if index not in (0, VOID)}


def _image(image: np.ndarray | str | os.PathLike[str]) -> np.ndarray:
    """An editor image as an array: given as one, or as the path of an image file."""
    if isinstance(image, (str, os.PathLike)):
        with Image.open(image) as opened:
            return np.asarray(opened.convert("RGBA" if opened.mode in ("RGBA", "LA", "P") else "RGB"))
    return np.asarray(image)


def editor_frame(value: dict[str, Any] | None) -> np.ndarray:
    """The background frame of an editor value as (H, W, 3) uint8 RGB (arrays or image file paths)."""
    background = None if value is None else value.get("background")
    if background is None:
        raise DemoError("no frame to annotate yet: upload a video or pick an example first")
    return np.ascontiguousarray(_image(background)[..., :3])


def labels_from_editor(value: dict[str, Any] | None) -> np.ndarray:
    """The label map painted in an editor value.

    Args:
        value: ``{"background": (H, W, 3|4), "layers": [(H, W, 4) uint8, ...], "composite": ...}`` (arrays, or
            paths of image files).

    Returns:
        (H, W) uint8 label map: 0 = background, 1..254 = objects (see the module docstring for the ids).

    Raises:
        DemoError: no frame in the editor, a layer of another size than the frame, or too many objects.
    """
    height, width = editor_frame(value).shape[:2]
    labels = np.zeros((height, width), np.uint8)
    used: set[int] = set()
    for number, layer in enumerate(value.get("layers") or [], start=1):
        layer = _image(layer)
        if layer.shape[:2] != (height, width):
            raise DemoError(
                f"layer {number} is {layer.shape[1]}×{layer.shape[0]} but the frame is {width}×{height}: "
                "clear the editor and paint again"
            )
        if layer.ndim != 3 or layer.shape[2] != 4:
            continue  # a layer without alpha cannot hold strokes
        painted = layer[..., 3] >= _MIN_ALPHA
        if not painted.any():
            continue
        rgb = _snap_to_palette(layer[..., :3][painted].astype(np.int64))
        colours = _stroke_colours(rgb)
        slots = ((rgb[:, None] - colours[None]) ** 2).sum(axis=2).argmin(axis=1)
        keys = _rgb_keys(colours).tolist()
        ids = np.zeros(len(keys), np.uint8)
        for slot in sorted(range(len(keys)), key=lambda s: keys[s] not in _PALETTE_IDS):  # palette colours first
            ids[slot] = _palette_id(keys[slot], used)
        labels[painted] = ids[slots]
    return labels


def _snap_to_palette(rgb: np.ndarray) -> np.ndarray:
    """(N, 3) int64 stroke pixels of one layer → the same with rounded palette colours made exact and, when the
    layer holds palette colours, every other colour replaced by the nearest of those (a mix of overlapping
    translucent strokes)."""
    colours, inverse = np.unique(rgb, axis=0, return_inverse=True)
    distance = np.abs(colours[:, None, :] - PALETTE[None, 1:255].astype(np.int64)).max(axis=2)  # (C, 254)
    nearest = distance.argmin(axis=1)
    pure = distance[np.arange(len(colours)), nearest] <= _COLOUR_TOLERANCE
    if not pure.any():
        return rgb
    snapped = colours.copy()
    snapped[pure] = PALETTE[1 + nearest[pure]]
    present = np.unique(snapped[pure], axis=0)
    mixed = np.flatnonzero(~pure)
    if mixed.size:
        closest = ((colours[mixed, None, :] - present[None]) ** 2).sum(axis=2).argmin(axis=1)
        snapped[mixed] = present[closest]
    return snapped[inverse.reshape(-1)]


def _stroke_colours(rgb: np.ndarray) -> np.ndarray:
    """(N, 3) stroke pixels → (C, 3) colours of the layer's objects, most used first, specks left out."""
    colours, counts = np.unique(rgb, axis=0, return_counts=True)
    order = np.argsort(-counts, kind="stable")
    colours, counts = colours[order], counts[order]
    keep = counts >= min(_SPECK_PIXELS, _SPECK_SHARE * len(rgb))
    keep[0] = True
    return colours[keep]


def _palette_id(colour: int, used: set[int]) -> int:
    """The id of a stroke colour (0xRRGGBB): its DAVIS palette index if free, else the smallest free id.

    The id is added to ``used``.
    """
    object_id = _PALETTE_IDS.get(colour)
    if object_id is None or object_id in used:
        object_id = next((i for i in range(1, MAX_OBJECTS + 1) if i not in used), None)
        if object_id is None:
            raise DemoError(f"more than {MAX_OBJECTS} objects painted: use fewer colours and layers")
    used.add(object_id)
    return object_id


def paint_labels(labels: np.ndarray) -> np.ndarray:
    """A label map as one editor layer: (H, W, 4) uint8, object k in PALETTE[k], a fill of alpha
    :data:`FILL_ALPHA` with an opaque outline (its pixels next to another label); background transparent."""
    labels = np.asarray(labels)
    layer = np.zeros((*labels.shape, 4), np.uint8)
    objects = (labels != 0) & (labels != VOID)
    edge = np.zeros(labels.shape, bool)
    edge[:-1] |= labels[:-1] != labels[1:]
    edge[1:] |= labels[1:] != labels[:-1]
    edge[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    edge[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    layer[..., :3] = PALETTE[labels]
    layer[..., 3] = np.where(objects, np.where(edge, 255, FILL_ALPHA), 0)
    layer[~objects, :3] = 0
    return layer


def editor_value(frame: np.ndarray, labels: np.ndarray | None = None) -> dict[str, Any]:
    """An editor value showing ``frame`` (H, W, 3) with ``labels`` (H, W) painted on one layer (or none)."""
    layers = [] if labels is None or not np.any((labels != 0) & (labels != VOID)) else [paint_labels(labels)]
    return {"background": frame, "layers": layers, "composite": None}


def editor_height(aspect: float) -> str:
    """The editor's CSS height for frames of ``aspect`` = width / height: the frame as wide as the editor's column
    (``100cqw``: the page makes that column a size container), but no more than 80% of the window's height, a
    phone's too."""
    return f"min(80vh, calc((100cqw - {EDITOR_SIDE_PX}px) / {aspect:.4f} + {EDITOR_BARS_PX}px))"


def describe_objects(labels: np.ndarray | None) -> str:
    """HTML line for the page: how many objects are painted, each with its colour swatch."""
    if labels is None:
        return "No frame loaded."
    ids = [int(i) for i in np.unique(labels) if i not in (0, VOID)]
    if not ids:
        return "**0 objects** yet: draw a box across each object, one colour per object, or upload a mask."
    swatches = " ".join(
        f'<span style="display:inline-block;width:0.9em;height:0.9em;background:#{r:02x}{g:02x}{b:02x};'
        f'vertical-align:middle;border-radius:2px"></span>&nbsp;{i}'
        for i, (r, g, b) in ((i, PALETTE[i]) for i in ids)
    )
    return f"**{len(ids)} object{'s' if len(ids) > 1 else ''}** found: {swatches}"
