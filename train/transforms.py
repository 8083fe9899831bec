"""Joint image/mask geometry and colour augmentation for training samples.

Every geometric change is one 2×3 affine matrix applied with :func:`warp` to an image and its mask together, so
that the crop, the scaling and the rotation of a sample cost one resampling. Images are (H, W, 3) uint8 RGB, masks
(H, W) uint8 label maps (0 = background, 1 = object, 255 = void, ignored by the loss).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class AffineRange:
    """Ranges of a random similarity transform.

    Attributes:
        rotation: maximum absolute rotation in degrees.
        scale: (min, max) multiplicative scale, drawn log-uniformly.
        shift: maximum translation as a fraction of the output size (each axis).
    """

    rotation: float = 0.0
    scale: tuple[float, float] = (1.0, 1.0)
    shift: float = 0.0


def similarity(center: tuple[float, float], angle: float, scale: float, target: tuple[float, float]) -> np.ndarray:
    """The 2×3 matrix that rotates by ``angle`` degrees and scales about ``center`` (x, y), moving it to ``target``."""
    m = cv2.getRotationMatrix2D((float(center[0]), float(center[1])), float(angle), float(scale))
    m[:, 2] += np.asarray(target, dtype=np.float64) - np.asarray(center, dtype=np.float64)
    return m


def compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """2×3 matrix of ``outer ∘ inner`` (apply ``inner`` first)."""
    a = np.vstack([outer, [0.0, 0.0, 1.0]])
    b = np.vstack([inner, [0.0, 0.0, 1.0]])
    return (a @ b)[:2]


def random_similarity(rng: np.random.Generator, size: tuple[int, int], ranges: AffineRange) -> np.ndarray:
    """A random 2×3 similarity about the centre of an (H, W) canvas that maps the canvas to itself."""
    h, w = size
    angle = rng.uniform(-ranges.rotation, ranges.rotation)
    scale = math.exp(rng.uniform(math.log(ranges.scale[0]), math.log(ranges.scale[1])))
    shift = rng.uniform(-ranges.shift, ranges.shift, size=2) * (w, h)
    center = (w / 2, h / 2)
    return similarity(center, angle, scale, (center[0] + shift[0], center[1] + shift[1]))


def keep_inside(matrix: np.ndarray, source: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
    """Shift a 2×3 matrix so that the warped (H, W) source covers the (h, w) output wherever it is large enough.

    Along each axis where the source's transformed bounding box is wider than the output, the translation is
    clamped so that the box covers the output (no empty border for an unrotated source; a small one in the
    corners when rotated). Axes where it is narrower are left as they are.
    """
    h, w = source
    corners = np.array([[0, 0], [w, 0], [0, h], [w, h]], dtype=np.float64)
    mapped = corners @ matrix[:, :2].T + matrix[:, 2]
    out = matrix.copy()
    for axis, extent in ((0, size[1]), (1, size[0])):
        low, high = mapped[:, axis].min(), mapped[:, axis].max()
        if high - low >= extent:
            out[axis, 2] += max(0.0, extent - high) - max(0.0, low)
    return out


def warp(
    image: np.ndarray | None, mask: np.ndarray | None, matrix: np.ndarray, size: tuple[int, int]
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Apply one affine matrix to an image (bilinear) and its mask (nearest); outside the source is zero.

    Args:
        image: (H, W, 3) uint8 or None.
        mask: (H, W) uint8 label map or None.
        matrix: 2×3 source → output matrix.
        size: output (height, width).

    Returns:
        (image (h, w, 3) uint8 or None, mask (h, w) uint8 or None).
    """
    dsize = (size[1], size[0])
    out_image = out_mask = None
    if image is not None:
        out_image = cv2.warpAffine(image, matrix, dsize, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    if mask is not None:
        out_mask = cv2.warpAffine(mask, matrix, dsize, flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT)
    return out_image, out_mask


def warp_clip(
    frames: list[np.ndarray],
    masks: list[np.ndarray],
    matrices: list[np.ndarray] | np.ndarray,
    size: tuple[int, int],
    *,
    shared_transform: bool,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Warp the frames and masks of a clip: with ``shared_transform`` one matrix for all, else one per frame."""
    if shared_transform:
        matrices = [np.asarray(matrices)] * len(frames)
    elif len(matrices) != len(frames):
        raise ValueError(f"{len(frames)} frames but {len(matrices)} matrices (shared_transform=False)")
    pairs = [warp(f, m, a, size) for f, m, a in zip(frames, masks, matrices, strict=True)]
    return [p[0] for p in pairs], [p[1] for p in pairs]


@dataclass(frozen=True)
class ColourRange:
    """Colour perturbation: brightness/contrast/saturation factors in [1-x, 1+x], hue shift in degrees."""

    brightness: float = 0.0
    contrast: float = 0.0
    saturation: float = 0.0
    hue: float = 0.0


def random_colour(image: np.ndarray, rng: np.random.Generator, ranges: ColourRange) -> np.ndarray:
    """Random brightness, contrast, saturation and hue change of an (H, W, 3) uint8 RGB image."""
    x = image.astype(np.float32)
    b = 1 + rng.uniform(-ranges.brightness, ranges.brightness)
    c = 1 + rng.uniform(-ranges.contrast, ranges.contrast)
    s = 1 + rng.uniform(-ranges.saturation, ranges.saturation)
    h = rng.uniform(-ranges.hue, ranges.hue)
    x = x * b
    x = (x - x.mean()) * c + x.mean()
    grey = x @ np.array([0.299, 0.587, 0.114], np.float32)
    x = (x - grey[..., None]) * s + grey[..., None]
    x = np.clip(x, 0, 255).astype(np.uint8)
    if h:
        hsv = cv2.cvtColor(x, cv2.COLOR_RGB2HSV)  # OpenCV hue is in [0, 180)
        hsv[..., 0] = ((hsv[..., 0].astype(np.int16) + round(h / 2)) % 180).astype(np.uint8)
        x = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    return x


@dataclass(frozen=True)
class DeformRange:
    """How the guidance mask is made from the true mask: a random similarity about the object plus morphology.

    Attributes:
        affine: the similarity (shift is a fraction of the object's bounding box size).
        morph: maximum dilation/erosion kernel size in pixels (0 disables it).
    """

    affine: AffineRange = AffineRange(rotation=10.0, scale=(0.9, 1.1), shift=0.1)
    morph: int = 11


def deform_mask(mask: np.ndarray, rng: np.random.Generator, ranges: DeformRange) -> np.ndarray:
    """A plausible but wrong previous mask: (H, W) binary {0, 1} uint8 from a label map (object = 1).

    The result always differs from ``mask == 1`` when the object is not empty (the draw is repeated, and a
    one-pixel shift is forced as a last resort).
    """
    target = (mask == 1).astype(np.uint8)
    ys, xs = np.nonzero(target)
    if len(ys) == 0:
        return target
    h, w = target.shape
    box_w, box_h = xs.max() - xs.min() + 1, ys.max() - ys.min() + 1
    center = ((xs.min() + xs.max()) / 2, (ys.min() + ys.max()) / 2)
    for _ in range(5):
        angle = rng.uniform(-ranges.affine.rotation, ranges.affine.rotation)
        lo, hi = ranges.affine.scale
        scale = math.exp(rng.uniform(math.log(lo), math.log(hi)))
        shift = rng.uniform(-ranges.affine.shift, ranges.affine.shift, size=2) * (box_w, box_h)
        matrix = similarity(center, angle, scale, (center[0] + shift[0], center[1] + shift[1]))
        out = cv2.warpAffine(target, matrix, (w, h), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT)
        if ranges.morph >= 3:
            k = int(rng.integers(1, ranges.morph // 2 + 1)) * 2 + 1
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
            out = cv2.dilate(out, kernel) if rng.random() < 0.5 else cv2.erode(out, kernel)
        if out.any() and not np.array_equal(out, target):
            return out
    return np.roll(target, 1, axis=int(rng.integers(0, 2)))
