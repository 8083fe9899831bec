"""Training samples for both stages, drawn from a per-sample random generator (so a run resumes exactly).

A sample is always a short clip: a reference frame with its mask, N target frames with their labels, and the
guidance mask for the first target. Stage 1 makes N = 1 clips from still images (paper §3.2, Strategies 1 and 2);
stage 2 cuts N = 5 clips out of videos (paper §3.2, §3.4). Both return the same :class:`Sample`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from train.datasets import StaticEntry, VideoEntry, read_image, read_labels
from train.transforms import (
    VOID,
    AffineRange,
    ColourRange,
    DeformRange,
    compose,
    deform_mask,
    keep_inside,
    random_colour,
    random_similarity,
    similarity,
    warp,
    warp_clip,
)


@dataclass
class Sample:
    """One training clip (numpy, channels first; the loader stacks them into a batch).

    Attributes:
        reference: (3, H, W) float32 RGB in [0, 1].
        reference_mask: (1, H, W) float32 in {0, 1}.
        frames: (N, 3, H, W) float32 target frames.
        labels: (N, H, W) int64 in {0, 1, 255 (void, ignored)}.
        guidance: (1, H, W) float32 in {0, 1}: the (deformed) mask given with the first target.
        strategy: 1 or 2 for the still-image strategies, 0 for a video clip.
        occluded: Strategy 2 only: the background's own object hides part of the pasted object in the target.
    """

    reference: np.ndarray
    reference_mask: np.ndarray
    frames: np.ndarray
    labels: np.ndarray
    guidance: np.ndarray
    strategy: int
    occluded: bool


def _to_sample(
    reference: np.ndarray,
    reference_labels: np.ndarray,
    frames: list[np.ndarray],
    labels: list[np.ndarray],
    guidance: np.ndarray,
    strategy: int,
    occluded: bool,
) -> Sample:
    return Sample(
        reference=reference.transpose(2, 0, 1).astype(np.float32) / 255,
        reference_mask=(reference_labels == 1)[None].astype(np.float32),
        frames=np.stack(frames).transpose(0, 3, 1, 2).astype(np.float32) / 255,
        labels=np.stack(labels).astype(np.int64),
        guidance=guidance[None].astype(np.float32),
        strategy=strategy,
        occluded=occluded,
    )


def pick_instance(labels: np.ndarray, rng: np.random.Generator, min_pixels: int) -> np.ndarray | None:
    """One instance of a label map as {0, 1, 255}: the object is 1, void stays 255, other objects become 0."""
    ids, counts = np.unique(labels, return_counts=True)
    keep = [i for i, c in zip(ids, counts, strict=True) if i not in (0, VOID) and c >= min_pixels]
    if not keep:
        return None
    chosen = keep[int(rng.integers(len(keep)))]
    out = (labels == chosen).astype(np.uint8)
    out[labels == VOID] = VOID
    return out


def object_view(
    mask: np.ndarray,
    size: tuple[int, int],
    rng: np.random.Generator,
    *,
    scale: float,
    rotation: float,
    jitter: float,
    min_inside: float,
) -> np.ndarray:
    """A 2×3 matrix (source → (h, w) crop) that keeps at least ``min_inside`` of the object in the crop.

    The object's box centre goes to the crop centre plus a random offset of up to ``jitter`` × crop size, after a
    random rotation in ±``rotation`` degrees and scaling by ``scale``. Draws that lose too much of the object
    are repeated with a smaller offset; the last resort (no offset, no rotation) keeps the whole box if it fits.
    """
    ys, xs = np.nonzero(mask == 1)
    h, w = size
    center = ((xs.min() + xs.max()) / 2, (ys.min() + ys.max()) / 2)
    area = len(ys) * scale * scale
    for attempt in range(8):
        fade = 1 - attempt / 8
        angle = rng.uniform(-rotation, rotation) * fade
        offset = rng.uniform(-jitter, jitter, size=2) * (w, h) * fade
        matrix = similarity(center, angle, scale, (w / 2 + offset[0], h / 2 + offset[1]))
        _, out = warp(None, (mask == 1).astype(np.uint8), matrix, size)
        if out.sum() >= min_inside * area:
            return matrix
    return similarity(center, 0.0, scale, (w / 2, h / 2))


def _object_scale(mask: np.ndarray, size: tuple[int, int], rng: np.random.Generator, fraction: tuple[float, float]):
    """Scale that makes the object's box long side ``fraction`` (random in the range) of the crop's short side."""
    ys, xs = np.nonzero(mask == 1)
    side = max(xs.max() - xs.min() + 1, ys.max() - ys.min() + 1)
    return float(np.clip(rng.uniform(*fraction) * min(size) / side, 0.1, 4.0))


# --------------------------------------------------------------------------------------------------------------
# Stage 1


@dataclass(frozen=True)
class ArrayEntry:
    """An image and its label map already in memory (online learning on the annotated frame).

    Attributes:
        image: (H, W, 3) uint8 RGB.
        labels: (H, W) uint8 label map (0 background, object ids, 255 void).
    """

    image: np.ndarray
    labels: np.ndarray


Entry = StaticEntry | ArrayEntry


def load_entry(entry: Entry) -> tuple[np.ndarray, np.ndarray]:
    """(image (H, W, 3) uint8, label map (H, W) uint8) of a file or in-memory entry."""
    if isinstance(entry, ArrayEntry):
        return entry.image, entry.labels
    return read_image(entry.image), read_labels(entry.mask, entry.labels)


@dataclass(frozen=True)
class PairOptions:
    """Stage-1 sample generation (paper §3.2).

    Attributes:
        size: crop (height, width).
        strategy2: probability of Strategy 2 (a salient object pasted on a background) instead of Strategy 1.
        object_size: range of the object's box long side as a fraction of the crop's short side.
        rotation: maximum rotation of each view, degrees.
        jitter: maximum offset of the object from the crop centre, fraction of the crop size.
        min_inside: fraction of the object that must stay in the crop.
        min_pixels: smallest usable instance (source pixels) and smallest visible target (crop pixels).
        colour: colour perturbation of each view.
        deform: how the guidance mask is made from the target mask.
    """

    size: tuple[int, int] = (256, 256)
    strategy2: float = 0.5
    object_size: tuple[float, float] = (0.3, 0.9)
    rotation: float = 30.0
    jitter: float = 0.25
    min_inside: float = 0.5
    min_pixels: int = 64
    colour: ColourRange = ColourRange(brightness=0.3, contrast=0.3, saturation=0.3, hue=10.0)
    deform: DeformRange = field(default_factory=DeformRange)


class PairGenerator:
    """Simulated (reference, target) pairs from still images: Strategy 1 and Strategy 2 with equal probability.

    Args:
        images: rows with instance masks (Pascal VOC + SBD, or the frames of a video set): Strategy 1 images and
            Strategy 2 backgrounds (whose own objects occlude the pasted one).
        salient: rows with one salient object each (ECSSD, MSRA10K); None or empty: use ``images``.
        options: see :class:`PairOptions`.
    """

    def __init__(
        self, images: list[Entry], salient: list[Entry] | None = None, options: PairOptions | None = None
    ) -> None:
        if not images:
            raise ValueError("stage 1 needs at least one image with a mask")
        self.images = images
        self.salient = salient or images
        self.options = options or PairOptions()

    def __call__(self, rng: np.random.Generator) -> Sample:
        use_strategy2 = rng.random() < self.options.strategy2
        for _ in range(20):
            sample = self._strategy2(rng) if use_strategy2 else self._strategy1(rng)
            if sample is not None:
                return sample
        raise RuntimeError("could not draw a usable stage-1 sample in 20 tries: are the masks empty?")

    def _load(self, rows: list[Entry], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray] | None:
        image, labels = load_entry(rows[int(rng.integers(len(rows)))])
        instance = pick_instance(labels, rng, self.options.min_pixels)
        return None if instance is None else (image, instance)

    def _view(self, image: np.ndarray, mask: np.ndarray, rng: np.random.Generator):
        o = self.options
        matrix = object_view(
            mask,
            o.size,
            rng,
            scale=_object_scale(mask, o.size, rng, o.object_size),
            rotation=o.rotation,
            jitter=o.jitter,
            min_inside=o.min_inside,
        )
        return warp(image, mask, matrix, o.size)

    def _strategy1(self, rng: np.random.Generator) -> Sample | None:
        """One image and instance, two independent random transforms and colour changes."""
        loaded = self._load(self.images, rng)
        if loaded is None:
            return None
        image, mask = loaded
        (ref, ref_mask), (tgt, tgt_mask) = self._view(image, mask, rng), self._view(image, mask, rng)
        if min((ref_mask == 1).sum(), (tgt_mask == 1).sum()) < self.options.min_pixels:
            return None
        ref, tgt = random_colour(ref, rng, self.options.colour), random_colour(tgt, rng, self.options.colour)
        guidance = deform_mask(tgt_mask, rng, self.options.deform)
        return _to_sample(ref, ref_mask, [tgt], [tgt_mask], guidance, strategy=1, occluded=False)

    def _strategy2(self, rng: np.random.Generator) -> Sample | None:
        """A salient object pasted on a background; the background's own object (if any) is pasted over it."""
        o = self.options
        fg, bg = self._load(self.salient, rng), self._load(self.images, rng)
        if fg is None:
            return None
        fg_image, fg_mask = fg
        bg_image, bg_mask = bg if bg is not None else (load_entry(self.images[0])[0], None)
        views, occluded = [], False
        for _ in range(2):
            image, mask = self._view(fg_image, fg_mask, rng)
            scale = max(o.size[0] / bg_image.shape[0], o.size[1] / bg_image.shape[1])
            center = (bg_image.shape[1] / 2, bg_image.shape[0] / 2)
            matrix = similarity(center, 0.0, scale, (o.size[1] / 2, o.size[0] / 2))
            cover = random_similarity(rng, o.size, AffineRange(rotation=10, scale=(1.1, 1.5), shift=0.05))
            back, back_mask = warp(bg_image, bg_mask, compose(cover, matrix), o.size)
            paste = mask > 0
            out = np.where(paste[..., None], image, back)
            labels = mask.copy()
            if back_mask is not None:
                occluder = back_mask == 1
                hidden = occluder & (labels == 1)
                out = np.where(occluder[..., None], back, out)
                labels[occluder] = 0
                occluded = bool(hidden.any())  # of the last view, the target
            if (labels == 1).sum() < o.min_pixels:
                return None
            views.append((random_colour(out, rng, o.colour), labels))
        (ref, ref_mask), (tgt, tgt_mask) = views
        guidance = deform_mask(tgt_mask, rng, o.deform)
        return _to_sample(ref, ref_mask, [tgt], [tgt_mask], guidance, strategy=2, occluded=occluded)


# --------------------------------------------------------------------------------------------------------------
# Stage 2


@dataclass(frozen=True)
class ClipOptions:
    """Stage-2 clip sampling (paper §3.2, §3.4).

    Attributes:
        size: crop (height, width).
        length: number of successive targets N (the recurrence depth).
        max_skip: targets are 1..max_skip annotated frames apart (random per step).
        scale: range of the zoom over the scale that makes the frame cover the crop.
        rotation: maximum rotation, degrees.
        jitter: maximum offset of the object from the crop centre, fraction of the crop size.
        min_inside: fraction of the object (in the frame before the first target) that stays in the crop.
        shared_transform: one random transform for all target frames (camera-like); the reference gets its own.
        colour: colour perturbation, one draw per clip.
        deform: how the first target's guidance is made from the previous frame's mask.
        min_pixels: smallest usable object in the reference frame (source pixels).
    """

    size: tuple[int, int] = (256, 512)
    length: int = 5
    max_skip: int = 5
    scale: tuple[float, float] = (1.0, 1.3)
    rotation: float = 10.0
    jitter: float = 0.2
    min_inside: float = 0.5
    shared_transform: bool = True
    colour: ColourRange = ColourRange(brightness=0.2, contrast=0.2, saturation=0.2, hue=5.0)
    deform: DeformRange = field(default_factory=DeformRange)
    min_pixels: int = 64


def clip_indices(num_frames: int, length: int, max_skip: int, rng: np.random.Generator) -> list[int]:
    """``length + 1`` increasing frame indices (the frame before the first target, then the targets).

    Skips are drawn in [1, max_skip] and shrunk when the clip is too short; a clip shorter than ``length + 1``
    frames repeats its last frame.
    """
    skips = rng.integers(1, max_skip + 1, size=length)
    while skips.sum() > num_frames - 1 and skips.max() > 1:
        skips[int(np.argmax(skips))] -= 1
    span = int(skips.sum())
    start = int(rng.integers(0, max(num_frames - span, 1)))
    indices = np.concatenate([[start], start + np.cumsum(skips)])
    return [int(i) for i in np.minimum(indices, num_frames - 1)]


class ClipGenerator:
    """Stage-2 clips: a reference frame at a random time and N successive targets, one object per clip."""

    def __init__(self, videos: list[VideoEntry], options: ClipOptions | None = None) -> None:
        if not videos:
            raise ValueError("stage 2 needs at least one video")
        self.videos = videos
        self.options = options or ClipOptions()

    def __call__(self, rng: np.random.Generator) -> Sample:
        for _ in range(20):
            sample = self._draw(rng)
            if sample is not None:
                return sample
        raise RuntimeError("could not draw a usable stage-2 clip in 20 tries: are the masks empty?")

    def _draw(self, rng: np.random.Generator) -> Sample | None:
        o = self.options
        video = self.videos[int(rng.integers(len(self.videos)))]
        indices = clip_indices(len(video.frames), o.length, o.max_skip, rng)
        ref_index = int(rng.integers(len(video.frames)))
        ref_labels = read_labels(video.masks[ref_index], video.labels)
        ref_mask = pick_instance(ref_labels, rng, o.min_pixels)
        if ref_mask is None:
            return None
        object_id = int(ref_labels[ref_mask == 1][0])
        frames = [read_image(video.frames[i]) for i in indices]
        labels = []
        for i in indices:
            raw = read_labels(video.masks[i], video.labels)
            lab = (raw == object_id).astype(np.uint8)
            lab[raw == VOID] = VOID
            labels.append(lab)
        ref_image = read_image(video.frames[ref_index])

        def view(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
            cover = max(o.size[0] / image.shape[0], o.size[1] / image.shape[1])
            scale = cover * math.exp(rng.uniform(math.log(o.scale[0]), math.log(o.scale[1])))
            anchor = mask if (mask == 1).any() else ref_mask
            matrix = object_view(
                anchor, o.size, rng, scale=scale, rotation=o.rotation, jitter=o.jitter, min_inside=o.min_inside
            )
            return keep_inside(matrix, image.shape[:2], o.size)

        clip_matrix = view(frames[0], labels[0])
        matrices = clip_matrix if o.shared_transform else [view(f, m) for f, m in zip(frames, labels, strict=True)]
        frames, labels = warp_clip(frames, labels, matrices, o.size, shared_transform=o.shared_transform)
        ref_image, ref_mask = warp(ref_image, ref_mask, view(ref_image, ref_mask), o.size)
        if (ref_mask == 1).sum() < 1:
            return None
        colour_rng = np.random.default_rng(rng.integers(2**32))
        state = colour_rng.bit_generator.state
        coloured = []
        for f in frames:  # the same colour change on every target frame
            colour_rng.bit_generator.state = state
            coloured.append(random_colour(f, colour_rng, o.colour))
        ref_image = random_colour(ref_image, rng, o.colour)
        guidance = deform_mask(labels[0], rng, o.deform)
        return _to_sample(ref_image, ref_mask, coloured[1:], labels[1:], guidance, strategy=0, occluded=False)
