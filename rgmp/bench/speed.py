"""Speed benchmark: time per frame against a ResNet-50 yardstick timed in the same run.

Every case segments a synthetic clip with :class:`rgmp.inference.Session` (so it measures what users run: padding,
scales, merging, the channels-last fast path) and records, for the target frames after warm-up, the median time and
its spread, the reference-encoding time, frames per second, peak memory and GFLOP per frame. A plain torchvision
ResNet-50 forward at the same input size, device and precision is timed beside each case, and each figure is also
given as a ratio to it: machines are noisy, ratios travel.
"""

from __future__ import annotations

import itertools
import math
import statistics
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import torch
import torchvision
from torch.utils.flop_counter import FlopCounterMode
from tqdm import tqdm

from rgmp.bench import BenchmarkError
from rgmp.bench.memory import PeakMemory
from rgmp.bench.tables import markdown_table
from rgmp.config import PRESETS, ModelConfig
from rgmp.device import DTYPES, device_name, parse_dtype, synchronize
from rgmp.inference import Session, SessionOptions
from rgmp.inference.geometry import Canvas
from rgmp.inference.merge import uses_background_pass
from rgmp.model import RGMP, build_model

SIZES: dict[str, tuple[int, int]] = {"480p": (480, 854), "720p": (720, 1280)}
SCALE_SETS: dict[int, tuple[float, ...]] = {1: (1.0,), 3: (0.5, 0.75, 1.0)}
RECORD_KEYS: tuple[str, ...] = (
    "model", "weights", "scales", "objects", "merge", "dtype", "device", "device_name", "threads", "height", "width",
    "warmup", "repeats", "ms_per_frame", "ms_min", "ms_max", "ms_samples", "reference_ms", "fps",
    "peak_memory_mb", "memory_kind", "gflop_per_frame", "reference_gflop", "achieved_gflops", "yardstick_ms",
    "yardstick_memory_mb", "yardstick_gflop", "ratio", "reference_ratio", "memory_ratio", "gflop_ratio",
)  # fmt: skip
"""Keys of every JSON record, in order."""


@dataclass(frozen=True)
class BenchCase:
    """One measured configuration.

    Attributes:
        model: model name ("paper", "lite", or the name in a weights file's config).
        scales: inference scales.
        objects: objects in the clip (two or more add the background pass of the soft merge).
        dtype: "fp32", "bf16" or "fp16" (autocast).
        device: torch device string ("cpu", "cuda", "cuda:1", ...).
        height, width: frame size.
    """

    model: str
    scales: tuple[float, ...]
    objects: int
    dtype: str
    device: str
    height: int
    width: int


@dataclass(frozen=True)
class Axes:
    """The values of each factor; the first value of each is the base point.

    Attributes:
        models, scale_counts, objects, devices, sizes: factor values.
        dtypes: precisions per device type ("cpu" → ("fp32", "bf16"), "cuda" → ("fp32", "fp16")).
    """

    models: tuple[str, ...]
    scale_counts: tuple[int, ...]
    objects: tuple[int, ...]
    devices: tuple[str, ...]
    sizes: tuple[tuple[int, int], ...]
    dtypes: dict[str, tuple[str, ...]]

    def dtypes_for(self, device: str) -> tuple[str, ...]:
        kind = torch.device(device).type
        return self.dtypes.get(kind, self.dtypes.get("*", ("fp32",)))


def default_axes(*, full: bool = False) -> Axes:
    """Every factor of the issue: paper and light model, 1 and 3 scales, 1, 2 and 4 objects, fp32 and bf16 (CPU)
    or fp16 (CUDA; with ``full`` also bf16), CPU and CUDA when present, 480p and 720p."""
    devices = ("cpu", "cuda") if torch.cuda.is_available() else ("cpu",)
    cuda = ("fp32", "fp16", "bf16") if full else ("fp32", "fp16")
    return Axes(
        models=("lite", "paper"),
        scale_counts=(1, 3),
        objects=(1, 2, 4),
        devices=devices,
        sizes=(SIZES["480p"], SIZES["720p"]),
        dtypes={"cpu": ("fp32", "bf16"), "cuda": cuda, "mps": ("fp32", "fp16")},
    )


def build_cases(axes: Axes, *, full: bool = False) -> list[BenchCase]:
    """The cases to measure.

    ``full``: every combination of the axes. Otherwise a design that fits a few minutes on a 2-core CPU: the first
    model one factor at a time around the base point (first value of every axis), and every other model at the base
    point in each precision.
    """
    cases: list[BenchCase] = []

    def add(model: str, count: int, objects: int, dtype: str, device: str, size: tuple[int, int]) -> None:
        case = BenchCase(model, SCALE_SETS[count], objects, dtype, device, *size)
        if case not in cases:
            cases.append(case)

    for device in axes.devices:
        dtypes = axes.dtypes_for(device)
        for model in axes.models:
            if full:
                grid = itertools.product(axes.scale_counts, axes.objects, dtypes, axes.sizes)
                for count, objects, dtype, size in grid:
                    add(model, count, objects, dtype, device, size)
                continue
            base = (model, axes.scale_counts[0], axes.objects[0], dtypes[0], device, axes.sizes[0])
            add(*base)
            for dtype in dtypes[1:]:
                add(model, base[1], base[2], dtype, device, base[5])
            if model != axes.models[0]:
                continue
            for count in axes.scale_counts[1:]:
                add(model, count, base[2], base[3], device, base[5])
            for objects in axes.objects[1:]:
                add(model, base[1], objects, base[3], device, base[5])
            for size in axes.sizes[1:]:
                add(model, base[1], base[2], base[3], device, size)
    return cases


def parse_size(text: str) -> tuple[int, int]:
    """ "480p" / "720p" or "HxW" → (height, width)."""
    if text in SIZES:
        return SIZES[text]
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise BenchmarkError(f"size {text!r} is neither {' nor '.join(SIZES)} nor HxW (e.g. 480x854)") from None
    if height < 32 or width < 32:
        raise BenchmarkError(f"size {text!r} is too small (at least 32x32)")
    return height, width


# ----------------------------------------------------------------------------------------------------------------
# measuring


def synthetic_clip(height: int, width: int, objects: int, frames: int, seed: int = 0) -> tuple[list, np.ndarray]:
    """``frames`` (H, W, 3) uint8 frames of squares drifting over a smooth background, and the first-frame mask
    with object ids 1..``objects`` (one rectangle each, side by side)."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width]
    background = (127 + 60 * np.sin(xs / 23.0)[..., None] * np.cos(ys / 31.0)[..., None] * np.ones(3)).astype(np.uint8)
    band = max(1, width // (objects + 1))
    top, bottom = height // 4, 3 * height // 4
    clip = []
    for t in range(frames):
        frame = background.copy()
        for k in range(objects):
            left = (k * band + band // 2 + 2 * t) % max(1, width - band // 2)
            frame[top:bottom, left : left + band // 2] = rng.integers(150, 255, 3, dtype=np.uint8)
        clip.append(frame)
    mask = np.zeros((height, width), np.uint8)
    for k in range(objects):
        left = k * band + band // 2
        mask[top:bottom, left : left + band // 2] = k + 1
    return clip, mask


@lru_cache(maxsize=64)
def count_gflop(
    config: ModelConfig, height: int, width: int, scales: tuple[float, ...], passes: int
) -> tuple[float, float]:
    """GFLOP of the network passes, counted on the meta device.

    Per scale the session runs ``passes`` masks (objects, plus the background pass) through the network on the
    padded, scaled canvas; the reference is encoded once per scale. Resizing, merging and the softmax are not
    counted (they are not matmuls or convolutions).

    Returns:
        (GFLOP per target frame, GFLOP of the reference encoding).
    """
    with torch.device("meta"):
        model = build_model(config).eval()
    canvas = Canvas.for_frame(height, width, config.pad_mode)
    frame_flop = reference_flop = 0
    with torch.inference_mode():
        for scale in scales:
            h, w = canvas.scaled_size(scale, config.pad_mode)
            frame = torch.zeros(1, 3, h, w, device="meta")
            mask = torch.zeros(passes, 1, h, w, device="meta")
            counter = FlopCounterMode(display=False)
            with counter:
                r5 = model.encode_reference(frame, mask)
            reference_flop += counter.get_total_flops()
            counter = FlopCounterMode(display=False)
            with counter:
                model(frame, mask, r5)
            frame_flop += counter.get_total_flops()
    return frame_flop / 1e9, reference_flop / 1e9


@lru_cache(maxsize=16)
def yardstick_gflop(height: int, width: int) -> float:
    """GFLOP of one torchvision ResNet-50 forward on a (1, 3, height, width) input."""
    with torch.device("meta"):
        net = torchvision.models.resnet50(weights=None).eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        net(torch.zeros(1, 3, height, width, device="meta"))
    return counter.get_total_flops() / 1e9


def _autocast(device: torch.device, dtype: str):
    torch_dtype = parse_dtype(dtype)
    return torch.autocast(device.type, dtype=torch_dtype, enabled=torch_dtype is not None)


class Yardstick:
    """A torchvision ResNet-50 (random weights, eval, channels-last like the session) on a (1, 3, H, W) input, on
    the case's device and precision; one call = one forward, timed."""

    def __init__(self, case: BenchCase) -> None:
        self.device = torch.device(case.device)
        self.dtype = case.dtype
        self.net = torchvision.models.resnet50(weights=None).eval().to(self.device, memory_format=torch.channels_last)
        x = torch.rand(1, 3, case.height, case.width, device=self.device)
        self.input = x.contiguous(memory_format=torch.channels_last)

    def __call__(self) -> float:
        """Seconds of one forward pass."""
        with torch.inference_mode(), _autocast(self.device, self.dtype):
            synchronize(self.device)
            start = time.perf_counter()
            self.net(self.input)
            synchronize(self.device)
        return time.perf_counter() - start


def _timed(step) -> float:
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def measure(
    case: BenchCase,
    model: RGMP,
    weights: str,
    *,
    warmup: int,
    repeats: int,
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Measure one case; returns its JSON record (keys :data:`RECORD_KEYS`).

    The timed target frames alternate with yardstick forwards, so that both see the same load on a shared machine;
    ``ratio`` is the median of the per-pair ratios. Peak memory is taken over the warm-up only (the reference frame
    and the warm-up frames; for the yardstick its warm-up forwards), where nothing else runs.

    Args:
        case: the configuration.
        model: the network (moved to the case's device by the session).
        weights: where its weights come from, for the record ("random-init" or a path).
        warmup: target frames (and yardstick forwards) run before timing, at least 1.
        repeats: timed target frames (and yardstick forwards), at least 1.
        options: :class:`SessionOptions` fields besides the case's scales.
    """
    if repeats < 1 or warmup < 1:
        raise BenchmarkError(f"need --warmup >= 1 and --repeats >= 1, got {warmup} and {repeats}")
    device = torch.device(case.device)
    yardstick = Yardstick(case)
    with PeakMemory(device) as yard_memory:
        for _ in range(warmup):
            yardstick()
    options = SessionOptions(scales=case.scales, **(options or {}))
    session = Session(model, device, options, dtype=parse_dtype(case.dtype))
    frames, mask = synthetic_clip(case.height, case.width, case.objects, 1 + warmup + repeats)
    results = session.propagate(iter(frames), mask)
    # next(results) returns once the frame's probabilities reached the CPU, so the device is synchronised
    with PeakMemory(device) as memory:
        reference_s = _timed(lambda: next(results))  # the annotated frame: reference encoding at every scale
        for _ in range(warmup):
            next(results)
    timed, yard = [], []
    for _ in range(repeats):
        timed.append(_timed(lambda: next(results)))
        yard.append(yardstick())
    ms, yard_ms = 1000 * statistics.median(timed), 1000 * statistics.median(yard)
    yard_mb = yard_memory.megabytes
    passes = case.objects + 1 if uses_background_pass(options.merge, case.objects) else case.objects
    gflop, reference_gflop = count_gflop(model.config, case.height, case.width, case.scales, passes)
    yard_gflop = yardstick_gflop(case.height, case.width)
    return {
        "model": case.model,
        "weights": weights,
        "scales": list(case.scales),
        "objects": case.objects,
        "merge": options.merge,
        "dtype": case.dtype,
        "device": case.device,
        "device_name": device_name(device),
        "threads": torch.get_num_threads(),
        "height": case.height,
        "width": case.width,
        "warmup": warmup,
        "repeats": repeats,
        "ms_per_frame": ms,
        "ms_min": 1000 * min(timed),
        "ms_max": 1000 * max(timed),
        "ms_samples": [1000 * t for t in timed],
        "reference_ms": 1000 * reference_s,
        "fps": 1000 / ms,
        "peak_memory_mb": memory.megabytes,
        "memory_kind": memory.kind,
        "gflop_per_frame": gflop,
        "reference_gflop": reference_gflop,
        "achieved_gflops": gflop / (ms / 1000),
        "yardstick_ms": yard_ms,
        "yardstick_memory_mb": yard_mb,
        "yardstick_gflop": yard_gflop,
        "ratio": statistics.median(t / y for t, y in zip(timed, yard, strict=True)),
        "reference_ratio": 1000 * reference_s / yard_ms,
        "memory_ratio": memory.megabytes / yard_mb if yard_mb > 0 else math.nan,
        "gflop_ratio": gflop / yard_gflop,
    }


def check_cases(
    cases: Iterable[BenchCase], models: dict[str, tuple[RGMP, str]], warmup: int | None, repeats: int | None
) -> None:
    """Refuse, before anything is measured, frame counts below 1, unknown precisions and models, and CUDA on a
    machine without it (one-line :class:`BenchmarkError`)."""
    if (warmup is not None and warmup < 1) or (repeats is not None and repeats < 1):
        raise BenchmarkError(f"need --warmup >= 1 and --repeats >= 1, got {warmup} and {repeats}")
    for case in cases:
        if case.dtype not in DTYPES:
            raise BenchmarkError(f"unknown precision {case.dtype!r}; choose among {', '.join(DTYPES)}")
        if case.model not in models and case.model not in PRESETS:
            raise BenchmarkError(f"unknown model {case.model!r}; choose among {', '.join(PRESETS)} or give --weights")
        if torch.device(case.device).type == "cuda" and not torch.cuda.is_available():
            raise BenchmarkError(f"device {case.device!r} requested but CUDA is not available on this machine")


def model_for(name: str, models: dict[str, tuple[RGMP, str]]) -> tuple[RGMP, str]:
    """``models[name]``, first built with seeded random weights from :data:`rgmp.config.PRESETS` if absent."""
    if name not in models:
        torch.manual_seed(0)
        models[name] = (build_model(PRESETS[name]).eval(), "random-init")
    return models[name]


def run_cases(
    cases: Sequence[BenchCase],
    models: dict[str, tuple[RGMP, str]],
    *,
    warmup: int | None = None,
    repeats: int | None = None,
    options: dict[str, Any] | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Measure every case, in order.

    Args:
        cases: what to measure.
        models: model name → (network, weights description); names absent here are built with seeded random
            weights from :data:`rgmp.config.PRESETS`.
        warmup, repeats: frames before timing and timed frames; None = 1 and 2 for the paper model on a CPU
            (about 1.8 s a frame), 1 and 3 otherwise.
        options: :class:`SessionOptions` fields for every case (e.g. ``{"merge": "soft-product"}``).
        progress: show a progress bar over the cases.
    """
    check_cases(cases, models, warmup, repeats)
    records = []
    for case in tqdm(cases, desc="bench", unit="case", disable=not progress):
        model, weights = model_for(case.model, models)
        slow = case.model == "paper" and torch.device(case.device).type == "cpu"
        records.append(
            measure(
                case,
                model,
                weights,
                warmup=warmup if warmup is not None else 1,
                repeats=repeats if repeats is not None else (2 if slow else 3),
                options=options,
            )
        )
    return records


# ----------------------------------------------------------------------------------------------------------------
# output


def _objects(record: dict[str, Any]) -> str:
    """The objects cell: the count, and the merge when it is not the default."""
    merge = record.get("merge") or "soft"
    return str(record["objects"]) if merge == "soft" else f"{record['objects']} ({merge})"


def speed_table(records: Iterable[dict[str, Any]]) -> str:
    """The short table for people: one line per case, every figure also as a ratio to the ResNet-50 yardstick."""
    rows = [
        [r["model"], ",".join(f"{s:g}" for s in r["scales"]), _objects(r), r["dtype"], r["device"],
         f"{r['height']}x{r['width']}", f"{r['ms_per_frame']:.0f} [{r['ms_min']:.0f}–{r['ms_max']:.0f}]",
         f"{r['ratio']:.2f}", f"{r['reference_ms']:.0f} ({r['reference_ratio']:.2f})", f"{r['fps']:.2f}",
         f"{r['peak_memory_mb']:.0f} ({r['memory_ratio']:.1f})", f"{r['gflop_per_frame']:.1f} ({r['gflop_ratio']:.2f})",
         f"{r['yardstick_ms']:.0f}"]
        for r in records
    ]  # fmt: skip
    header = ["model", "scales", "obj", "dtype", "device", "size", "ms/frame [min–max]", "×R50", "ref ms (×R50)",
              "fps", "peak MB (×R50)", "GFLOP (×R50)", "R50 ms"]  # fmt: skip
    return markdown_table(header, rows, [False] * 6 + [True] * 7)


def speed_notes(records: Sequence[dict[str, Any]]) -> str:
    """The lines printed above the table: weights, yardstick, machine, how memory was measured."""
    random_models = sorted({r["model"] for r in records if r["weights"] == "random-init"})
    lines = []
    if random_models:
        lines.append(
            f"weights: random initialisation for {', '.join(random_models)} (speed does not depend on weight values)"
        )
    devices = sorted({f"{r['device']} = {r['device_name']}" for r in records})
    threads = sorted({r["threads"] for r in records})
    kinds = sorted({r["memory_kind"] for r in records})
    lines += [
        f"machine: {'; '.join(devices)}; torch threads {', '.join(map(str, threads))}",
        "yardstick (R50): torchvision ResNet-50 forward, random weights, same input size, device and precision; "
        "×R50 = ours / R50",
        "ms/frame: median over the timed frames after warm-up (one frame = all passes, scales and the merge); "
        "ref ms: the annotated frame, reference encoding at every scale",
        f"peak MB: memory above the level before the clip ({', '.join(kinds)}); GFLOP: network passes per frame "
        "(meta-device count, one multiply-add = 2 FLOP)",
    ]
    return "\n".join(lines)
