"""Tests for rgmp.io.masks: DAVIS palette, mask reading/writing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import CLIPS, require
from PIL import Image

from rgmp.io.masks import DAVIS_PALETTE, MaskError, object_ids, palette_array, read_mask, write_mask


def annotation(seq: str, name: str = "00000.png") -> Path:
    return require(CLIPS / "Annotations" / "480p" / seq / name)


def davis2017_color_map() -> np.ndarray:
    """Independent re-statement of davis2017-evaluation's ``color_map()`` (PASCAL VOC)."""
    cmap = np.zeros((256, 3), np.uint8)
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= int(bool(c & 1)) << (7 - j)
            g |= int(bool(c & 2)) << (7 - j)
            b |= int(bool(c & 4)) << (7 - j)
            c >>= 3
        cmap[i] = (r, g, b)
    return cmap


def davis2017_save_mask(mask: np.ndarray, path: Path) -> None:
    """What davis2017.utils.save_mask does."""
    img = Image.fromarray(mask.astype(np.uint8))
    img.putpalette(davis2017_color_map().flatten().tolist())
    img.save(path)


# --------------------------------------------------------------------------- palette


def test_palette_values() -> None:
    assert isinstance(DAVIS_PALETTE, bytes) and len(DAVIS_PALETTE) == 768
    pal = palette_array()
    assert pal.shape == (256, 3) and pal.dtype == np.uint8
    assert pal[:6].tolist() == [
        [0, 0, 0],
        [128, 0, 0],
        [0, 128, 0],
        [128, 128, 0],
        [0, 0, 128],
        [128, 0, 128],
    ]
    assert pal[255].tolist() == [224, 224, 192]
    np.testing.assert_array_equal(pal, davis2017_color_map())
    assert len({tuple(c) for c in pal.tolist()}) == 256  # distinct: colour -> index is well defined


def test_palette_matches_official_file() -> None:
    # rollerblade masks were written by the official davis2017 save_mask: full palette equal.
    with Image.open(annotation("rollerblade")) as im:
        assert im.mode == "P"
        assert bytes(im.getpalette()) == DAVIS_PALETTE
    # bike/00000.png (copied from Cutie) agrees on entries 0..8 only; from entry 9 on its
    # palette is another variant (e.g. 191 where VOC has 192). It uses ids 0..2.
    with Image.open(annotation("bike")) as im:
        assert bytes(im.getpalette()[: 9 * 3]) == DAVIS_PALETTE[: 9 * 3]


def test_palette_array_pads_short_palettes() -> None:
    pal = palette_array(bytes([1, 2, 3, 4, 5, 6]))
    assert pal.shape == (256, 3)
    assert pal[:2].tolist() == [[1, 2, 3], [4, 5, 6]] and not pal[2:].any()


# --------------------------------------------------------------------------- read / write


def test_write_read_roundtrip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 6, (37, 51)).astype(np.uint8)
    labels[0, :5] = 255  # void survives
    path = tmp_path / "out" / "00000.png"  # parent folder created
    write_mask(path, labels)
    back = read_mask(path)
    assert back.dtype == np.uint8 and back.shape == (37, 51)
    np.testing.assert_array_equal(back, labels)
    with Image.open(path) as im:
        assert im.mode == "P" and bytes(im.getpalette()) == DAVIS_PALETTE
    assert [p.name for p in path.parent.iterdir()] == ["00000.png"]  # no temp files left


def test_write_is_byte_identical_to_davis2017_save_mask(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 4, (30, 40)).astype(np.int64)
    write_mask(tmp_path / "ours.png", labels)
    davis2017_save_mask(labels, tmp_path / "official.png")
    assert (tmp_path / "ours.png").read_bytes() == (tmp_path / "official.png").read_bytes()


def test_a_faster_compression_level_keeps_the_pixels_and_palette(tmp_path: Path) -> None:
    labels = np.zeros((120, 200), np.uint8)
    labels[20:80, 30:120], labels[60:110, 100:190] = 1, 2
    write_mask(tmp_path / "official.png", labels)
    write_mask(tmp_path / "fast.png", labels, compress_level=1)
    assert (tmp_path / "fast.png").read_bytes() != (tmp_path / "official.png").read_bytes()
    assert np.array_equal(read_mask(tmp_path / "fast.png"), labels)
    with Image.open(tmp_path / "fast.png") as im:
        assert im.mode == "P" and bytes(im.getpalette()) == DAVIS_PALETTE
    with pytest.raises(MaskError, match="compress_level must be in 0..9, got 10"):
        write_mask(tmp_path / "bad.png", labels, compress_level=10)


def test_resave_official_file_byte_identical(tmp_path: Path) -> None:
    src = annotation("rollerblade")
    labels = read_mask(src)
    assert labels.shape == (480, 854) and object_ids(labels) == [1]
    write_mask(tmp_path / "00000.png", labels)
    assert (tmp_path / "00000.png").read_bytes() == src.read_bytes()


def test_resave_bike_mask(tmp_path: Path) -> None:
    src = annotation("bike")
    labels = read_mask(src)
    assert labels.shape == (480, 854) and labels.dtype == np.uint8
    assert object_ids(labels) == [1, 2]
    out = tmp_path / "00000.png"
    write_mask(out, labels)
    with Image.open(src) as a, Image.open(out) as b:
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))  # same indices
        assert bytes(b.getpalette()) == DAVIS_PALETTE
        # the colours of the ids present are the same in both files
        assert a.getpalette()[:9] == b.getpalette()[:9]
    np.testing.assert_array_equal(read_mask(out), labels)


def test_overwrite_existing(tmp_path: Path) -> None:
    path = tmp_path / "m.png"
    write_mask(path, np.zeros((4, 4), np.uint8))
    write_mask(path, np.ones((4, 4), bool))
    np.testing.assert_array_equal(read_mask(path), np.ones((4, 4)))


def test_gray_binary_masks_become_0_1(tmp_path: Path) -> None:
    m = np.zeros((10, 12), np.uint8)
    m[2:6, 3:9] = 255
    m[6, 3:9] = 128  # anti-aliased edge still object
    Image.fromarray(m).save(tmp_path / "l.png")
    expected = (m > 0).astype(np.uint8)
    np.testing.assert_array_equal(read_mask(tmp_path / "l.png"), expected)

    Image.fromarray(m > 0).save(tmp_path / "one.png")  # mode '1'
    np.testing.assert_array_equal(read_mask(tmp_path / "one.png"), expected)

    Image.fromarray(np.repeat(m[..., None], 3, axis=2)).save(tmp_path / "rgb.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "rgb.png"), expected)

    Image.fromarray(np.dstack([m, m, m, np.full_like(m, 255)])).save(tmp_path / "rgba.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "rgba.png"), expected)

    Image.fromarray(m).save(tmp_path / "l.jpg", quality=95)  # JPEG noise: object wherever > 0
    assert read_mask(tmp_path / "l.jpg")[3:5, 4:8].all()


def test_dark_gray_label_map_kept(tmp_path: Path) -> None:
    m = np.array([[0, 1, 2], [2, 1, 0]], np.uint8)
    Image.fromarray(m).save(tmp_path / "l.png")  # 'L' label map, not binary
    np.testing.assert_array_equal(read_mask(tmp_path / "l.png"), m)


def test_palette_colour_rgb_mask(tmp_path: Path) -> None:
    labels = np.zeros((8, 10), np.uint8)
    labels[1:4, 1:4] = 1
    labels[4:7, 5:9] = 2
    labels[0, 9] = 17
    rgb = palette_array()[labels]
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "rgb.png"), labels)

    rgba = np.dstack([rgb, np.full(labels.shape, 255, np.uint8)])
    rgba[7, :] = (200, 10, 30, 0)  # fully transparent pixels are background
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    expected = labels.copy()
    expected[7, :] = 0
    np.testing.assert_array_equal(read_mask(tmp_path / "rgba.png"), expected)


def test_non_palette_colour_mask_refused(tmp_path: Path) -> None:
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[1, 1] = (200, 10, 30)
    Image.fromarray(rgb).save(tmp_path / "c.png")
    with pytest.raises(MaskError, match="outside the DAVIS palette"):
        read_mask(tmp_path / "c.png")


def test_read_errors(tmp_path: Path) -> None:
    with pytest.raises(MaskError, match="not found"):
        read_mask(tmp_path / "missing.png")
    (tmp_path / "junk.png").write_text("not a png")
    with pytest.raises(MaskError, match="cannot read") as err:
        read_mask(tmp_path / "junk.png")
    assert "\n" not in str(err.value)
    with pytest.raises(MaskError, match="not found"):
        read_mask(tmp_path)  # a folder


def test_write_errors(tmp_path: Path) -> None:
    with pytest.raises(MaskError, match="0..255"):
        write_mask(tmp_path / "a.png", np.full((2, 2), 300, np.int32))
    with pytest.raises(MaskError, match="0..255"):
        write_mask(tmp_path / "a.png", np.full((2, 2), -1, np.int32))
    with pytest.raises(MaskError, match="2-D"):
        write_mask(tmp_path / "a.png", np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(MaskError, match="integer"):
        write_mask(tmp_path / "a.png", np.zeros((2, 2), np.float32))
    assert list(tmp_path.iterdir()) == []


def test_object_ids() -> None:
    assert object_ids(np.array([[0, 3, 255], [1, 3, 0]])) == [1, 3]
    assert object_ids(np.zeros((3, 3), np.uint8)) == []
