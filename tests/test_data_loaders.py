"""Dataset indexes on tiny fixtures written in each native layout (VOC, SBD, ECSSD, MSRA10K, folder, DAVIS,
YouTube-VOS). The writers are also used by the training tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from train.datasets import (
    DatasetError,
    DatasetSpec,
    read_image,
    read_labels,
    static_entries,
    video_entries,
)

SIZE = (48, 64)  # (H, W) of the fixture images


def scene(rng: np.random.Generator, boxes: list[tuple[int, int, int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """A noisy image with one saturated coloured box per object and its label map (object k = box k)."""
    h, w = SIZE
    image = rng.integers(60, 120, size=(h, w, 3), dtype=np.uint8)
    labels = np.zeros((h, w), np.uint8)
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    for k, (y0, x0, y1, x1) in enumerate(boxes, start=1):
        image[y0:y1, x0:x1] = colours[(k - 1) % 3]
        labels[y0:y1, x0:x1] = k
    return image, labels


def save_rgb(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path, quality=95) if path.suffix == ".jpg" else Image.fromarray(image).save(path)


def save_indexed(path: Path, labels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.fromarray(labels, mode="P")
    im.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0] + [200] * (256 * 3 - 9))
    im.save(path)


def save_grey(path: Path, binary: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((binary > 0).astype(np.uint8) * 255).save(path)


def moving_boxes(t: int, objects: int) -> list[tuple[int, int, int, int]]:
    """Boxes that drift right by 2 px per frame (object 2 sits below object 1)."""
    boxes = [(8, 6 + 2 * t, 28, 30 + 2 * t), (30, 20 + 2 * t, 44, 36 + 2 * t)]
    return boxes[:objects]


def write_davis(
    root: Path, year: str = "2016", sequences: tuple[str, ...] = ("alpha", "beta"), frames: int = 6, seed: int = 0
) -> Path:
    """DAVIS layout: 2016 grey 0/255 masks and a 480p image set; 2017 indexed masks (two objects, a void rim)."""
    rng = np.random.default_rng(seed)
    lines = []
    for seq in sequences:
        for t in range(frames):
            image, labels = scene(rng, moving_boxes(t, 1 if year == "2016" else 2))
            save_rgb(root / "JPEGImages" / "480p" / seq / f"{t:05d}.jpg", image)
            mask_path = root / "Annotations" / "480p" / seq / f"{t:05d}.png"
            if year == "2016":
                save_grey(mask_path, labels)
            else:
                labels[0, :] = 255
                save_indexed(mask_path, labels)
            lines.append(f"/JPEGImages/480p/{seq}/{t:05d}.jpg /Annotations/480p/{seq}/{t:05d}.png")
    image_set = root / "ImageSets" / ("480p/train.txt" if year == "2016" else "2017/train.txt")
    image_set.parent.mkdir(parents=True, exist_ok=True)
    image_set.write_text("\n".join(lines if year == "2016" else sequences) + "\n")
    return root


def write_voc(root: Path, count: int = 3, seed: int = 1) -> Path:
    """Pascal VOC 2012: JPEGImages, SegmentationObject (indexed, 255 void rims), ImageSets/Segmentation."""
    rng = np.random.default_rng(seed)
    ids = [f"2007_{i:06d}" for i in range(count)]
    for i in ids:
        image, labels = scene(rng, [(4, 4, 30, 34), (20, 30, 46, 60)])
        labels[4, 4:34] = 255
        save_rgb(root / "JPEGImages" / f"{i}.jpg", image)
        save_indexed(root / "SegmentationObject" / f"{i}.png", labels)
    (root / "ImageSets" / "Segmentation").mkdir(parents=True, exist_ok=True)
    (root / "ImageSets" / "Segmentation" / "train.txt").write_text("\n".join(ids[:-1]) + "\n")
    (root / "ImageSets" / "Segmentation" / "val.txt").write_text(ids[-1] + "\n")
    return root


def write_sbd(root: Path, count: int = 2, seed: int = 2) -> Path:
    """SBD: img/<id>.jpg, inst/<id>.mat holding a GTinst struct with a Segmentation instance map."""
    from scipy.io import savemat

    rng = np.random.default_rng(seed)
    ids = [f"2008_{i:06d}" for i in range(count)]
    for i in ids:
        image, labels = scene(rng, [(10, 10, 40, 40), (2, 44, 20, 62)])
        save_rgb(root / "img" / f"{i}.jpg", image)
        (root / "inst").mkdir(parents=True, exist_ok=True)
        savemat(root / "inst" / f"{i}.mat", {"GTinst": {"Segmentation": labels, "Categories": np.array([1, 2])}})
    (root / "train.txt").write_text("\n".join(ids) + "\n")
    return root


def write_salient(root: Path, kind: str, count: int = 3, seed: int = 3) -> Path:
    """ECSSD (images/, ground_truth_mask/), MSRA10K (Imgs/ with jpg+png side by side) or a generic folder."""
    rng = np.random.default_rng(seed)
    for n in range(count):
        image, labels = scene(rng, [(10, 12, 40, 50)])
        stem = f"{n:04d}"
        if kind == "ecssd":
            save_rgb(root / "images" / f"{stem}.jpg", image)
            save_grey(root / "ground_truth_mask" / f"{stem}.png", labels)
        elif kind == "msra10k":
            save_rgb(root / "MSRA10K_Imgs_GT" / "Imgs" / f"{stem}.jpg", image)
            save_grey(root / "MSRA10K_Imgs_GT" / "Imgs" / f"{stem}.png", labels)
        else:
            save_rgb(root / "images" / f"{stem}.jpg", image)
            save_grey(root / "masks" / f"{stem}.png", labels)
    return root


def write_ytvos(root: Path, seed: int = 4) -> Path:
    """YouTube-VOS train: train/JPEGImages/<vid>/*.jpg at every 5th frame index, train/Annotations the same."""
    rng = np.random.default_rng(seed)
    for vid in ("0a1b2c", "ff00ee"):
        for t in range(4):
            image, labels = scene(rng, moving_boxes(t, 2))
            save_rgb(root / "train" / "JPEGImages" / vid / f"{5 * t:05d}.jpg", image)
            save_indexed(root / "train" / "Annotations" / vid / f"{5 * t:05d}.png", labels)
        save_rgb(root / "train" / "JPEGImages" / vid / "00100.jpg", image)  # a frame without annotation
    return root


# --------------------------------------------------------------------------------------------------------------


def test_spec_parsing_and_errors(tmp_path: Path) -> None:
    spec = DatasetSpec.parse(f"voc:{tmp_path}:val")
    assert (spec.kind, spec.path, spec.split) == ("voc", tmp_path, "val")
    with pytest.raises(DatasetError, match="unknown dataset kind"):
        DatasetSpec.parse(f"coco:{tmp_path}")
    with pytest.raises(DatasetError, match="KIND:PATH"):
        DatasetSpec.parse("voc")
    with pytest.raises(DatasetError, match="not found"):
        static_entries(DatasetSpec.parse(f"ecssd:{tmp_path / 'missing'}"))


def test_voc_instances_and_void(tmp_path: Path) -> None:
    rows = static_entries(DatasetSpec.parse(f"voc:{write_voc(tmp_path)}"))
    assert [r.image.stem for r in rows] == ["2007_000000", "2007_000001"]  # train split only
    labels = read_labels(rows[0].mask, rows[0].labels)
    assert set(np.unique(labels)) == {0, 1, 2, 255}
    assert read_image(rows[0].image).shape == (*SIZE, 3)
    assert len(static_entries(DatasetSpec.parse(f"voc:{tmp_path}:val"))) == 1


def test_sbd_mat_instances(tmp_path: Path) -> None:
    rows = static_entries(DatasetSpec.parse(f"sbd:{write_sbd(tmp_path)}"))
    assert len(rows) == 2
    labels = read_labels(rows[1].mask, rows[1].labels)
    assert labels.shape == SIZE and set(np.unique(labels)) == {0, 1, 2}
    assert (labels == 1).sum() == 30 * 30


@pytest.mark.parametrize("kind", ["ecssd", "msra10k", "folder"])
def test_salient_layouts_are_binary(tmp_path: Path, kind: str) -> None:
    rows = static_entries(DatasetSpec.parse(f"{kind}:{write_salient(tmp_path, kind)}"))
    assert len(rows) == 3
    labels = read_labels(rows[0].mask, rows[0].labels)
    assert set(np.unique(labels)) == {0, 1} and (labels == 1).sum() == 30 * 38


def test_davis2016_videos_exclusion_and_static_frames(tmp_path: Path) -> None:
    spec = DatasetSpec.parse(f"davis2016:{write_davis(tmp_path, '2016')}")
    clips = video_entries(spec)
    assert [c.name for c in clips] == ["alpha", "beta"] and len(clips[0].frames) == 6
    assert [c.name for c in video_entries(spec, exclude=("alpha",))] == ["beta"]
    assert len(static_entries(spec, exclude=("alpha",))) == 6
    labels = read_labels(clips[0].masks[0], clips[0].labels)
    assert set(np.unique(labels)) == {0, 1}
    with pytest.raises(DatasetError, match="not in the dataset: gamma"):
        video_entries(spec, exclude=("gamma",))


def test_davis2017_multi_object_with_void(tmp_path: Path) -> None:
    clips = video_entries(DatasetSpec.parse(f"davis2017:{write_davis(tmp_path, '2017')}"))
    labels = read_labels(clips[1].masks[3], clips[1].labels)
    assert set(np.unique(labels)) == {0, 1, 2, 255}


def test_youtube_vos_uses_annotated_frames_only(tmp_path: Path) -> None:
    clips = video_entries(DatasetSpec.parse(f"ytvos:{write_ytvos(tmp_path)}"))
    assert [c.name for c in clips] == ["0a1b2c", "ff00ee"]
    assert [p.stem for p in clips[0].frames] == ["00000", "00005", "00010", "00015"]
    assert set(np.unique(read_labels(clips[0].masks[2], clips[0].labels))) == {0, 1, 2}


def test_static_kind_is_not_a_video_set(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not a video dataset"):
        video_entries(DatasetSpec.parse(f"ecssd:{write_salient(tmp_path, 'ecssd')}"))
