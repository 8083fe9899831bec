"""Training samples for both stages, drawn from a per-sample random generator (so a run resumes exactly).

A sample is always a short clip: a reference frame with its mask, N target frames with their labels, and the
guidance mask for the first target. Stage 1 makes N = 1 clips from still images (paper §3.2, Strategies 1 and 2);
stage 2 cuts N = 5 clips out of videos (paper §3.2, §3.4). Both return the same :class:`Sample`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from rgmp.io.masks import VOID
from train.datasets import StaticEntry, VideoEntry, read_image, read_labels
from train.transforms import (
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
        strategy: 1 or 2 for the still-image strategies, 0 for a video clip, 3 for a clip simulated from a frame.
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
        flip: probability of mirroring each view (reference, and target with its guidance), independently.
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
    flip: float = 0.0


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
                if _chance(rng, self.options.flip):
                    sample.reference = np.ascontiguousarray(sample.reference[..., ::-1])
                    sample.reference_mask = np.ascontiguousarray(sample.reference_mask[..., ::-1])
                if _chance(rng, self.options.flip):
                    sample.frames = np.ascontiguousarray(sample.frames[..., ::-1])
                    sample.labels = np.ascontiguousarray(sample.labels[..., ::-1])
                    sample.guidance = np.ascontiguousarray(sample.guidance[..., ::-1])
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
    """Stage-2 clip sampling (paper §3.2, §3.4) and the augmentations that stretch a small video set.

    Attributes:
        size: crop (height, width).
        length: number of successive targets N (the recurrence depth).
        max_skip: targets are 1..max_skip annotated frames apart (random per step).
        scale: range of the zoom over the scale that makes the frame cover the crop (below 1 leaves borders).
        rotation: maximum rotation, degrees.
        jitter: maximum offset of the object from the crop centre, fraction of the crop size.
        min_inside: fraction of the object (in the frame before the first target) that stays in the crop.
        shared_transform: one random transform for all target frames (camera-like); the reference gets its own.
        colour: colour perturbation, one draw per clip.
        deform: how the first target's guidance is made from the previous frame's mask.
        min_pixels: smallest usable object in the reference frame (source pixels).
        flip: probability of mirroring the whole sample (reference and targets).
        reverse: probability of playing a real clip backwards.
        occluder: probability that an object cut from another clip passes over the targets (it hides the
            tracked object where it lies; its own pixels are background).
        simulated: probability of a clip simulated from one annotated frame instead of a real one: the object
            (cut out and pasted on a frame of another clip, or with its own frame) moves from one random pose to
            another over the N targets, so the motion can be much faster than in the videos.
        distractor: probability that a copy of the tracked object, cut from the frame before the first target,
            sits elsewhere in every target (background): only the previous mask tells the two apart.
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
    flip: float = 0.0
    reverse: float = 0.0
    occluder: float = 0.0
    simulated: float = 0.0
    distractor: float = 0.0


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


def cut_out(image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The object's bounding box: (image (h, w, 3), alpha (h, w) float32 in [0, 1], edges feathered by 1 px)."""
    ys, xs = np.nonzero(mask == 1)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    alpha = cv2.GaussianBlur((mask[y0:y1, x0:x1] == 1).astype(np.float32), (3, 3), 0)
    return image[y0:y1, x0:x1], alpha


def paste(image: np.ndarray, patch: np.ndarray, alpha: np.ndarray, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Warp ``patch`` with ``matrix`` onto ``image`` through its alpha; returns (image, covered (h, w) bool)."""
    size = image.shape[:2]
    moved, _ = warp(patch, None, matrix, size)
    a = cv2.warpAffine(alpha, matrix, (size[1], size[0]), flags=cv2.INTER_LINEAR)[..., None]
    out = (image * (1 - a) + moved * a).round().astype(np.uint8)
    return out, a[..., 0] > 0.5


def _chance(rng: np.random.Generator, probability: float) -> bool:
    """True with ``probability``; draws nothing when it is 0 (so disabled options leave the sample stream as is)."""
    return probability > 0 and rng.random() < probability


def _trajectory(start: np.ndarray, end: np.ndarray, steps: int) -> list[np.ndarray]:
    """``steps`` 2×3 matrices moving linearly from ``start`` to ``end`` (both included when steps > 1)."""
    return [start + (end - start) * (t / max(steps - 1, 1)) for t in range(steps)]


class ClipGenerator:
    """Stage-2 clips: a reference frame at a random time and N successive targets, one object per clip."""

    def __init__(self, videos: list[VideoEntry], options: ClipOptions | None = None) -> None:
        if not videos:
            raise ValueError("stage 2 needs at least one video")
        self.videos = videos
        self.options = options or ClipOptions()

    def __call__(self, rng: np.random.Generator) -> Sample:
        o = self.options
        for _ in range(20):
            simulated = _chance(rng, o.simulated)
            drawn = self._simulated(rng) if simulated else self._real(rng)
            if drawn is None:
                continue
            reference, reference_mask, frames, labels = drawn
            if _chance(rng, o.distractor):
                frames, labels = self._distract(frames, labels, rng)
            if _chance(rng, o.occluder):
                frames, labels = self._occlude(frames, labels, rng)
            if _chance(rng, o.flip):
                reference, reference_mask = reference[:, ::-1], reference_mask[:, ::-1]
                frames, labels = [f[:, ::-1] for f in frames], [m[:, ::-1] for m in labels]
            colour_rng = np.random.default_rng(rng.integers(2**32))
            state = colour_rng.bit_generator.state
            coloured = []
            for f in frames:  # the same colour change on every target frame
                colour_rng.bit_generator.state = state
                coloured.append(random_colour(np.ascontiguousarray(f), colour_rng, o.colour))
            reference = random_colour(np.ascontiguousarray(reference), rng, o.colour)
            guidance = deform_mask(np.ascontiguousarray(labels[0]), rng, o.deform)
            return _to_sample(
                reference,
                reference_mask,
                coloured[1:],
                labels[1:],
                guidance,
                strategy=3 if simulated else 0,
                occluded=False,
            )
        raise RuntimeError("could not draw a usable stage-2 clip in 20 tries: are the masks empty?")

    def _random_instance(self, rng: np.random.Generator, avoid: VideoEntry | None = None):
        """(video, image, one instance as {0, 1, 255}) from a random annotated frame, or None."""
        choices = [v for v in self.videos if v is not avoid] or self.videos
        video = choices[int(rng.integers(len(choices)))]
        index = int(rng.integers(len(video.frames)))
        instance = pick_instance(read_labels(video.masks[index], video.labels), rng, self.options.min_pixels)
        return None if instance is None else (video, read_image(video.frames[index]), instance)

    def _real(self, rng: np.random.Generator):
        """A clip cut from a video: (reference, reference mask, N + 1 frames, N + 1 labels), or None."""
        o = self.options
        video = self.videos[int(rng.integers(len(self.videos)))]
        indices = clip_indices(len(video.frames), o.length, o.max_skip, rng)
        if _chance(rng, o.reverse):
            indices = indices[::-1]
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
        return ref_image, ref_mask, frames, labels

    def _simulated(self, rng: np.random.Generator):
        """A clip made from one annotated frame: the object moves between two random poses, over a frame of
        another clip panning slowly (or, one time in three, with its own frame moving along)."""
        o = self.options
        drawn = self._random_instance(rng)
        if drawn is None:
            return None
        video, image, instance = drawn
        own_background = rng.random() < 1 / 3
        background = image if own_background else read_image(self._random_background(rng, video))
        steps = o.length + 1
        fraction = (0.25, 0.8)
        scale = _object_scale(instance, o.size, rng, fraction)

        def pose(scale: float) -> np.ndarray:
            return object_view(
                instance, o.size, rng, scale=scale, rotation=2 * o.rotation, jitter=0.3, min_inside=o.min_inside
            )

        end_scale = scale * math.exp(rng.uniform(-0.3, 0.3))
        poses = _trajectory(pose(scale), pose(end_scale), steps)
        reference_pose = pose(scale * math.exp(rng.uniform(-0.3, 0.3)))
        if own_background:
            frames, labels = warp_clip([image] * steps, [instance] * steps, poses, o.size, shared_transform=False)
            ref_image, ref_mask = warp(image, instance, reference_pose, o.size)
            return ref_image, ref_mask, frames, labels
        cover = max(o.size[0] / background.shape[0], o.size[1] / background.shape[1])
        centre = (background.shape[1] / 2, background.shape[0] / 2)
        base = similarity(centre, 0.0, cover, (o.size[1] / 2, o.size[0] / 2))
        pan = AffineRange(rotation=3, scale=(1.05, 1.3), shift=0.05)
        start, end = (compose(random_similarity(rng, o.size, pan), base) for _ in range(2))
        cameras = _trajectory(start, end, steps)
        patch, alpha = cut_out(image, instance)
        ys, xs = np.nonzero(instance == 1)
        offset = np.array([[1.0, 0.0, xs.min()], [0.0, 1.0, ys.min()]])  # patch → source coordinates
        frames, labels = [], []
        for camera, matrix in zip(cameras, poses, strict=True):
            back, _ = warp(background, None, camera, o.size)
            out, covered = paste(back, patch, alpha, compose(matrix, offset))
            frames.append(out)
            labels.append(covered.astype(np.uint8))
        ref_back, _ = warp(background, None, compose(random_similarity(rng, o.size, pan), base), o.size)
        ref_image, covered = paste(ref_back, patch, alpha, compose(reference_pose, offset))
        if covered.sum() < 1 or labels[0].sum() < 1:
            return None
        return ref_image, covered.astype(np.uint8), frames, labels

    def _random_background(self, rng: np.random.Generator, avoid: VideoEntry):
        choices = [v for v in self.videos if v is not avoid] or self.videos
        video = choices[int(rng.integers(len(choices)))]
        return video.frames[int(rng.integers(len(video.frames)))]

    def _distract(self, frames: list[np.ndarray], labels: list[np.ndarray], rng: np.random.Generator):
        """A copy of the tracked object (cut from the first frame, where the guidance comes from) drifts slowly
        at another place of every frame; its pixels are background, and it hides the object where they meet."""
        if (labels[0] == 1).sum() < self.options.min_pixels:
            return frames, labels
        patch, alpha = cut_out(frames[0], labels[0])
        h, w = self.options.size
        ys, xs = np.nonzero(labels[0] == 1)
        scale = math.exp(rng.uniform(math.log(0.6), math.log(1.2)))
        centre = (patch.shape[1] / 2, patch.shape[0] / 2)
        # Away from the object: half a box to a box and a half along a random direction, kept in the crop.
        direction = rng.uniform(0, 2 * math.pi)
        reach = rng.uniform(0.5, 1.5) * np.array([xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]) * scale
        start = np.array([xs.mean(), ys.mean()]) + reach * (math.cos(direction), math.sin(direction))
        start = np.clip(start, 0, (w - 1, h - 1))
        velocity = rng.uniform(-0.03, 0.03, size=2) * (w, h)
        mirrored = rng.random() < 0.5
        if mirrored:
            patch, alpha = patch[:, ::-1].copy(), alpha[:, ::-1].copy()
        return _paste_moving(frames, labels, patch, alpha, centre, 0.0, scale, start, velocity, first_step=0)

    def _occlude(self, frames: list[np.ndarray], labels: list[np.ndarray], rng: np.random.Generator):
        """An object of another clip crosses the targets in front of the tracked one (which it hides)."""
        drawn = self._random_instance(rng)
        if drawn is None:
            return frames, labels
        _, image, instance = drawn
        patch, alpha = cut_out(image, instance)
        h, w = self.options.size
        ys, xs = np.nonzero(labels[0] == 1)
        anchor = (xs.mean(), ys.mean()) if len(xs) else (w / 2, h / 2)
        scale = float(np.clip(rng.uniform(0.2, 0.6) * min(h, w) / max(patch.shape[:2]), 0.05, 4.0))
        centre = (patch.shape[1] / 2, patch.shape[0] / 2)
        start = np.array(anchor) + rng.uniform(-0.25, 0.25, size=2) * (w, h)
        velocity = rng.uniform(-0.12, 0.12, size=2) * (w, h)
        angle = rng.uniform(-30, 30)
        return _paste_moving(
            frames, labels, patch, alpha, centre, angle, scale, start, velocity, first_step=-(len(frames) // 2)
        )


def _paste_moving(
    frames: list[np.ndarray],
    labels: list[np.ndarray],
    patch: np.ndarray,
    alpha: np.ndarray,
    centre: tuple[float, float],
    angle: float,
    scale: float,
    start: np.ndarray,
    velocity: np.ndarray,
    *,
    first_step: int,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Paste ``patch`` over every frame, its ``centre`` at ``start + velocity * (first_step + t)`` on frame ``t``;
    the pixels it covers become background in the labels (copies; the inputs are not changed)."""
    out_frames, out_labels = [], []
    for t, (frame, label) in enumerate(zip(frames, labels, strict=True)):
        matrix = similarity(centre, angle, scale, tuple(start + velocity * (first_step + t)))
        frame, covered = paste(frame, patch, alpha, matrix)
        label = label.copy()
        label[covered] = 0
        out_frames.append(frame)
        out_labels.append(label)
    return out_frames, out_labels
