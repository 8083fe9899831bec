"""The RGMP decoder: global convolution block, residual block, refinement modules, prediction head.

Names follow the authors' release (``conv_l1``, ``convFS1``, ...) so that the key map stays short and obvious.
All upsampling is bilinear with ``align_corners=True``, as in the release (PyTorch 0.3.1 semantics).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rgmp.model.convgru import ConvGRU


class GlobalConv(nn.Module):
    """Global convolution block (Peng et al. 2017): (k×1 → 1×k) + (1×k → k×1), with bias, no BN, no ReLU."""

    def __init__(self, in_channels: int, width: int, kernel: int = 7) -> None:
        super().__init__()
        pad = kernel // 2
        self.conv_l1 = nn.Conv2d(in_channels, width, kernel_size=(kernel, 1), padding=(pad, 0))
        self.conv_l2 = nn.Conv2d(width, width, kernel_size=(1, kernel), padding=(0, pad))
        self.conv_r1 = nn.Conv2d(in_channels, width, kernel_size=(1, kernel), padding=(0, pad))
        self.conv_r2 = nn.Conv2d(width, width, kernel_size=(kernel, 1), padding=(pad, 0))

    def forward(self, x: Tensor) -> Tensor:
        return self.conv_l2(self.conv_l1(x)) + self.conv_r2(self.conv_r1(x))


class Refine(nn.Module):
    """Refinement module: transform the skip, add the upsampled coarser map, refine with a residual unit."""

    def __init__(self, skip_channels: int, width: int) -> None:
        super().__init__()
        self.convFS1 = nn.Conv2d(skip_channels, width, kernel_size=3, padding=1)
        self.convFS2 = nn.Conv2d(width, width, kernel_size=3, padding=1)
        self.convFS3 = nn.Conv2d(width, width, kernel_size=3, padding=1)
        self.convMM1 = nn.Conv2d(width, width, kernel_size=3, padding=1)
        self.convMM2 = nn.Conv2d(width, width, kernel_size=3, padding=1)

    def forward(self, skip: Tensor, coarse: Tensor) -> Tensor:
        """skip: (B, C_skip, 2h, 2w); coarse: (B, width, h, w) → (B, width, 2h, 2w)."""
        s = self.convFS1(skip)
        s = s + self.convFS3(F.relu(self.convFS2(F.relu(s))))
        m = s + F.interpolate(coarse, size=s.shape[-2:], mode="bilinear", align_corners=True)
        return m + self.convMM2(F.relu(self.convMM1(F.relu(m))))


class Decoder(nn.Module):
    """Merges target and reference features and decodes a 2-class (background, object) map at stride 4."""

    def __init__(
        self,
        encoder_channels: tuple[int, int, int, int],
        width: int,
        kernel: int,
        aux_heads: bool,
        memory: bool = False,
    ):
        super().__init__()
        c2, c3, c4, c5 = encoder_channels
        self.GC = GlobalConv(2 * c5, width, kernel)
        self.convG1 = nn.Conv2d(width, width, kernel_size=3, padding=1)
        self.convG2 = nn.Conv2d(width, width, kernel_size=3, padding=1)
        self.RF4 = Refine(c4, width)
        self.RF3 = Refine(c3, width)
        self.RF2 = Refine(c2, width)
        self.pred2 = nn.Conv2d(width, 2, kernel_size=3, padding=1)
        # Deep-supervision heads on m3..m5: present in the released file, never run at inference.
        self.aux = (
            nn.ModuleDict({f"pred{i}": nn.Conv2d(width, 2, kernel_size=3, padding=1) for i in (3, 4, 5)})
            if aux_heads
            else None
        )
        self.memory = ConvGRU(width) if memory else None

    def forward(
        self, target: tuple[Tensor, Tensor, Tensor, Tensor], reference_r5: Tensor, hidden: Tensor | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """target: (r5, r4, r3, r2) of the target frame; reference_r5: (B or 1, C5, h, w); hidden: the visual
        memory's state (B, width, h, w) or None (first frame, or no memory).

        Returns (logits (B, 2, H/4, W/4), new hidden state or None without memory).
        """
        r5, r4, r3, r2 = target
        x = self.GC(torch.cat([r5, reference_r5.expand_as(r5)], dim=1))
        if self.memory is not None:
            x, hidden = self.memory(x, hidden)
        m5 = x + self.convG2(F.relu(self.convG1(F.relu(x))))
        m4 = self.RF4(r4, m5)
        m3 = self.RF3(r3, m4)
        m2 = self.RF2(r2, m3)
        return self.pred2(F.relu(m2)), hidden
