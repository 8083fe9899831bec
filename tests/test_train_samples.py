"""Invariants of the training samples: stage-1 pairs (Strategies 1 and 2, occlusion) and stage-2 clips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_data_loaders import write_davis, write_salient, write_voc

from train.datasets import DatasetSpec, static_entries, video_entries
from train.samples import ClipGenerator, ClipOptions, PairGenerator, PairOptions, clip_indices, object_view
from train.transforms import ColourRange, deform_mask, keep_inside, warp, warp_clip

NO_COLOUR = ColourRange()


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("static")
    images = static_entries(DatasetSpec.parse(f"voc:{write_voc(root / 'voc', count=4)}"))
    salient = static_entries(DatasetSpec.parse(f"ecssd:{write_salient(root / 'ecssd', 'ecssd')}"))
    return images, salient


def test_object_view_keeps_half_of_the_object() -> None:
    """Random rotation and large offsets, yet at least 50% of the object stays in the crop."""
    rng = np.random.default_rng(0)
    for _ in range(50):
        mask = np.zeros((120, 160), np.uint8)
        y, x = rng.integers(0, 100), rng.integers(0, 140)
        bh, bw = rng.integers(5, 60), rng.integers(5, 80)
        mask[y : y + bh, x : x + bw] = 1
        scale = rng.uniform(0.3, 0.9) * 64 / max(bh, bw)  # the box fits the crop, as the generators ensure
        matrix = object_view(mask, (64, 64), rng, scale=scale, rotation=45, jitter=0.6, min_inside=0.5)
        _, out = warp(None, mask, matrix, (64, 64))
        assert out.sum() >= 0.5 * mask.sum() * scale**2 * 0.9  # 10% slack for nearest-neighbour resampling


def test_pairs_are_binary_same_object_and_guidance_differs(sources) -> None:
    images, salient = sources
    generator = PairGenerator(images, salient, PairOptions(size=(64, 64), colour=NO_COLOUR, rotation=0))
    strategies, occluded = set(), False
    for seed in range(40):
        s = generator(np.random.default_rng(seed))
        assert s.reference.shape == (3, 64, 64) and s.frames.shape == (1, 3, 64, 64)
        assert set(np.unique(s.reference_mask)) <= {0.0, 1.0} and s.reference_mask.sum() > 0
        assert set(np.unique(s.labels)) <= {0, 1, 255} and (s.labels == 1).sum() > 0
        assert set(np.unique(s.guidance)) <= {0.0, 1.0}
        assert not np.array_equal(s.guidance[0], (s.labels[0] == 1).astype(np.float32))
        # the same saturated object is under the mask in both frames (fixture objects are pure R, G or B)
        ref_colour = _dominant_channel(s.reference, s.reference_mask[0] > 0)
        tgt_colour = _dominant_channel(s.frames[0], s.labels[0] == 1)
        assert ref_colour == tgt_colour
        strategies.add(s.strategy)
        occluded |= s.occluded
    assert strategies == {1, 2}
    assert occluded, "no Strategy-2 sample had the background's object occluding the pasted one"


def _dominant_channel(image: np.ndarray, where: np.ndarray) -> int:
    return int(np.argmax(image[:, where].mean(axis=1)))


def test_strategy1_only_and_void_is_kept(sources) -> None:
    images, _ = sources
    generator = PairGenerator(images, None, PairOptions(size=(64, 64), strategy2=0.0))
    samples = [generator(np.random.default_rng(seed)) for seed in range(10)]
    assert {s.strategy for s in samples} == {1}
    assert any((s.labels == 255).any() for s in samples)  # VOC void rims survive as "ignore"


def test_same_seed_same_sample(sources) -> None:
    generator = PairGenerator(*sources, PairOptions(size=(64, 64)))
    a, b = generator(np.random.default_rng([0, 7])), generator(np.random.default_rng([0, 7]))
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.guidance, b.guidance)


def test_deform_mask_differs_and_stays_binary() -> None:
    rng = np.random.default_rng(1)
    mask = np.zeros((40, 40), np.uint8)
    mask[10:30, 12:28] = 1
    for _ in range(20):
        out = deform_mask(mask, rng, PairOptions().deform)
        assert set(np.unique(out)) <= {0, 1} and not np.array_equal(out, mask) and out.any()


def test_clip_indices_increase_within_the_video() -> None:
    rng = np.random.default_rng(0)
    for frames in (3, 6, 40):
        for _ in range(20):
            idx = clip_indices(frames, 5, 5, rng)
            assert len(idx) == 6 and all(0 <= i < frames for i in idx)
            assert all(b >= a for a, b in zip(idx, idx[1:], strict=False))
            if frames > 5:
                assert all(b > a for a, b in zip(idx, idx[1:], strict=False))


def test_clips_follow_one_object(tmp_path: Path) -> None:
    clips = video_entries(DatasetSpec.parse(f"davis2017:{write_davis(tmp_path, '2017', frames=8)}"))
    generator = ClipGenerator(clips, ClipOptions(size=(64, 96), length=3, max_skip=2, colour=NO_COLOUR, rotation=0))
    for seed in range(10):
        s = generator(np.random.default_rng(seed))
        assert s.frames.shape == (3, 3, 64, 96) and s.labels.shape == (3, 64, 96)
        assert s.strategy == 0 and set(np.unique(s.labels)) <= {0, 1, 255}
        colour = _dominant_channel(s.reference, s.reference_mask[0] > 0)
        for t in range(3):
            if (s.labels[t] == 1).sum() > 20:
                assert _dominant_channel(s.frames[t], s.labels[t] == 1) == colour


def test_shared_transform_flag() -> None:
    frames = [np.full((8, 8, 3), v, np.uint8) for v in (10, 20)]
    masks = [np.ones((8, 8), np.uint8)] * 2
    shift = np.array([[1.0, 0, 2], [0, 1, 0]])
    _, out = warp_clip(frames, masks, shift, (8, 8), shared_transform=True)
    assert all(m[:, :2].sum() == 0 and m[:, 2:].all() for m in out)
    with pytest.raises(ValueError, match="matrices"):
        warp_clip(frames, masks, [shift], (8, 8), shared_transform=False)


def test_keep_inside_removes_empty_borders() -> None:
    image = np.full((40, 80, 3), 200, np.uint8)
    off_frame = np.array([[1.0, 0, 30], [0, 1.0, -25]])  # the 40×80 source would leave borders in a 32×64 crop
    fixed = keep_inside(off_frame, (40, 80), (32, 64))
    out, _ = warp(image, None, fixed, (32, 64))
    assert (out > 0).all()
    small = np.array([[0.5, 0, 0], [0, 0.5, 0]])  # a source smaller than the crop is left alone
    assert np.array_equal(keep_inside(small, (40, 80), (32, 64)), small)


def test_clips_have_little_empty_border(tmp_path: Path) -> None:
    clips = video_entries(DatasetSpec.parse(f"davis2016:{write_davis(tmp_path, '2016', frames=8)}"))
    generator = ClipGenerator(clips, ClipOptions(size=(32, 64), length=2, max_skip=2, rotation=0))
    for seed in range(10):
        s = generator(np.random.default_rng(seed))
        assert (s.frames.sum(axis=1) > 0).all()


def _clip_generator(tmp_path: Path, **options) -> ClipGenerator:
    clips = video_entries(DatasetSpec.parse(f"davis2017:{write_davis(tmp_path, '2017', frames=8)}"))
    base = {"size": (64, 96), "length": 3, "max_skip": 2, "colour": NO_COLOUR, "rotation": 0}
    return ClipGenerator(clips, ClipOptions(**{**base, **options}))


def test_flip_mirrors_the_whole_clip(tmp_path: Path) -> None:
    # A vanishing probability still draws its random number, so both generators see the same stream.
    plain, flipped = _clip_generator(tmp_path, flip=1e-12), _clip_generator(tmp_path, flip=1.0)
    for seed in range(5):
        a, b = plain(np.random.default_rng(seed)), flipped(np.random.default_rng(seed))
        assert np.array_equal(b.labels, a.labels[..., ::-1]) and np.array_equal(b.frames, a.frames[..., ::-1])
        assert np.array_equal(b.reference_mask, a.reference_mask[..., ::-1])


def test_an_occluder_hides_the_object_and_is_background(tmp_path: Path) -> None:
    plain, occluded = _clip_generator(tmp_path, occluder=1e-12), _clip_generator(tmp_path, occluder=1.0)
    hidden = 0
    for seed in range(10):
        a, b = plain(np.random.default_rng(seed)), occluded(np.random.default_rng(seed))
        assert not ((b.labels == 1) & (a.labels != 1)).any()  # never adds object pixels
        hidden += int(((a.labels == 1) & (b.labels == 0)).sum())
        assert not np.array_equal(a.frames, b.frames)  # something was pasted on every clip
    assert hidden > 0


def test_simulated_clips_move_one_object(tmp_path: Path) -> None:
    generator = _clip_generator(tmp_path, simulated=1.0, size=(96, 128))
    for seed in range(8):
        s = generator(np.random.default_rng(seed))
        assert s.strategy == 3 and s.frames.shape == (3, 3, 96, 128)
        assert set(np.unique(s.labels)) <= {0, 1, 255} and s.reference_mask.sum() > 0
        colour = _dominant_channel(s.reference, s.reference_mask[0] > 0)
        visible = [t for t in range(3) if (s.labels[t] == 1).sum() > 20]
        assert visible, "the simulated object left every target"
        assert all(_dominant_channel(s.frames[t], s.labels[t] == 1) == colour for t in visible)


def test_a_distractor_is_a_copy_of_the_object_labelled_background(tmp_path: Path) -> None:
    plain, distracted = _clip_generator(tmp_path, distractor=1e-12), _clip_generator(tmp_path, distractor=1.0)
    copies = 0
    for seed in range(10):
        a, b = plain(np.random.default_rng(seed)), distracted(np.random.default_rng(seed))
        assert not ((b.labels == 1) & (a.labels != 1)).any()  # never adds object pixels
        changed = np.abs(a.frames - b.frames).sum(axis=1) > 0.1  # (N, H, W): where the copy was pasted
        if changed.any():
            colour = _dominant_channel(a.reference, a.reference_mask[0] > 0)
            copies += _dominant_channel(b.frames[0], changed[0] & (b.labels[0] == 0)) == colour
    assert copies >= 5, "the pasted copies do not look like the tracked object"
