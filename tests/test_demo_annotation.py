"""The demo's editor ↔ label map conversion (numpy only, no server)."""

from __future__ import annotations

import numpy as np
import pytest

from demo.annotation import (
    BRUSH_COLOURS,
    PALETTE,
    describe_objects,
    editor_value,
    labels_from_editor,
    paint_labels,
)
from demo.errors import DemoError

H, W = 24, 32


def frame() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8)


def layer(*strokes: tuple[slice, slice, tuple[int, int, int]]) -> np.ndarray:
    """A transparent (H, W, 4) layer with opaque rectangles of the given colours."""
    out = np.zeros((H, W, 4), np.uint8)
    for rows, cols, colour in strokes:
        out[rows, cols, :3] = colour
        out[rows, cols, 3] = 255
    return out


def value(*layers: np.ndarray) -> dict:
    return {"background": np.dstack([frame(), np.full((H, W), 255, np.uint8)]), "layers": list(layers)}


RED, GREEN = tuple(PALETTE[1]), tuple(PALETTE[2])
PINK = (255, 0, 255)  # not a DAVIS palette colour


def test_two_colours_in_one_layer_are_two_objects_with_their_palette_ids() -> None:
    labels = labels_from_editor(value(layer((slice(0, 5), slice(0, 5), GREEN), (slice(10, 15), slice(0, 5), RED))))
    assert labels.dtype == np.uint8 and labels.shape == (H, W)
    assert (labels[0:5, 0:5] == 2).all() and (labels[10:15, 0:5] == 1).all()
    assert set(np.unique(labels)) == {0, 1, 2}


def test_the_same_colour_on_two_layers_is_two_objects_and_later_layers_paint_over() -> None:
    first = layer((slice(0, 10), slice(0, 10), RED))
    second = layer((slice(5, 15), slice(5, 15), RED))
    labels = labels_from_editor(value(first, second))
    assert labels[0, 0] == 1
    assert labels[12, 12] == 2 and labels[6, 6] == 2  # second layer on top where they overlap
    assert set(np.unique(labels)) == {0, 1, 2}


def test_custom_colours_get_the_smallest_free_ids_after_palette_colours() -> None:
    labels = labels_from_editor(value(layer((slice(0, 8), slice(0, 8), PINK), (slice(10, 20), slice(0, 8), RED))))
    assert labels[12, 2] == 1  # red keeps palette id 1 even though pink covers more pixels
    assert labels[2, 2] == 2


def test_erased_pixels_are_background_and_specks_join_their_stroke() -> None:
    strokes = layer((slice(0, 20), slice(0, 20), RED))
    strokes[5:10, 5:10, 3] = 0  # erased
    strokes[0, 0, :3] = (127, 0, 0)  # one anti-aliased pixel
    labels = labels_from_editor(value(strokes))
    assert (labels[5:10, 5:10] == 0).all()
    assert labels[0, 0] == 1
    assert set(np.unique(labels)) == {0, 1}


def test_round_trip_keeps_object_ids() -> None:
    labels = np.zeros((H, W), np.uint8)
    labels[2:6, 2:6], labels[10:14, 3:9], labels[15:20, 20:30] = 1, 2, 5
    loaded = editor_value(frame(), labels)
    assert loaded["background"].shape == (H, W, 3) and len(loaded["layers"]) == 1
    np.testing.assert_array_equal(labels_from_editor(loaded), labels)
    assert editor_value(frame(), np.zeros((H, W), np.uint8))["layers"] == []


def test_painted_layer_is_opaque_on_objects_only_and_void_is_background() -> None:
    labels = np.zeros((H, W), np.uint8)
    labels[0:4, 0:4], labels[5:8, 5:8] = 3, 255
    painted = paint_labels(labels)
    assert (painted[0:4, 0:4, 3] == 255).all() and (painted[0:4, 0:4, :3] == PALETTE[3]).all()
    assert (painted[5:8, 5:8, 3] == 0).all() and painted[..., 3].sum() == 16 * 255


def test_brush_colours_are_the_first_palette_objects() -> None:
    assert BRUSH_COLOURS[0] == "#800000" and BRUSH_COLOURS[1] == "#008000" and len(BRUSH_COLOURS) == 8


def test_bad_editor_values_raise_readable_errors() -> None:
    with pytest.raises(DemoError, match="upload a video"):
        labels_from_editor(None)
    with pytest.raises(DemoError, match="upload a video"):
        labels_from_editor({"background": None, "layers": []})
    with pytest.raises(DemoError, match="layer 1 is 10×5 but the frame is 32×24"):
        labels_from_editor(value(np.zeros((5, 10, 4), np.uint8)))


def test_describe_objects_counts_ids() -> None:
    labels = np.zeros((H, W), np.uint8)
    assert "0 objects" in describe_objects(labels)
    labels[0, 0], labels[1, 1], labels[2, 2] = 1, 4, 255
    text = describe_objects(labels)
    assert "2 objects" in text and "#800000" in text and "&nbsp;4" in text
    assert "1 object**" in describe_objects(labels == 1)
    assert describe_objects(None) == "No frame loaded."
