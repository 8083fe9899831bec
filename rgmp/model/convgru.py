"""Visual memory (paper §4.3): a 3×3 convolutional GRU placed after the global convolution block.

The paper adds it to carry information across frames and reports no gain; it is trained after stage 1 with the
other weights frozen (recursions grow by one every 3000 steps up to 5), then together with them.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class ConvGRU(nn.Module):
    """Convolutional GRU cell (Ballas et al., 2016) whose read-out is added to its input.

    ``out = x + h_t`` with ``h_t = (1 − z) · h_{t−1} + z · tanh(W_c * [x, r · h_{t−1}])`` and
    ``(z, r) = sigmoid(W_g * [x, h_{t−1}])``. The candidate convolution starts at zero, so a freshly added
    memory leaves a trained network's output unchanged (``h_t = 0`` until it learns something).

    Args:
        channels: width of the features and of the hidden state.
        kernel: convolution size (3 in the paper).
    """

    def __init__(self, channels: int, kernel: int = 3) -> None:
        super().__init__()
        self.gates = nn.Conv2d(2 * channels, 2 * channels, kernel, padding=kernel // 2)
        self.candidate = nn.Conv2d(2 * channels, channels, kernel, padding=kernel // 2)
        nn.init.zeros_(self.candidate.weight)
        nn.init.zeros_(self.candidate.bias)

    def forward(self, x: Tensor, hidden: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """x: (B, C, h, w) features; hidden: (B, C, h, w) or None (zeros) → (x + new hidden, new hidden)."""
        if hidden is None:
            hidden = torch.zeros_like(x)
        update, reset = torch.sigmoid(self.gates(torch.cat([x, hidden], dim=1))).chunk(2, dim=1)
        candidate = torch.tanh(self.candidate(torch.cat([x, reset * hidden], dim=1)))
        hidden = (1 - update) * hidden + update * candidate
        return x + hidden, hidden
