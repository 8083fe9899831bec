"""Tests for rgmp.io.overlay."""

from __future__ import annotations

import numpy as np
import pytest

from rgmp.io.masks import palette_array
from rgmp.io.overlay import contour_mask, cutout, cutout_rgba, overlay, side_by_side

PAL = palette_array().astype(int)


def scene() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    labels = np.zeros((40, 50), np.uint8)
    labels[5:15, 5:15] = 1  # 10x10 square
    labels[20:30, 10:40] = 2
    labels[20:30, 40:45] = 3  # touches object 2
    labels[35:38, 0:50] = 255  # void band
    return frame, labels


def test_overlay_shape_dtype_and_background_unchanged() -> None:
    frame, labels = scene()
    out = overlay(frame, labels)
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert out is not frame
    bg = (labels == 0) | (labels == 255)
    np.testing.assert_array_equal(out[bg], frame[bg])  # contours are drawn inside objects
    obj = ~bg
    assert (out[obj] != frame[obj]).any()


def test_overlay_fill_and_contour_colours() -> None:
    frame, labels = scene()
    out = overlay(frame, labels, alpha=0.5).astype(int)
    f = frame.astype(int)
    # interior of the square (2 px in from the edge): 50 % blend with palette colour 1
    inner = (slice(7, 13), slice(7, 13))
    np.testing.assert_allclose(out[inner], (f[inner] + PAL[1]) / 2, atol=1)
    # contour: 2 px ring in the brightened colour
    bright1 = PAL[1] + (255 - PAL[1]) // 2
    edge = contour_mask(labels)
    ring = np.zeros_like(edge)
    ring[5:15, 5:15] = True
    ring[7:13, 7:13] = False
    np.testing.assert_array_equal(edge[0:20, 0:20], ring[0:20, 0:20])
    assert (out[ring] == bright1).all()
    # where objects 2 and 3 touch, both get a contour in their own colour
    assert (out[25, 38:40] == PAL[2] + (255 - PAL[2]) // 2).all()
    assert (out[25, 40:42] == PAL[3] + (255 - PAL[3]) // 2).all()


def test_overlay_options() -> None:
    frame, labels = scene()
    np.testing.assert_array_equal(overlay(frame, labels, alpha=0.0, contour=False), frame)
    solid = overlay(frame, labels, alpha=1.0, contour=False)
    assert (solid[labels == 1] == PAL[1]).all()
    custom = np.zeros((4, 3), np.uint8)
    custom[1] = (10, 20, 30)
    out = overlay(frame, labels, alpha=1.0, contour=False, palette=custom)
    assert (out[labels == 1] == (10, 20, 30)).all()
    assert overlay(frame, np.zeros_like(labels)).tobytes() == frame.tobytes()
    with pytest.raises(ValueError):
        overlay(frame, labels, alpha=1.5)
    with pytest.raises(ValueError, match="shape"):
        overlay(frame, labels[:-1])
    with pytest.raises(ValueError, match="0..255"):
        overlay(frame, labels.astype(int) + 300)


def test_contour_width() -> None:
    labels = np.zeros((12, 12), np.uint8)
    labels[2:10, 2:10] = 4
    assert contour_mask(labels, width=1).sum() == 8 * 4 - 4
    assert contour_mask(labels, width=2).sum() == 8 * 8 - 4 * 4
    # the frame border is not a boundary
    full = np.ones((6, 6), np.uint8)
    assert not contour_mask(full).any()


def test_side_by_side() -> None:
    frame, labels = scene()
    ov = overlay(frame, labels)
    sbs = side_by_side(frame, ov)
    assert sbs.shape == (40, 100, 3) and sbs.dtype == np.uint8
    np.testing.assert_array_equal(sbs[:, :50], frame)
    np.testing.assert_array_equal(sbs[:, 50:], ov)
    with pytest.raises(ValueError):
        side_by_side(frame, ov[:, :-1])


def test_cutouts() -> None:
    frame, labels = scene()
    obj = (labels != 0) & (labels != 255)
    green = cutout(frame, labels)
    assert green.shape == frame.shape and green.dtype == np.uint8
    np.testing.assert_array_equal(green[obj], frame[obj])
    assert (green[~obj] == (0, 255, 0)).all()
    blue = cutout(frame, labels, background=(0, 0, 255))
    assert (blue[~obj] == (0, 0, 255)).all()

    rgba = cutout_rgba(frame, labels)
    assert rgba.shape == (40, 50, 4) and rgba.dtype == np.uint8
    np.testing.assert_array_equal(rgba[..., :3], frame)
    np.testing.assert_array_equal(rgba[..., 3], np.where(obj, 255, 0))


def reference_overlay(frame: np.ndarray, labels: np.ndarray, alpha: float) -> np.ndarray:
    """The overlay's definition, pixel by pixel: 8.8 fixed-point blend, then the 2-pixel inner contour."""
    h, w = labels.shape
    lab = labels.astype(int)

    def on_edge(y: int, x: int) -> bool:
        near = [(y + dy, x + dx) for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1))]
        return any(0 <= v < h and 0 <= u < w and lab[v, u] != lab[y, x] for v, u in near)

    obj = (lab != 0) & (lab != 255)
    edge = np.array([[obj[y, x] and on_edge(y, x) for x in range(w)] for y in range(h)])
    grown = edge.copy()
    grown[1:] |= edge[:-1]
    grown[:-1] |= edge[1:]
    grown[:, 1:] |= edge[:, :-1]
    grown[:, :-1] |= edge[:, 1:]
    grown &= obj
    a = int(round(alpha * 256))
    out = frame.astype(int)
    out[obj] = (out[obj] * (256 - a) + PAL[lab[obj]] * a + 128) >> 8
    out[grown] = PAL[lab[grown]] + (255 - PAL[lab[grown]]) // 2
    return out.astype(np.uint8)


@pytest.mark.parametrize("seed", range(6))
def test_overlay_matches_its_definition_on_random_scenes(seed: int) -> None:
    # Objects of random labels touching each other, void and the frame border; frames with padded rows (as
    # decoded video frames have) or reversed; labels of another integer type.
    rng = np.random.default_rng(seed)
    h, w = rng.integers(5, 40, 2)
    labels = rng.integers(0, 5, (h // 4 + 1, w // 4 + 1)).repeat(4, 0).repeat(4, 1)[:h, :w]
    labels[rng.random(labels.shape) < 0.03] = 255
    padded = rng.integers(0, 256, (h, w + 3, 3), dtype=np.uint8)
    for frame in (padded[:, :w], padded[:, :w][:, ::-1]):
        for alpha in (0.3, 0.5):
            expected = reference_overlay(frame, labels, alpha)
            np.testing.assert_array_equal(overlay(frame, labels.astype(np.int64), alpha=alpha), expected)
        obj = (labels != 0) & (labels != 255)
        np.testing.assert_array_equal(cutout(frame, labels)[obj], frame[obj])
        assert (cutout(frame, labels)[~obj] == (0, 255, 0)).all()
