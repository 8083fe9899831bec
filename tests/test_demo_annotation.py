"""The demo's editor ↔ label map conversion (numpy only, no server)."""

from __future__ import annotations

import numpy as np
import pytest

from demo.annotation import (
    BRUSH_COLOURS,
    FILL_ALPHA,
    PALETTE,
    describe_objects,
    editor_height,
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
    custom = layer((slice(0, 8), slice(0, 8), PINK))
    labels = labels_from_editor(value(layer((slice(10, 20), slice(0, 8), RED)), custom))
    assert labels[12, 2] == 1 and labels[2, 2] == 2  # red keeps palette id 1; pink, alone in its layer, gets 2
    assert set(np.unique(labels_from_editor(value(custom)))) == {0, 1}


def test_translucent_strokes_are_read_with_their_rounded_colours_and_mixes_join_the_upper_colour() -> None:
    """What the page's brush (opacity 0.5) sends: alpha 127, colour 128 read back as 129; where a green stroke
    crosses a red one the layer holds their mix, more green."""
    strokes = np.zeros((H, W, 4), np.uint8)
    strokes[0:10, 0:10] = (129, 0, 0, 127)
    strokes[0:10, 12:20] = (0, 129, 0, 127)
    strokes[5:10, 5:10] = (43, 85, 0, 191)  # green painted over red
    labels = labels_from_editor(value(strokes))
    assert (labels[0:5, 0:10] == 1).all() and (labels[5:10, 0:5] == 1).all()
    assert (labels[5:10, 5:10] == 2).all() and (labels[0:10, 12:20] == 2).all()
    assert set(np.unique(labels)) == {0, 1, 2}


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


def test_painted_layer_is_a_translucent_fill_with_an_opaque_outline_and_void_is_background() -> None:
    labels = np.zeros((H, W), np.uint8)
    labels[2:8, 2:8], labels[10:13, 10:13] = 3, 255
    painted = paint_labels(labels)
    assert (painted[2:8, 2:8, :3] == PALETTE[3]).all()
    assert (painted[3:7, 3:7, 3] == FILL_ALPHA).all()  # inside: the frame shows through
    outline = np.ones((6, 6), bool)
    outline[1:-1, 1:-1] = False
    assert (painted[2:8, 2:8, 3][outline] == 255).all()  # the object's edge stays visible
    assert (painted[10:13, 10:13, 3] == 0).all() and np.count_nonzero(painted[..., 3]) == 36


def test_brush_colours_are_the_first_palette_objects_and_translucent() -> None:
    assert BRUSH_COLOURS[0] == ("#800000", 0.5) and BRUSH_COLOURS[1] == ("#008000", 0.5) and len(BRUSH_COLOURS) == 8


def test_editor_height_follows_the_frames_aspect_within_the_window() -> None:
    assert editor_height(16 / 9) == "min(80vh, calc((100cqw - 70px) / 1.7778 + 90px))"
    assert "/ 0.5625 +" in editor_height(9 / 16)


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
