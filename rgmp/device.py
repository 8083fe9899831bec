"""Device and precision selection."""

from __future__ import annotations

import torch

DTYPES: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def pick_device(name: str | None = None) -> torch.device:
    """The requested device, else CUDA, then Apple MPS, then CPU.

    Raises:
        ValueError: the requested device does not exist on this machine.
    """
    if name and name != "auto":
        try:
            device = torch.device(name)
        except RuntimeError:
            raise ValueError(f"unknown device {name!r}; use cpu, cuda, cuda:N, mps or auto") from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {name!r} requested but CUDA is not available on this machine")
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise ValueError(f"device {name!r} requested but Apple MPS is not available on this machine")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def parse_dtype(name: str) -> torch.dtype | None:
    """ "fp32" → None (no autocast), "bf16" → torch.bfloat16, "fp16" → torch.float16."""
    if name not in DTYPES:
        raise ValueError(f"unknown precision {name!r}; choose one of {', '.join(DTYPES)}")
    return DTYPES[name]
