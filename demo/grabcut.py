"""A first mask in about a second, from a box or a few strokes, fitted to the frame's own colours and edges.

The cut is OpenCV's GrabCut (Rother, Kolmogorov and Blake, SIGGRAPH 2004): a colour mixture for the object and
one for its surroundings, and a graph cut that follows strong edges between them. No network is involved.

* :func:`box_mask`: everything outside the box is background; inside, GrabCut decides.
* :func:`stroke_mask`: refit an object's mask after strokes: painted pixels are surely the object, erased ones
  surely not, and the rest of the object's neighbourhood is decided again. The first guess is the mask so far,
  less the region of the erased colours that an eraser stroke touches, plus the region of the painted colours
  that a brush stroke touches: one stroke across a wrong part takes it out, whatever its share of the colours.

GrabCut runs on a crop around the box or object (plus a margin that supplies the background colours), shrunk so
that its long side is at most :data:`WORK_SIDE` pixels, and the result is scaled back to the frame.
"""

from __future__ import annotations

import cv2
import numpy as np

WORK_SIDE = 600
"""Long side, in pixels, of the crop GrabCut works on (larger crops are shrunk)."""
ITERATIONS = 5
"""GrabCut iterations (colour mixtures re-estimated, graph cut again)."""
MIN_BOX_SIDE = 6
"""A box narrower or lower than this many pixels is a click, not a box."""

_STROKE_COLOURS = 3
"""Colours (k-means centres) a stroke's pixels are summarised by."""
_COLOUR_TOLERANCE = 10.0
"""CIELAB distance within which a pixel's colour is like a stroke colour (plus twice the stroke's own spread)."""
_MIN_SAMPLES = 16
"""GrabCut fits 5-component colour mixtures: each side needs at least a few pixels."""

Box = tuple[int, int, int, int]
"""(x0, y0, x1, y1) in pixels: columns x0..x1-1 and rows y0..y1-1."""


def bounding_box(mask: np.ndarray) -> Box | None:
    """The box around the True pixels of an (H, W) mask, or None when there are none."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def box_mask(frame: np.ndarray, box: Box) -> np.ndarray:
    """The object inside ``box``.

    Args:
        frame: (H, W, 3) uint8 RGB.
        box: the object's box (clipped to the frame).

    Returns:
        (H, W) bool mask, False outside the box.

    Raises:
        ValueError: the box is smaller than :data:`MIN_BOX_SIDE` on a side once clipped.
    """
    height, width = frame.shape[:2]
    x0, y0, x1, y1 = max(0, box[0]), max(0, box[1]), min(width, box[2]), min(height, box[3])
    if x1 - x0 < MIN_BOX_SIDE or y1 - y0 < MIN_BOX_SIDE:
        raise ValueError(f"the box is {max(0, x1 - x0)}×{max(0, y1 - y0)} px: drag across the whole object")
    crop = _crop_around((x0, y0, x1, y1), height, width)
    seeds = np.full((crop[3] - crop[1], crop[2] - crop[0]), cv2.GC_BGD, np.uint8)
    seeds[y0 - crop[1] : y1 - crop[1], x0 - crop[0] : x1 - crop[0]] = cv2.GC_PR_FGD
    mask = np.zeros((height, width), bool)
    mask[crop[1] : crop[3], crop[0] : crop[2]] = _grabcut(frame[crop[1] : crop[3], crop[0] : crop[2]], seeds)
    mask[:y0], mask[y1:], mask[:, :x0], mask[:, x1:] = False, False, False, False
    return mask


def stroke_mask(frame: np.ndarray, mask: np.ndarray, foreground: np.ndarray, background: np.ndarray) -> np.ndarray:
    """An object's mask refitted after strokes.

    Args:
        frame: (H, W, 3) uint8 RGB.
        mask: (H, W) bool, the object's mask so far (may be empty).
        foreground: (H, W) bool, pixels painted as the object.
        background: (H, W) bool, pixels erased from the object (wins over ``foreground`` where both are set).

    Returns:
        (H, W) bool mask: True on ``foreground``, False on ``background``; elsewhere near the object, GrabCut's
        decision; far from it, False.
    """
    height, width = frame.shape[:2]
    box = bounding_box(mask | foreground)
    if box is None:
        return np.zeros((height, width), bool)
    crop = _crop_around(box, height, width)
    window = np.s_[crop[1] : crop[3], crop[0] : crop[2]]
    known_object, known_background = foreground[window] & ~background[window], background[window]
    lab = cv2.cvtColor(np.ascontiguousarray(frame[window]), cv2.COLOR_RGB2LAB).astype(np.float32)
    guess = mask[window].copy()
    guess |= _similar_region(lab, known_object, ~guess)
    guess &= ~_similar_region(lab, known_background, guess)
    seeds = np.where(guess | known_object, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
    border = np.ones(seeds.shape, bool)  # the crop's edge is background unless the frame ends there
    border[1:-1, 1:-1] = False
    border[:, 0] &= crop[0] > 0
    border[:, -1] &= crop[2] < width
    border[0, :] &= crop[1] > 0
    border[-1, :] &= crop[3] < height
    seeds[border] = cv2.GC_BGD
    seeds[known_object] = cv2.GC_FGD
    seeds[known_background] = cv2.GC_BGD
    out = np.zeros((height, width), bool)
    out[window] = _grabcut(frame[window], seeds)
    out[window] &= ~known_background
    return out


def _similar_region(lab: np.ndarray, strokes: np.ndarray, within: np.ndarray) -> np.ndarray:
    """The pixels of ``within`` connected to ``strokes`` through colours like the strokes' own.

    Args:
        lab: (h, w, 3) float32 CIELAB image.
        strokes: (h, w) bool stroke pixels.
        within: (h, w) bool pixels the region may take.

    Returns:
        (h, w) bool region; empty without strokes, and when it would take more than half of ``within`` (the
        strokes' colours are the object's, or the background's, at large: the strokes alone then count).
    """
    if not strokes.any() or not within.any():
        return np.zeros(strokes.shape, bool)
    samples = lab[strokes]
    count = min(_STROKE_COLOURS, len(samples))
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 10, 1.0)
    cv2.setRNGSeed(0)
    _, assigned, centres = cv2.kmeans(samples, count, None, criteria, 1, cv2.KMEANS_PP_CENTERS)
    spread = np.linalg.norm(samples - centres[assigned.ravel()], axis=1)
    tolerance = _COLOUR_TOLERANCE + 2 * float(np.median(spread))
    distance = np.linalg.norm(lab[:, :, None, :] - centres[None, None], axis=3).min(axis=2)
    similar = ((distance <= tolerance) & within) | strokes
    _, components = cv2.connectedComponents(similar.astype(np.uint8), connectivity=8)
    touched = np.unique(components[strokes])
    region = np.isin(components, touched[touched > 0]) & within
    return region if region.sum() <= within.sum() / 2 else np.zeros(strokes.shape, bool)


def _crop_around(box: Box, height: int, width: int) -> Box:
    """``box`` grown by a margin of a quarter of its size (at least 16 px) on each side, clipped to the frame."""
    x0, y0, x1, y1 = box
    margin_x, margin_y = max(16, (x1 - x0) // 4), max(16, (y1 - y0) // 4)
    return max(0, x0 - margin_x), max(0, y0 - margin_y), min(width, x1 + margin_x), min(height, y1 + margin_y)


def _grabcut(image: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """GrabCut of an (h, w, 3) RGB crop from (h, w) ``cv2.GC_*`` seeds, at most :data:`WORK_SIDE` px a side.

    Returns:
        (h, w) bool: the pixels GrabCut puts in the object (definite seeds are kept as given).
    """
    height, width = seeds.shape
    scale = min(1.0, WORK_SIDE / max(height, width))
    small = (max(1, round(width * scale)), max(1, round(height * scale)))
    work = np.ascontiguousarray(image[..., ::-1])  # OpenCV's colour order
    labels = seeds.copy()
    if scale < 1.0:
        work = cv2.resize(work, small, interpolation=cv2.INTER_AREA)
        labels = cv2.resize(labels, small, interpolation=cv2.INTER_NEAREST)
    inside = (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)
    if min(inside.sum(), (~inside).sum()) < _MIN_SAMPLES:  # no colours to compare: keep the seeds' guess
        return (seeds == cv2.GC_FGD) | (seeds == cv2.GC_PR_FGD)
    background_model, object_model = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)  # GrabCut starts its colour mixtures from k-means: the same input gives the same mask
    cv2.grabCut(work, labels, None, background_model, object_model, ITERATIONS, cv2.GC_INIT_WITH_MASK)
    inside = ((labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)).astype(np.float32)
    if scale < 1.0:
        inside = cv2.resize(inside, (width, height), interpolation=cv2.INTER_LINEAR)
    out = inside >= 0.5
    out[seeds == cv2.GC_FGD] = True
    out[seeds == cv2.GC_BGD] = False
    return out
