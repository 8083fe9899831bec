"""Mask exports: the COCO run-length encoding decodes (pycocotools) to exactly the palette PNGs, alpha mattes are the
probabilities (±1/255); ``segment --format`` writes what it is asked for (tiny seeded model, synthetic clips)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools.coco import COCO

from rgmp.cli import main
from rgmp.io.exports import coco_annotations, parse_formats
from rgmp.io.masks import read_mask, write_mask

pytestmark = [
    pytest.mark.usefixtures("one_torch_thread"),
    pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning"),  # pycocotools' decode, numpy 2
]

FRAMES, H, W = 5, 64, 96
OBJECTS = {1: (1,), 3: (1, 2, 4)}  # object ids of the 1- and 3-object clips (ids need not be consecutive)


def make_clip(folder: Path, ids: tuple[int, ...]) -> tuple[Path, Path]:
    """Frames of coloured rectangles drifting right (PNG, lossless) and the label map of frame 0."""
    rng = np.random.default_rng(len(ids))
    frames = folder / "frames"
    frames.mkdir(parents=True)
    labels = np.zeros((H, W), np.uint8)
    for t in range(FRAMES):
        frame = (rng.random((H, W, 3)) * 40).astype(np.uint8)
        for n, object_id in enumerate(ids):
            top, left = 6 + 18 * n, 8 + 25 * n + 3 * t
            frame[top : top + 14, left : left + 20] = (200 - 50 * n, 60 + 60 * n, 220)
            if t == 0:
                labels[top : top + 14, left : left + 20] = object_id
        Image.fromarray(frame).save(frames / f"{t:05d}.png")
    write_mask(folder / "mask.png", labels)
    return frames, folder / "mask.png"


def coco_labels(path: Path) -> dict[str, np.ndarray]:
    """Label maps decoded from a COCO file with pycocotools, by image file stem."""
    coco = COCO(str(path))
    out = {}
    for image in coco.dataset["images"]:
        labels = np.zeros((image["height"], image["width"]), np.uint8)
        for annotation in coco.loadAnns(coco.getAnnIds(imgIds=image["id"])):
            mask = coco.annToMask(annotation).astype(bool)
            assert not labels[mask].any()  # objects do not overlap
            labels[mask] = annotation["instance_id"]
            rows, cols = np.nonzero(mask)
            box = [cols.min(), rows.min(), cols.max() - cols.min() + 1, rows.max() - rows.min() + 1]
            assert annotation["bbox"] == [float(v) for v in box] and annotation["area"] == mask.sum()
            assert annotation["category_id"] == annotation["instance_id"] and annotation["video_id"] == 1
        out[Path(image["file_name"]).stem] = labels
    return out


@pytest.mark.parametrize("objects", [1, 3])
def test_coco_decodes_to_the_png_label_maps_and_alpha_mattes_are_the_probabilities(tmp_path, weights, objects):
    ids = OBJECTS[objects]
    frames, mask = make_clip(tmp_path, ids)
    out = tmp_path / "out"
    args = ["--frames", str(frames), "--mask", str(mask), "--out", str(out), "--weights", str(weights)]
    options = ["--device", "cpu", "--size", "0", "--adapt", "off", "--format", "alpha,png,coco", "--save-probs"]
    code = main(["segment", *args, *options])
    assert code == 0
    decoded = coco_labels(out / "coco.json")
    assert sorted(decoded) == [f"{t:05d}" for t in range(FRAMES)]
    for name, labels in decoded.items():
        np.testing.assert_array_equal(labels, read_mask(out / f"{name}.png"))
    np.testing.assert_array_equal(decoded["00000"], read_mask(mask))  # all objects present on frame 0
    coco = COCO(str(out / "coco.json"))
    assert sorted(coco.getCatIds()) == list(ids) and coco.dataset["videos"][0]["name"] == "frames"
    assert [image["frame_id"] for image in coco.dataset["images"]] == list(range(FRAMES))

    assert sorted(p.name for p in (out / "alpha").iterdir()) == sorted(str(k) for k in ids)
    for t in range(FRAMES):
        probs = np.load(out / f"{t:05d}.npy").astype(np.float32)  # float16: rounding below 2.5e-4
        for channel, object_id in enumerate(ids, start=1):
            matte = Image.open(out / "alpha" / str(object_id) / f"{t:05d}.png")
            assert matte.mode == "L" and matte.size == (W, H)
            assert np.abs(np.asarray(matte) / 255.0 - probs[channel]).max() <= 1 / 255
    assert not list(tmp_path.glob(".out.partial-*"))


def test_only_the_formats_asked_for_are_written_and_a_second_run_replaces_the_first(tmp_path, weights):
    frames, mask = make_clip(tmp_path, (1, 2))
    out = tmp_path / "out"
    args = ["--frames", str(frames), "--mask", str(mask), "--out", str(out), "--weights", str(weights)]
    assert main(["segment", *args, "--device", "cpu", "--size", "0", "--adapt", "off", "--format", "coco"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["coco.json"]
    (out / "alpha" / "9").mkdir(parents=True)  # an earlier run's object 9
    assert main(["segment", *args, "--device", "cpu", "--size", "0", "--adapt", "off", "--format", "alpha"]) == 0
    assert sorted(p.name for p in (out / "alpha").iterdir()) == ["1", "2"]


def test_coco_annotations_leave_out_absent_objects():
    labels = np.zeros((6, 8), np.uint8)
    labels[1:3, 2:7] = 3
    labels[5, 0] = 1
    annotations = coco_annotations(labels, [1, 2, 3])
    assert [a["instance_id"] for a in annotations] == [1, 3]  # object 2 is absent from this frame
    assert [a["bbox"] for a in annotations] == [[0.0, 5.0, 1.0, 1.0], [2.0, 1.0, 5.0, 2.0]]
    assert [a["area"] for a in annotations] == [1, 10]
    assert annotations[1]["segmentation"]["size"] == [6, 8] and isinstance(
        annotations[1]["segmentation"]["counts"], str
    )
    assert coco_annotations(np.zeros((6, 8), np.uint8), [1]) == []


def test_formats_are_parsed_in_a_fixed_order_and_unknown_ones_refused(capsys):
    assert parse_formats("coco, png,coco") == ("png", "coco")
    assert parse_formats("ALPHA") == ("alpha",)
    for bad in ("jpg", "", ","):
        with pytest.raises(ValueError, match="png, coco, alpha"):
            parse_formats(bad)
    with pytest.raises(SystemExit) as exit_info:
        main(["segment", "--video", "a.mp4", "--mask", "m.png", "--out", "o", "--format", "png,tiff"])
    assert exit_info.value.code == 2 and "png, coco, alpha" in capsys.readouterr().err
