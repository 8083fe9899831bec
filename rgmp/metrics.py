"""DAVIS region (J) and boundary (F) measures, identical to the official davis2017-evaluation code.

Reimplementation of ``davis2017/metrics.py``, ``davis2017/utils.db_statistics`` and the semi-supervised path
of ``davis2017/evaluation.py`` (github.com/davisvideochallenge/davis2017-evaluation @ ac7c43f) without OpenCV
or scikit-image. The official quirks are kept on purpose, so numbers are comparable with published ones:

- J of two empty masks is 1 (the union is empty);
- the boundary tolerance is ``ceil(bound_th * image diagonal)`` pixels (8 px at 480x854, 9 px at 480x910);
- boundaries come from ``_seg2bmap`` (no boundary along the image border);
- boundaries are dilated with a ``skimage.morphology.disk`` structuring element as ``cv2.dilate`` does;
- recall counts values ``> 0.5`` (NaN counts as a miss) and the decay bins use ``uint8`` indices (see
  :func:`db_statistics`);
- in the semi-supervised task the void label (255) is mapped to background and void pixels are not used.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np

from rgmp.io.masks import VOID

__all__ = [
    "GLOBAL_COLUMNS",
    "db_eval_boundary",
    "db_eval_iou",
    "db_statistics",
    "evaluate_semisupervised",
    "global_statistics",
]

GLOBAL_COLUMNS = ("J&F-Mean", "J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay")


def db_eval_iou(
    annotation: np.ndarray, segmentation: np.ndarray, void_pixels: np.ndarray | None = None
) -> float | np.ndarray:
    """Region similarity J (Jaccard index) of binary masks.

    Args:
        annotation: ground-truth mask, (H, W) or (T, H, W); nonzero = object.
        segmentation: predicted mask, same shape.
        void_pixels: optional mask of pixels to ignore, same shape.

    Returns:
        A float for (H, W) input, a (T,) float array for (T, H, W) input. An empty union gives J = 1.
    """
    if annotation.shape != segmentation.shape:
        raise ValueError(f"annotation {annotation.shape} and segmentation {segmentation.shape} shapes differ")
    annotation = annotation.astype(bool)
    segmentation = segmentation.astype(bool)
    if void_pixels is None:
        keep = np.ones_like(annotation)
    else:
        if void_pixels.shape != annotation.shape:
            raise ValueError(f"annotation {annotation.shape} and void {void_pixels.shape} shapes differ")
        keep = ~void_pixels.astype(bool)
    inters = np.sum(segmentation & annotation & keep, axis=(-2, -1))
    union = np.sum((segmentation | annotation) & keep, axis=(-2, -1))
    with np.errstate(divide="ignore", invalid="ignore"):
        j = inters / union
    if j.ndim == 0:
        return 1.0 if union == 0 else float(j)
    j[union == 0] = 1.0
    return j


def db_eval_boundary(
    annotation: np.ndarray,
    segmentation: np.ndarray,
    void_pixels: np.ndarray | None = None,
    bound_th: float = 0.008,
) -> float | np.ndarray:
    """Boundary accuracy F of binary masks.

    Args:
        annotation: ground-truth mask, (H, W) or (T, H, W); nonzero = object.
        segmentation: predicted mask, same shape.
        void_pixels: optional mask of pixels to ignore, same shape.
        bound_th: boundary tolerance; ``< 1`` is a fraction of the image diagonal (rounded up to whole
            pixels), ``>= 1`` a radius in pixels.

    Returns:
        A float for (H, W) input, a (T,) float array for (T, H, W) input.
    """
    if annotation.shape != segmentation.shape:
        raise ValueError(f"annotation {annotation.shape} and segmentation {segmentation.shape} shapes differ")
    if void_pixels is not None and void_pixels.shape != annotation.shape:
        raise ValueError(f"annotation {annotation.shape} and void {void_pixels.shape} shapes differ")
    if annotation.ndim == 2:
        return _f_measure(segmentation, annotation, void_pixels, bound_th)
    if annotation.ndim == 3:
        return np.array(
            [
                _f_measure(segmentation[t], annotation[t], None if void_pixels is None else void_pixels[t], bound_th)
                for t in range(annotation.shape[0])
            ],
            dtype=np.float64,
        )
    raise ValueError(f"db_eval_boundary does not support arrays with {annotation.ndim} dimensions")


def _f_measure(
    foreground_mask: np.ndarray, gt_mask: np.ndarray, void_pixels: np.ndarray | None, bound_th: float
) -> float:
    """Boundary F-measure of one (H, W) frame (official ``f_measure``)."""
    keep = np.ones(gt_mask.shape, bool) if void_pixels is None else ~void_pixels.astype(bool)
    diagonal = np.sqrt(float(np.dot(foreground_mask.shape, foreground_mask.shape)))  # np.linalg.norm(shape)
    bound_pix = bound_th if bound_th >= 1 else math.ceil(bound_th * diagonal)
    fg_boundary = _seg2bmap(foreground_mask.astype(bool) & keep)
    gt_boundary = _seg2bmap(gt_mask.astype(bool) & keep)
    kernel = _disk(bound_pix)

    n_fg = int(fg_boundary.sum())
    n_gt = int(gt_boundary.sum())
    if n_fg == 0 and n_gt == 0:
        precision, recall = 1.0, 1.0
    elif n_fg == 0:
        precision, recall = 1.0, 0.0
    elif n_gt == 0:
        precision, recall = 0.0, 1.0
    else:
        # Only the dilated maps' values on the other boundary are needed: fg_match = fg_boundary * gt_dil.
        precision = int(_dilated_at(gt_boundary, kernel, *np.nonzero(fg_boundary)).sum()) / n_fg
        recall = int(_dilated_at(fg_boundary, kernel, *np.nonzero(gt_boundary)).sum()) / n_gt
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def _seg2bmap(seg: np.ndarray) -> np.ndarray:
    """One-pixel-wide boundary map of a (H, W) mask, as the official ``_seg2bmap`` (D. Martin, 2003).

    A pixel is on the boundary when it differs from its east, south or south-east neighbour; the boundary is
    offset by half a pixel towards the origin and the image border is not a boundary.
    Returns a (H, W) bool map.
    """
    seg = seg.astype(bool)
    e = np.zeros_like(seg)
    s = np.zeros_like(seg)
    se = np.zeros_like(seg)
    e[:, :-1] = seg[:, 1:]
    s[:-1, :] = seg[1:, :]
    se[:-1, :-1] = seg[1:, 1:]
    b = (seg ^ e) | (seg ^ s) | (seg ^ se)
    b[-1, :] = seg[-1, :] ^ e[-1, :]
    b[:, -1] = seg[:, -1] ^ s[:, -1]
    b[-1, -1] = False
    return b


def _disk(radius: float) -> np.ndarray:
    """``skimage.morphology.disk(radius)`` as a bool array of shape (K, K), K = len(arange(-r, r + 1))."""
    grid = np.arange(-radius, radius + 1)
    x, y = np.meshgrid(grid, grid)
    return (x**2 + y**2) <= radius**2


def _dilated_at(src: np.ndarray, kernel: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Values of ``cv2.dilate(src, kernel)`` at the points (ys, xs), for a bool (H, W) ``src``.

    cv2 semantics: ``out[y, x] = any(src[y + i - ky // 2, x + j - kx // 2] for kernel[i, j])``, pixels
    outside the image ignored. Each kernel row is a union of runs of columns; a run is summed with a row-wise
    cumulative sum, so the cost is O(H * W + points * kernel rows). Returns a bool array shaped like ``ys``.
    """
    kh, kw = kernel.shape
    ay, ax = kh // 2, kw // 2
    h, w = src.shape
    padded = np.zeros((h + kh - 1, w + kw - 1), np.int32)
    padded[ay : ay + h, ax : ax + w] = src
    csum = np.zeros((padded.shape[0], padded.shape[1] + 1), np.int32)
    np.cumsum(padded, axis=1, out=csum[:, 1:])
    hit = np.zeros(ys.shape, bool)
    for i in range(kh):
        cols = np.flatnonzero(kernel[i])
        if cols.size == 0:
            continue
        breaks = np.flatnonzero(np.diff(cols) > 1)
        for start, stop in zip(cols[np.r_[0, breaks + 1]], cols[np.r_[breaks, cols.size - 1]], strict=True):
            # padded[y + i, x + j] == src[y + i - ay, x + j - ax]; sum over j in [start, stop]
            hit |= (csum[ys + i, xs + stop + 1] - csum[ys + i, xs + start]) > 0
    return hit


def db_statistics(per_frame_values: np.ndarray, exact_decay: bool = False) -> tuple[float, float, float]:
    """Mean, recall and decay of per-frame values (official ``utils.db_statistics``).

    Args:
        per_frame_values: (N,) per-frame J or F values; NaN allowed.
        exact_decay: False (default) reproduces the official numbers; True uses proper integer bin indices.
            The official code casts the 4 bin boundaries to ``uint8`` and ends a bin at ``uint8 + 1``, which
            wraps under numpy >= 2. Past 255 values the decay is therefore wrong: at N = 256 the last bin is
            empty (decay NaN; numpy 1 promoted to int and gave the right value), from N = 257 the indices wrap
            modulo 256 and the decay is NaN or silently wrong. The default makes that numpy >= 2 wrap-around
            explicit, so it does not depend on platform casting rules. Both modes agree for N <= 255.

    Returns:
        (mean, recall, decay): ``nanmean(values)``, ``nanmean(values > 0.5)`` (NaN counts as a miss), and the
        mean of the first quarter minus the mean of the last quarter (NaN-aware).
    """
    values = np.asarray(per_frame_values, dtype=np.float64)
    n = values.shape[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        mean = float(np.nanmean(values))
        recall = float(np.nanmean(values > 0.5))
        ids = (np.round(np.linspace(1, n, 5) + 1e-10) - 1).astype(np.int64)
        if exact_decay:
            bins = [values[ids[i] : ids[i + 1] + 1] for i in range(4)]
        else:
            ids %= 256  # ids.astype(np.uint8)
            bins = [values[ids[i] : (ids[i + 1] + 1) % 256] for i in range(4)]  # uint8 + 1 wraps (numpy >= 2)
        decay = float(np.nanmean(bins[0]) - np.nanmean(bins[3]))
    return mean, recall, decay


def global_statistics(
    j_stats: Sequence[tuple[float, float, float]], f_stats: Sequence[tuple[float, float, float]]
) -> dict[str, float]:
    """The official global table row from per-object (mean, recall, decay) of J and F.

    Plain means over objects (``np.mean``, a NaN propagates); J&F-Mean = (J-Mean + F-Mean) / 2.
    Returns a dict keyed by :data:`GLOBAL_COLUMNS`.
    """
    j_cols = np.asarray(j_stats, np.float64).reshape(-1, 3).T
    f_cols = np.asarray(f_stats, np.float64).reshape(-1, 3).T
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        # one 1-D mean per column, as the official code (same summation order, bit-identical)
        j = [np.mean(np.ascontiguousarray(col)) for col in j_cols]
        f = [np.mean(np.ascontiguousarray(col)) for col in f_cols]
    values = [(j[0] + f[0]) / 2.0, *j, *f]
    return {name: float(v) for name, v in zip(GLOBAL_COLUMNS, values, strict=True)}


def evaluate_semisupervised(gt: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-object J and F of one sequence, as the official semi-supervised evaluation.

    The number of objects is the largest label of the first GT frame after void (255) is set to 0; object k is
    ``label == k``. The first and last frames are not scored. Void pixels are not used (the official
    semi-supervised path passes ``None``). Predicted ids above the object count raise (the official tool
    exits); objects missing from the prediction score as empty masks.

    Args:
        gt: (T, H, W) integer label map, 0 = background, 255 = void; T >= 3.
        pred: (T, H, W) integer label map (frames 0 and T-1 are ignored).

    Returns:
        (J, F): two float arrays of shape (num_objects, T - 2).
    """
    if gt.ndim != 3 or pred.shape != gt.shape:
        raise ValueError(f"gt {gt.shape} and pred {pred.shape} must be equal (T, H, W) shapes")
    if gt.shape[0] < 3:
        raise ValueError(f"need at least 3 frames (first and last are not scored), got {gt.shape[0]}")
    gt = np.where(gt == VOID, 0, gt)
    num_objects = int(gt[0].max())
    gt, pred = gt[1:-1], pred[1:-1]
    num_pred = int(pred.max())
    if num_pred > num_objects:
        raise ValueError(f"prediction has object id {num_pred} but the sequence has {num_objects} objects")
    n_frames = gt.shape[0]
    j = np.zeros((num_objects, n_frames))
    f = np.zeros((num_objects, n_frames))
    for k in range(1, num_objects + 1):
        j[k - 1] = db_eval_iou(gt == k, pred == k)
        f[k - 1] = db_eval_boundary(gt == k, pred == k)
    return j, f
