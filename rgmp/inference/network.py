"""The network made ready to run, once per model and device, and kept across clips.

Preparing means moving the model to its device, folding its frozen BatchNorm into the convolutions, casting the
convolution weights to the autocast precision and switching to channels-last layout. A session runs a prepared
network; the demo keeps one between runs, and online learning prepares the copy it adapted the same way.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from rgmp.config import ModelConfig
from rgmp.device import cpu_has_native_bf16
from rgmp.model import RGMP
from rgmp.model.fold import fold_batchnorm

Precision = torch.dtype | None | Literal["auto"]
"""An autocast dtype (torch.bfloat16 or torch.float16), None for float32, or "auto" (see :func:`auto_precision`)."""


def auto_precision(config: ModelConfig, device: torch.device) -> torch.dtype | None:
    """bfloat16 for a light model on a CPU with native bf16 (about twice as fast; dev-split J&F within a point of
    float32), else float32: the paper model stays in float32, as released, and GPUs run what they are asked."""
    native = device.type == "cpu" and cpu_has_native_bf16()
    return torch.bfloat16 if config.family == "lite" and native else None


@dataclass(frozen=True)
class PreparedNetwork:
    """A model ready to run on one device.

    Attributes:
        model: the network as given, on the device (what online learning starts from; never changed).
        network: what runs: a copy with BatchNorm folded and convolution weights in ``dtype`` (or ``model``).
        device: where both live.
        dtype: the autocast precision (None = float32).
        channels_last: the network and its inputs are in channels-last layout.
        fold_batchnorm: ``network`` has its frozen BatchNorm folded into the convolutions.
    """

    model: RGMP
    network: RGMP
    device: torch.device
    dtype: torch.dtype | None
    channels_last: bool = True
    fold_batchnorm: bool = True

    @classmethod
    def build(
        cls,
        model: RGMP,
        device: torch.device | str = "cpu",
        *,
        dtype: Precision = None,
        channels_last: bool = True,
        fold_batchnorm: bool = True,
    ) -> PreparedNetwork:
        """Prepare ``model`` for ``device``; ``dtype="auto"`` picks the precision from the model's config."""
        device = torch.device(device)
        if dtype == "auto":
            dtype = auto_precision(model.config, device)
        memory_format = torch.channels_last if channels_last else torch.contiguous_format
        model = model.to(device, memory_format=memory_format).eval()
        network = _runnable(model, dtype, fold_batchnorm)
        return cls(model, network, device, dtype, channels_last, fold_batchnorm)

    def with_model(self, model: RGMP) -> PreparedNetwork:
        """The same preparation for another model of the same device (a copy adapted to one clip)."""
        return PreparedNetwork.build(
            model, self.device, dtype=self.dtype, channels_last=self.channels_last, fold_batchnorm=self.fold_batchnorm
        )

    @property
    def config(self) -> ModelConfig:
        return self.model.config


def _runnable(model: RGMP, dtype: torch.dtype | None, fold: bool) -> RGMP:
    """``model``, or a copy with its BatchNorm folded and, under autocast, its convolution weights already in the
    autocast precision (autocast would otherwise cast every weight on every frame; the results are the same bit for
    bit)."""
    if not fold and dtype is None:
        return model
    network = fold_batchnorm(model) if fold else copy.deepcopy(model)
    if dtype is not None:
        for module in network.modules():
            if isinstance(module, nn.Conv2d):
                module.to(dtype)
    return network
