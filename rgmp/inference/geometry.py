"""Padding and multi-scale resizing, as in the authors' release.

The network needs sides that are multiples of 32. The release always pads (``h + 32 - h % 32``: 1 to 32 pixels,
480 → 512), floor on top/left and the rest on bottom/right, with zeros on the [0, 1] image; each extra scale
resizes the padded canvas to ``int(h * s) + 32 - int(h * s) % 32`` (bilinear, half-pixel centres, no
antialiasing, like ``cv2.resize(..., INTER_LINEAR)``). The "minimal" mode pads only up to the next multiple of 32;
"stretch" does not pad: the frame is resized to the next multiples of 32 (the canvas is all frame).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor

from rgmp.config import PadMode


def padded_side(n: int, mode: PadMode) -> int:
    """Side length the network sees for a side of ``n`` pixels."""
    if mode == "released":
        return n + 32 - n % 32
    return max(32, -(-n // 32) * 32)


@dataclass(frozen=True)
class Canvas:
    """Where a (height, width) frame sits on the zero-padded canvas the network sees (for "stretch", the frame is
    resized to the canvas: height and width are the padded ones)."""

    height: int
    width: int
    padded_height: int
    padded_width: int
    top: int
    left: int

    @classmethod
    def for_frame(cls, height: int, width: int, mode: PadMode) -> Canvas:
        ph, pw = padded_side(height, mode), padded_side(width, mode)
        if mode == "stretch":
            return cls(ph, pw, ph, pw, 0, 0)
        return cls(height, width, ph, pw, (ph - height) // 2, (pw - width) // 2)

    def pad(self, x: Tensor) -> Tensor:
        """(..., height, width) → (..., padded_height, padded_width), zeros around."""
        bottom = self.padded_height - self.height - self.top
        right = self.padded_width - self.width - self.left
        return F.pad(x, (self.left, right, self.top, bottom))

    def crop(self, x: Tensor) -> Tensor:
        """(..., padded_height, padded_width) → (..., height, width)."""
        return x[..., self.top : self.top + self.height, self.left : self.left + self.width]

    def scaled_size(self, scale: float, mode: PadMode) -> tuple[int, int]:
        """Canvas size at an inference scale (the canvas itself at 1.0)."""
        if scale == 1.0:
            return self.padded_height, self.padded_width
        return (
            padded_side(int(self.padded_height * scale), mode),
            padded_side(int(self.padded_width * scale), mode),
        )


def resize(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Bilinear resize of (N, C, H, W) to ``size`` with half-pixel centres and no antialiasing (as released)."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)
