"""The authors' released RGMP inference, re-expressed for current PyTorch: the oracle of ``test_official.py``.

Written from the release's description in RGMP_NOTES.md and kept deliberately literal: the module names are the
released file's (``Encoder.conv1_p``, ``Encoder.res2``...), BatchNorm is plain ``nn.BatchNorm2d`` in eval mode,
images and masks are resized with OpenCV exactly as the release does, objects and scales run one at a time in
Python loops, and the several-object softmax is done on the whole padded canvas. Nothing here is shared with the
library, so agreement between the two is evidence that the library reproduces the release.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from torch import nn


class Encoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        resnet = torchvision.models.resnet50(weights=None)
        self.conv1_p = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=True)
        self.conv1, self.bn1, self.relu, self.maxpool = resnet.conv1, resnet.bn1, resnet.relu, resnet.maxpool
        self.res2, self.res3, self.res4, self.res5 = (
            resnet.layer1,
            resnet.layer2,
            resnet.layer3,
            resnet.layer4,
        )
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def forward(self, frame, mask):  # frame (1,3,H,W), mask (1,H,W)
        x = self.conv1((frame - self.mean) / self.std) + self.conv1_p(mask[:, None])
        x = self.maxpool(self.relu(self.bn1(x)))
        r2 = self.res2(x)
        r3 = self.res3(r2)
        r4 = self.res4(r3)
        return self.res5(r4), r4, r3, r2


class GC(nn.Module):
    def __init__(self, inplanes: int, planes: int, k: int = 7) -> None:
        super().__init__()
        self.conv_l1 = nn.Conv2d(inplanes, 256, (k, 1), padding=(k // 2, 0))
        self.conv_l2 = nn.Conv2d(256, planes, (1, k), padding=(0, k // 2))
        self.conv_r1 = nn.Conv2d(inplanes, 256, (1, k), padding=(0, k // 2))
        self.conv_r2 = nn.Conv2d(256, planes, (k, 1), padding=(k // 2, 0))

    def forward(self, x):
        return self.conv_l2(self.conv_l1(x)) + self.conv_r2(self.conv_r1(x))


class Refine(nn.Module):
    def __init__(self, inplanes: int, planes: int) -> None:
        super().__init__()
        for name, cin in (("convFS1", inplanes), ("convFS2", planes), ("convFS3", planes)):
            setattr(self, name, nn.Conv2d(cin, planes, 3, padding=1))
        self.convMM1 = nn.Conv2d(planes, planes, 3, padding=1)
        self.convMM2 = nn.Conv2d(planes, planes, 3, padding=1)

    def forward(self, f, pm):
        s = self.convFS1(f)
        s = s + self.convFS3(F.relu(self.convFS2(F.relu(s))))
        m = s + F.interpolate(pm, scale_factor=2, mode="bilinear", align_corners=True)
        return m + self.convMM2(F.relu(self.convMM1(F.relu(m))))


class Decoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.GC = GC(4096, 256)
        self.convG1 = nn.Conv2d(256, 256, 3, padding=1)
        self.convG2 = nn.Conv2d(256, 256, 3, padding=1)
        self.RF4, self.RF3, self.RF2 = Refine(1024, 256), Refine(512, 256), Refine(256, 256)
        for i in (2, 3, 4, 5):
            setattr(self, f"pred{i}", nn.Conv2d(256, 2, 3, padding=1))

    def forward(self, r5, x5, r4, r3, r2):
        x = self.GC(torch.cat((r5, x5), dim=1))
        m5 = x + self.convG2(F.relu(self.convG1(F.relu(x))))
        m2 = self.RF2(r2, self.RF3(r3, self.RF4(r4, m5)))
        return F.interpolate(self.pred2(F.relu(m2)), scale_factor=4, mode="bilinear", align_corners=True)


class ReleasedRGMP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.Encoder = Encoder()
        self.Decoder = Decoder()


def _downsample(x: np.ndarray, scale: float) -> np.ndarray:
    """(C,H,W) or (H,W) float32 → resized like the release's ``downsample``."""
    h, w = x.shape[-2:]
    nh, nw = int(h * scale), int(w * scale)
    size = (nw + 32 - nw % 32, nh + 32 - nh % 32)
    if x.ndim == 3:
        return np.transpose(cv2.resize(np.transpose(x, (1, 2, 0)), size, interpolation=cv2.INTER_LINEAR), (2, 0, 1))
    return cv2.resize(x, size, interpolation=cv2.INTER_LINEAR)


@torch.no_grad()
def released_inference(
    model: ReleasedRGMP, frames: list[np.ndarray], mask: np.ndarray, scales=(0.5, 0.75, 1.0)
) -> np.ndarray:
    """frames: (H,W,3) uint8; mask: (H,W) label map 0..K → (T, K+1, H, W) probabilities, as released."""
    h, w = mask.shape
    nh, nw = h + 32 - h % 32, w + 32 - w % 32
    lh, lw = (nh - h) // 2, (nw - w) // 2
    pad = ((lh, nh - h - lh), (lw, nw - w - lw))
    images = [np.pad(f.astype(np.float32) / 255.0, (*pad, (0, 0))).transpose(2, 0, 1).copy() for f in frames]
    k = int(mask.max())
    onehot = [np.pad((mask == o + 1).astype(np.float32), pad) for o in range(k)]

    def encode(image, m):
        ref = {}
        for sc in scales:
            fi, mi = (image, m) if sc == 1.0 else (_downsample(image, sc), _downsample(m, sc))
            ref[sc] = model.Encoder(torch.from_numpy(fi)[None], torch.from_numpy(mi)[None])[0]
        return ref

    def propagate(ref, image, m):
        out = np.zeros_like(m)
        for sc in scales:
            fi, mi = (image, m) if sc == 1.0 else (_downsample(image, sc), _downsample(m, sc))
            r5, r4, r3, r2 = model.Encoder(torch.from_numpy(fi)[None], torch.from_numpy(mi)[None])
            p = F.softmax(model.Decoder(r5, ref[sc], r4, r3, r2), dim=1)[0, 1].numpy()
            out += p if sc == 1.0 else cv2.resize(p, (nw, nh), interpolation=cv2.INTER_LINEAR)
        return out / len(scales)

    results = np.zeros((len(frames), k + 1, nh, nw), dtype=np.float32)
    results[0, 1:] = np.stack(onehot)
    results[0, 0] = 1 - results[0, 1:].sum(0)
    refs = [encode(images[0], onehot[o]) for o in range(k)]
    if k == 1:
        for t in range(1, len(frames)):
            p = propagate(refs[0], images[t], results[t - 1, 1])
            results[t] = [1 - p, p]
    else:
        ref_bg = encode(images[0], results[0, 1:].sum(0))
        for t in range(1, len(frames)):
            e = np.zeros((k + 1, nh, nw), dtype=np.float32)
            e[0] = 1 - propagate(ref_bg, images[t], results[t - 1, 1:].sum(0))
            for o in range(k):
                e[o + 1] = propagate(refs[o], images[t], results[t - 1, o + 1])
            e = np.clip(e, 1e-7, 1 - 1e-7)
            results[t] = torch.softmax(torch.from_numpy(np.log(e / (1 - e))), dim=0).numpy()
    return results[:, :, lh : lh + h, lw : lw + w]


def load_released(state: dict[str, torch.Tensor]) -> ReleasedRGMP:
    """A :class:`ReleasedRGMP` holding a ``weights.pth``-style state dict (``module.`` prefix, no
    ``num_batches_tracked``); every other key must match exactly."""
    model = ReleasedRGMP()
    result = model.load_state_dict({k.removeprefix("module."): v for k, v in state.items()}, strict=False)
    assert not result.unexpected_keys, result.unexpected_keys
    assert all(k.endswith("num_batches_tracked") for k in result.missing_keys), result.missing_keys
    return model.eval()
