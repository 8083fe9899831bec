"""The training forward pass: encode the reference, then run N targets, each guided by the previous output."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rgmp.io.masks import VOID
from rgmp.model import RGMP


class Unrolled(nn.Module):
    """Wraps an :class:`~rgmp.model.RGMP` so that one ``forward`` runs a whole clip (and DDP sees one call).

    Gradients flow through every step: the guidance of step t is the soft output of step t-1 (not binarised,
    not detached), and a model with visual memory also carries its hidden state, so the loss of a late step
    reaches the first one (back-propagation through time).
    """

    def __init__(self, model: RGMP) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, reference: Tensor, reference_mask: Tensor, frames: Tensor, guidance: Tensor, steps: int | None = None
    ) -> Tensor:
        """Run a batch of clips.

        Args:
            reference: (B, 3, H, W) reference frames in [0, 1].
            reference_mask: (B, 1, H, W) reference masks in [0, 1].
            frames: (B, N, 3, H, W) target frames in [0, 1].
            guidance: (B, 1, H, W) guidance mask of the first target.
            steps: run only the first ``steps`` targets (None = all N).

        Returns:
            Logits (B, n, 2, H, W) over (background, object), n = ``steps`` or N.
        """
        reference_r5 = self.model.encode_reference(reference, reference_mask)
        outputs, hidden = [], None
        for t in range(frames.shape[1] if steps is None else steps):
            logits, hidden = self.model.step(frames[:, t], guidance, reference_r5, hidden)
            outputs.append(logits)
            guidance = torch.softmax(logits.float(), dim=1)[:, 1:2].to(guidance.dtype)
        return torch.stack(outputs, dim=1)


def clip_loss(logits: Tensor, labels: Tensor) -> Tensor:
    """Cross-entropy averaged over every step and pixel; void (:data:`~rgmp.io.masks.VOID`) pixels are ignored.

    logits: (B, n, 2, H, W); labels: (B, N, H, W) int64 with N >= n.
    """
    n = logits.shape[1]
    return F.cross_entropy(logits.flatten(0, 1).float(), labels[:, :n].flatten(0, 1), ignore_index=VOID)
