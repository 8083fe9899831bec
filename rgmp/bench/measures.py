"""The measures of SegTrack v2 and JumpCut on (H, W) masks (nonzero = object); DAVIS J and F are :mod:`rgmp.metrics`.

- SegTrack v2 (Li et al., ICCV 2013): per object, ``sum_t |S_t ∩ G_t| / sum_t |S_t ∪ G_t|`` over the sequence's
  frames, the dataset score being the mean over objects; the mean over frames of the per-frame IoU, which some
  later papers report, is kept beside it.
- JumpCut (Fan et al., SIGGRAPH Asia 2015): a mask transferred from a key frame scores ``|S xor G| / |G|`` at the end
  of the transfer, the wrongly labelled area over the object area.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def _binary(ground_truth: np.ndarray, prediction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if ground_truth.shape != prediction.shape:
        raise ValueError(f"ground truth {ground_truth.shape} and prediction {prediction.shape} shapes differ")
    return ground_truth.astype(bool), prediction.astype(bool)


def intersection_union(ground_truth: np.ndarray, prediction: np.ndarray) -> tuple[int, int]:
    """Pixel counts |G ∩ S| and |G ∪ S|."""
    g, s = _binary(ground_truth, prediction)
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
    """JumpCut error of one transferred mask, ``|G xor S| / |G|`` (0 = perfect, can exceed 1; NaN if G is empty)."""
    g, s = _binary(ground_truth, prediction)
    area = int(np.count_nonzero(g))
    return math.nan if area == 0 else int(np.count_nonzero(g ^ s)) / area
