"""The RGMP network: a Siamese encoder and a refinement decoder."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from rgmp.config import ModelConfig
from rgmp.model.decoder import Decoder
from rgmp.model.encoder import Features, LiteEncoder, ResNetEncoder


class RGMP(nn.Module):
    """Reference-guided mask propagation network (Oh et al., CVPR 2018, Fig. 2).

    ``encode_reference`` runs the encoder on the annotated frame and its mask once per clip and scale;
    ``forward`` runs it on the target frame with the previous frame's soft mask and decodes, against the cached
    reference features, a two-class map (background, object) at the input size.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        if config.encoder == "resnet50":
            self.encoder: ResNetEncoder | LiteEncoder = ResNetEncoder(config.mean, config.std)
        else:
            self.encoder = LiteEncoder(config.mean, config.std, config.encoder)
        self.decoder = Decoder(
            self.encoder.channels, config.decoder_width, config.gc_kernel, config.aux_heads, config.memory
        )

    def encode_reference(self, frame: Tensor, mask: Tensor) -> Tensor:
        """frame: (1 or B, 3, H, W) in [0, 1]; mask: (B, 1, H, W) in [0, 1] → reference r5 (B, C5, H/32, W/32)."""
        return self.encoder(frame, mask)[0]

    def forward(self, frame: Tensor, mask: Tensor, reference_r5: Tensor) -> Tensor:
        """Segment one object per batch entry.

        Args:
            frame: (1 or B, 3, H, W) target frame in [0, 1]; H and W multiples of 32.
            mask: (B, 1, H, W) guidance mask in [0, 1] (the previous frame's soft output).
            reference_r5: (B or 1, C5, H/32, W/32) from :meth:`encode_reference`.

        Returns:
            Logits (B, 2, H, W) over (background, object); ``softmax(dim=1)[:, 1]`` is the object probability.
        """
        return self.step(frame, mask, reference_r5)[0]

    def step(
        self, frame: Tensor, mask: Tensor, reference_r5: Tensor, hidden: Tensor | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """:meth:`forward` that also carries the visual memory: returns (logits (B, 2, H, W), new hidden state).

        ``hidden`` is None on the first target frame; without memory (``config.memory`` False) it stays None.
        """
        return self.decode(self.encoder(frame, mask), reference_r5, hidden)

    def decode(
        self, target: Features, reference_r5: Tensor, hidden: Tensor | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """The decoder half of :meth:`step`, on the target's encoder features (r5, r4, r3, r2): returns (logits
        (B, 2, H, W) at the input size, new hidden state)."""
        logits, hidden = self.decoder(target, reference_r5, hidden)
        return F.interpolate(logits, scale_factor=4, mode="bilinear", align_corners=True), hidden
