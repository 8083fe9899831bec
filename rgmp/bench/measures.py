"""The measures of SegTrack v2 (intersection over union) and JumpCut (transfer error), on binary masks.

DAVIS J and F are :mod:`rgmp.metrics` (the official code's); these two follow the datasets' own papers:

- SegTrack v2 (Li et al., ICCV 2013): per object, intersection over union accumulated over the frames of the
  sequence, ``sum_t |S_t ∩ G_t| / sum_t |S_t ∪ G_t|``; the dataset score is the mean over objects. The mean over
  frames of the per-frame IoU is kept beside it, because some later papers report that one.
- JumpCut (Fan et al., SIGGRAPH Asia 2015): a mask transferred from a key frame is scored at the end of the
  transfer by ``|S xor G| / |G|``, the wrongly labelled area over the object area (reported in percent).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def intersection_union(ground_truth: np.ndarray, prediction: np.ndarray) -> tuple[int, int]:
    """Pixel counts |G ∩ S| and |G ∪ S| of two (H, W) masks (nonzero = object)."""
    if ground_truth.shape != prediction.shape:
        raise ValueError(f"ground truth {ground_truth.shape} and prediction {prediction.shape} shapes differ")
    g, s = ground_truth.astype(bool), prediction.astype(bool)
    return int(np.count_nonzero(g & s)), int(np.count_nonzero(g | s))


def segtrack_iou(intersections: Sequence[int], unions: Sequence[int]) -> float:
    """SegTrack v2 IoU of one object: total intersection over total union across its frames (1.0 if both empty)."""
    union = sum(unions)
    return 1.0 if union == 0 else sum(intersections) / union


def frame_mean_iou(intersections: Sequence[int], unions: Sequence[int]) -> float:
    """Mean over frames of the per-frame IoU (a frame where both masks are empty counts 1.0)."""
    if len(intersections) != len(unions) or not unions:
        raise ValueError("need as many intersections as unions, at least one")
    return float(np.mean([1.0 if u == 0 else i / u for i, u in zip(intersections, unions, strict=True)]))


def jumpcut_error(ground_truth: np.ndarray, prediction: np.ndarray) -> float:
    """JumpCut error of one transferred mask: wrongly labelled pixels / object pixels (NaN if G is empty).

    Args:
        ground_truth, prediction: (H, W) masks, nonzero = object.

    Returns:
        ``|G xor S| / |G|`` as a fraction (0 = perfect; can exceed 1).
    """
    if ground_truth.shape != prediction.shape:
        raise ValueError(f"ground truth {ground_truth.shape} and prediction {prediction.shape} shapes differ")
    g, s = ground_truth.astype(bool), prediction.astype(bool)
    area = int(np.count_nonzero(g))
    return math.nan if area == 0 else int(np.count_nonzero(g ^ s)) / area
