"""Device and precision selection, and what a device is called."""

from __future__ import annotations

import os
import platform
from functools import cache

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


def local_device(name: str | None = None) -> torch.device:
    """:func:`pick_device` for one process of several: a bare "cuda" under torchrun becomes ``cuda:$LOCAL_RANK``,
    so that each process of a machine takes its own GPU.

    Raises:
        ValueError: the device does not exist, or ``LOCAL_RANK`` names a GPU this machine lacks.
    """
    device = pick_device(name)
    local = os.environ.get("LOCAL_RANK")
    if device.type == "cuda" and device.index is None and local is not None:
        if not local.isdigit() or int(local) >= torch.cuda.device_count():
            raise ValueError(f"LOCAL_RANK={local} but this machine has {torch.cuda.device_count()} GPU(s)")
        device = torch.device("cuda", int(local))
    return device


def parse_dtype(name: str) -> torch.dtype | None:
    """ "fp32" → None (no autocast), "bf16" → torch.bfloat16, "fp16" → torch.float16."""
    if name not in DTYPES:
        raise ValueError(f"unknown precision {name!r}; choose one of {', '.join(DTYPES)}")
    return DTYPES[name]


def dtype_name(dtype: torch.dtype | None) -> str:
    """torch.bfloat16 → "bf16", None → "fp32" (the inverse of :func:`parse_dtype`)."""
    return next(name for name, value in DTYPES.items() if value == dtype)


@cache
def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX flags in /proc/cpuinfo; False elsewhere)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


def parse_precision(name: str) -> torch.dtype | None | str:
    """A precision name as a session takes it: "auto" stays "auto" (the session picks from the model's config and
    device), the others as :func:`parse_dtype`."""
    return "auto" if name == "auto" else parse_dtype(name)


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def device_name(device: torch.device) -> str:
    """Human name of a device: the GPU's name, or the CPU model."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "cpu":
        try:
            with open("/proc/cpuinfo") as fh:
                for line in fh:
                    if line.startswith("model name"):
                        return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return platform.processor() or platform.machine() or "cpu"
    return device.type
