"""Turning per-object network outputs into one label distribution (paper §3.3).

Every merge takes the object probabilities of the current frame and returns two things: the (K+1)-channel
distribution shown to the user (channel 0 = background) and the guidance that each network pass receives on the
next frame.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

MergeMode = Literal["soft", "soft-product", "naive", "wta"]
MERGE_MODES: tuple[str, ...] = ("soft", "soft-product", "naive", "wta")
EPS = 1e-7


def uses_background_pass(mode: MergeMode, num_objects: int) -> bool:
    """The soft aggregation as released runs one extra pass for the background when there are 2+ objects."""
    return mode == "soft" and num_objects > 1


def soft_aggregate(background_pass: Tensor, objects: Tensor) -> Tensor:
    """Paper eq. 1 as released.

    Args:
        background_pass: (h, w) output of the pass whose reference is the union of all objects, i.e. p(union).
        objects: (K, h, w) per-object probabilities.

    Returns:
        (K+1, h, w) softmax over the logits of [1 − p(union), p_1, ..., p_K], each clamped to [1e-7, 1 − 1e-7].
    """
    p = torch.cat([1 - background_pass[None], objects]).clamp(EPS, 1 - EPS)
    return torch.softmax(torch.log(p / (1 - p)), dim=0)


def naive_merge(objects: Tensor) -> Tensor:
    """Objects run independently; each pixel goes to the most probable object if it exceeds 0.5.

    Returns (K+1, h, w): [1 − max_k p_k, p_1, ..., p_K] normalised to sum to 1 (argmax unchanged).
    """
    p = torch.cat([1 - objects.max(dim=0, keepdim=True).values, objects])
    return p / p.sum(dim=0, keepdim=True)


def winner_take_all(objects: Tensor) -> Tensor:
    """Non-maximum object probabilities are set to zero at every step.

    Returns (K+1, h, w): [1 − p_winner, p_1 · [1 is winner], ..., p_K · [K is winner]].
    """
    winner = objects.argmax(dim=0, keepdim=True)
    kept = torch.zeros_like(objects).scatter_(0, winner, objects.gather(0, winner))
    return torch.cat([1 - kept.sum(dim=0, keepdim=True), kept])


def pass_masks(mode: MergeMode, objects: Tensor) -> Tensor:
    """Masks of the B network passes for the objects' (K, h, w) masks: [union, objects] with a background pass."""
    if uses_background_pass(mode, objects.shape[0]):
        return torch.cat([objects.sum(dim=0, keepdim=True), objects])
    return objects


def merge(mode: MergeMode, outputs: Tensor) -> tuple[Tensor, Tensor]:
    """Merge the B pass outputs of one frame.

    Args:
        mode: "soft", "soft-product" (eq. 1 without the background pass: cheaper), "naive" or "wta".
        outputs: (B, h, w) pass outputs; with a background pass (see :func:`uses_background_pass`) it comes first.

    Returns:
        distribution: (K+1, h, w), channel 0 = background.
        guidance: (B, h, w), what each pass sees as its mask on the next frame (unbinarised).
    """
    if mode not in MERGE_MODES:
        raise ValueError(f"unknown merge mode {mode!r}; choose one of {', '.join(MERGE_MODES)}")
    if uses_background_pass(mode, outputs.shape[0] - 1):
        distribution = soft_aggregate(outputs[0], outputs[1:])
        return distribution, pass_masks(mode, distribution[1:])
    if outputs.shape[0] == 1:  # one object: every mode reduces to [1 - p, p], as released
        return torch.cat([1 - outputs, outputs]), outputs
    if mode == "soft-product":  # eq. 1 with p(union) = 1 - prod_k (1 - p_k) instead of a background pass
        distribution = soft_aggregate(1 - torch.prod(1 - outputs, dim=0), outputs)
        return distribution, distribution[1:]
    if mode == "wta":
        distribution = winner_take_all(outputs)
        return distribution, distribution[1:]
    return naive_merge(outputs), outputs
