"""Siamese encoders: an ImageNet backbone whose stem also sees the guidance mask.

Both encoders take an RGB frame in [0, 1] and a one-channel mask (a probability in [0, 1], not normalised) and
return the four feature maps the decoder needs, deepest first: ``(r5, r4, r3, r2)`` at strides 32, 16, 8, 4.
The mask enters through its own convolution, shaped like the stem convolution and with a bias, whose output is
added to the stem's output before the first normalisation (equivalent to a 4-channel stem, as released).

The frame may have batch size 1 while the mask has batch size B: the frame's stem convolution then runs once and
is broadcast over the B masks (one mask per object), which is how the session batches objects.
"""

from __future__ import annotations

import timm
import torch
import torchvision
from timm.layers import create_conv2d, freeze_batch_norm_2d
from torch import Tensor, nn
from torchvision.ops import FrozenBatchNorm2d

Features = tuple[Tensor, Tensor, Tensor, Tensor]


class _NormalisedInput(nn.Module):
    """Holds the input normalisation as buffers (the released file stores them as ``Encoder.mean/std``)."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))

    def normalise(self, frame: Tensor) -> Tensor:
        return (frame - self.mean) / self.std


class ResNetEncoder(_NormalisedInput):
    """ResNet-50 (torchvision, frozen BatchNorm) with the mask added after ``conv1``. Channels 256/512/1024/2048."""

    channels = (256, 512, 1024, 2048)

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__(mean, std)
        resnet = torchvision.models.resnet50(weights=None, norm_layer=FrozenBatchNorm2d)
        self.mask_conv = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=True)
        self.conv1 = resnet.conv1
        self.bn1 = resnet.bn1
        self.relu = resnet.relu
        self.maxpool = resnet.maxpool
        self.layer1 = resnet.layer1
        self.layer2 = resnet.layer2
        self.layer3 = resnet.layer3
        self.layer4 = resnet.layer4

    def forward(self, frame: Tensor, mask: Tensor) -> Features:
        """frame: (1 or B, 3, H, W) in [0, 1]; mask: (B, 1, H, W) in [0, 1]; H, W multiples of 32."""
        x = self.conv1(self.normalise(frame)) + self.mask_conv(mask)
        x = self.maxpool(self.relu(self.bn1(x)))
        r2 = self.layer1(x)
        r3 = self.layer2(r2)
        r4 = self.layer3(r3)
        r5 = self.layer4(r4)
        return r5, r4, r3, r2


class LiteEncoder(_NormalisedInput):
    """EfficientNet-Lite0/1/2 (timm ``tf_efficientnet_lite*``, frozen BatchNorm) with the mask added at the stem.

    Channels at strides 4/8/16/32: 24/40/112/320 for Lite0 and Lite1, 24/48/120/352 for Lite2.
    """

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...], name: str = "efficientnet_lite0") -> None:
        super().__init__(mean, std)
        body = timm.create_model(f"tf_{name}", pretrained=False, features_only=True, out_indices=(1, 2, 3, 4))
        self.body = freeze_batch_norm_2d(body)
        stem = self.body.conv_stem
        self.mask_conv = create_conv2d(
            1, stem.out_channels, stem.kernel_size[0], stride=stem.stride[0], padding="same", bias=True
        )
        self.channels = tuple(body.feature_info.channels())
        # "blocks.6" -> 6: the block after which each feature map is taken.
        self._taps = {int(name.split(".")[1]) for name in body.feature_info.module_name()}

    def forward(self, frame: Tensor, mask: Tensor) -> Features:
        """frame: (1 or B, 3, H, W) in [0, 1]; mask: (B, 1, H, W) in [0, 1]; H, W multiples of 32."""
        x = self.body.conv_stem(self.normalise(frame)) + self.mask_conv(mask)
        x = self.body.bn1(x)
        features = []
        for index, block in enumerate(self.body.blocks):
            x = block(x)
            if index in self._taps:
                features.append(x)
        r2, r3, r4, r5 = features
        return r5, r4, r3, r2
