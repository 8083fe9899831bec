"""The box and strokes tools: GrabCut on small synthetic frames, and how editor strokes become masks."""

from __future__ import annotations

import numpy as np
import pytest

from demo.grabcut import bounding_box, box_mask, stroke_mask
from demo.mask_tools import Sketch

H, W = 96, 128


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def scene() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A noisy frame: an orange ellipse (the object) beside a purple patch, on a teal background.

    Returns (frame (H, W, 3) uint8, object (H, W) bool, patch (H, W) bool)."""
    rng = np.random.default_rng(0)
    rows, cols = np.mgrid[:H, :W]
    thing = ((rows - 48) / 26) ** 2 + ((cols - 50) / 30) ** 2 <= 1
    patch = (rows >= 30) & (rows < 66) & (cols >= 80) & (cols < 110)
    frame = np.empty((H, W, 3), np.float64)
    frame[:] = (40, 140, 150)
    frame[thing] = (230, 140, 30)
    frame[patch] = (120, 40, 150)
    frame += rng.normal(0, 12, frame.shape)
    return np.clip(frame, 0, 255).astype(np.uint8), thing, patch


def test_box_mask_finds_the_object_inside_its_box_and_nothing_outside() -> None:
    frame, thing, _ = scene()
    x0, y0, x1, y1 = bounding_box(thing)
    box = (x0 - 4, y0 - 4, x1 + 4, y1 + 4)
    mask = box_mask(frame, box)
    assert mask.shape == (H, W) and mask.dtype == bool
    assert iou(mask, thing) > 0.9
    outside = np.ones((H, W), bool)
    outside[box[1] : box[3], box[0] : box[2]] = False
    assert not mask[outside].any()
    np.testing.assert_array_equal(box_mask(frame, box), mask)  # seeded: the same box gives the same mask


def test_a_box_too_small_to_hold_an_object_is_refused() -> None:
    frame, _, _ = scene()
    with pytest.raises(ValueError, match="the box is 3×40 px: drag across the whole object"):
        box_mask(frame, (10, 10, 13, 50))
    assert bounding_box(np.zeros((H, W), bool)) is None


def test_stroke_mask_drops_what_is_erased_and_adds_what_is_painted() -> None:
    frame, thing, patch = scene()
    too_big = thing | patch  # the object and its neighbour, as a loose box might give
    background = np.zeros((H, W), bool)
    background[45:50, 88:100] = True  # one eraser stroke across the neighbour
    refitted = stroke_mask(frame, too_big, np.zeros((H, W), bool), background)
    assert iou(refitted, thing) > 0.9 and not refitted[background].any()

    half = thing & (np.arange(W)[None, :] < 50)
    foreground = np.zeros((H, W), bool)
    foreground[46:50, 58:70] = True  # one brush stroke on the missing half
    grown = stroke_mask(frame, half, foreground, np.zeros((H, W), bool))
    assert iou(grown, thing) > 0.9 and grown[foreground].all()
    assert not stroke_mask(frame, np.zeros((H, W), bool), np.zeros((H, W), bool), background).any()


def diagonal(labels: np.ndarray, box: tuple[int, int, int, int], object_id: int) -> np.ndarray:
    """``labels`` with a 3-px brush stroke from the box's top-left corner to its bottom-right one."""
    out = labels.copy()
    x0, y0, x1, y1 = box
    for t in np.linspace(0, 1, 200):
        x, y = round(x0 + t * (x1 - 1 - x0)), round(y0 + t * (y1 - 1 - y0))
        out[max(0, y - 1) : y + 2, max(0, x - 1) : x + 2] = object_id
    return out


def test_the_box_tool_turns_a_diagonal_stroke_into_the_objects_mask() -> None:
    frame, thing, patch = scene()
    sketch = Sketch.of(0, np.zeros((H, W), np.uint8))
    x0, y0, x1, y1 = bounding_box(thing)
    labels, note = sketch.update(frame, diagonal(sketch.shown, (x0 - 3, y0 - 3, x1 + 3, y1 + 3), 1), "box")
    assert iou(labels == 1, thing) > 0.9 and set(np.unique(labels)) == {0, 1}
    assert note.startswith("cut in") and note.endswith(" s")
    assert sketch.shows(labels)  # the editor echoing the mask it was given changes nothing
    assert sketch.update(frame, labels, "box") == (None, "")

    px0, py0, px1, py1 = bounding_box(patch)
    second, _ = sketch.update(frame, diagonal(labels, (px0 - 3, py0 - 3, px1 + 3, py1 + 3), 2), "box")
    assert iou(second == 2, patch) > 0.9 and iou(second == 1, thing) > 0.9  # another colour: another object


def test_a_stroke_made_before_the_mask_arrived_counts_against_what_the_user_saw() -> None:
    frame, thing, patch = scene()
    sketch = Sketch.of(0, np.zeros((H, W), np.uint8))
    x0, y0, x1, y1 = bounding_box(thing)
    first = diagonal(sketch.shown, (x0 - 3, y0 - 3, x1 + 3, y1 + 3), 1)
    cut, _ = sketch.update(frame, first, "box")
    px0, py0, px1, py1 = bounding_box(patch)
    late = diagonal(first, (px0 - 3, py0 - 3, px1 + 3, py1 + 3), 2)  # drawn on the raw stroke, not on `cut`
    labels, _ = sketch.update(frame, late, "box")
    assert iou(labels == 1, thing) > 0.9 and iou(labels == 2, patch) > 0.9


def test_the_box_tool_explains_a_click_and_the_paint_tool_takes_strokes_as_they_are() -> None:
    frame, thing, _ = scene()
    sketch = Sketch.of(0, np.zeros((H, W), np.uint8))
    dot = sketch.shown.copy()
    dot[40:43, 40:43] = 1
    labels, note = sketch.update(frame, dot, "box")
    assert not labels.any() and note.startswith("⚠ the box is 3×3 px")
    painted = np.zeros((H, W), np.uint8)
    painted[thing] = 4
    assert sketch.update(frame, painted, "paint") == (None, "")
    np.testing.assert_array_equal(sketch.shown, painted)


def test_the_strokes_tool_refits_the_touched_object_only() -> None:
    frame, thing, patch = scene()
    start = np.zeros((H, W), np.uint8)
    start[thing | patch] = 1
    start[:10, :10] = 2  # another object, untouched
    sketch = Sketch.of(0, start)
    erased = start.copy()
    erased[45:50, 88:100] = 0
    labels, note = sketch.update(frame, erased, "strokes")
    assert labels is not None and iou(labels == 1, thing) > 0.9 and (labels[:10, :10] == 2).all()
    assert note.startswith("cut in")
    more = labels.copy()
    more[46:50, 40:44] = 0  # erasing in the object's own colour: that spot only, and the earlier stroke counts
    again, _ = sketch.update(frame, more, "strokes")
    again = more if again is None else again  # None: what the editor shows is the refitted mask
    assert not (again[46:50, 40:44] == 1).any() and not (again[45:50, 88:100] == 1).any()
    assert iou(again == 1, thing) > 0.85
