"""Speed benchmark: ms per frame of the streaming session, against a ResNet-50 yardstick timed in the same run.

Each case segments a synthetic clip with :class:`rgmp.inference.Session` (padding, scales, merge and the fast paths
users get) and records the median time of the target frames after warm-up and its spread, the reference encoding,
peak memory and GFLOP per frame, each also as a ratio to a torchvision ResNet-50 forward at the same input size,
device and precision: machines are noisy, ratios travel.
"""

from __future__ import annotations

import itertools
import math
import statistics
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
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
    """One measured configuration; ``dtype`` "fp32", "bf16" or "fp16" (autocast), ``device`` a torch device."""

    model: str
    scales: tuple[float, ...]
    objects: int
    dtype: str
    device: str
    height: int
    width: int


@dataclass(frozen=True)
class Axes:
    """The values of each factor, the first of each being the base point; ``dtypes`` per device type ("*": any)."""

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
    """Both models, 1 and 3 scales, 1, 2 and 4 objects, CPU and CUDA when present, 480p and 720p; fp32 and bf16 on
    a CPU, fp32 and fp16 on CUDA (``full``: and bf16)."""
    devices = ("cpu", "cuda") if torch.cuda.is_available() else ("cpu",)
    cuda = ("fp32", "fp16", "bf16") if full else ("fp32", "fp16")
    dtypes = {"cpu": ("fp32", "bf16"), "cuda": cuda, "mps": ("fp32", "fp16")}
    return Axes(("lite", "paper"), (1, 3), (1, 2, 4), devices, (SIZES["480p"], SIZES["720p"]), dtypes)


def build_cases(axes: Axes, *, full: bool = False) -> list[BenchCase]:
    """The cases to measure: with ``full`` every combination of the axes; otherwise the first model one factor at a
    time around the base point, and every other model at the base point in each precision."""
    cases: list[BenchCase] = []
    for device in axes.devices:
        dtypes = axes.dtypes_for(device)
        for model in axes.models:
            if full:
                grid = list(itertools.product([model], axes.scale_counts, axes.objects, dtypes, axes.sizes))
            else:
                base = (model, axes.scale_counts[0], axes.objects[0], dtypes[0], axes.sizes[0])
                swept = [(3, dtypes)]  # (position in base, values)
                if model == axes.models[0]:
                    swept += [(1, axes.scale_counts), (2, axes.objects), (4, axes.sizes)]
                grid = [base] + [base[:i] + (v,) + base[i + 1 :] for i, values in swept for v in values[1:]]
            for name, count, objects, dtype, size in grid:
                case = BenchCase(name, SCALE_SETS[count], objects, dtype, device, *size)
                if case not in cases:
                    cases.append(case)
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


def synthetic_clip(height: int, width: int, objects: int, frames: int, seed: int = 0) -> tuple[list, np.ndarray]:
    """``frames`` (H, W, 3) uint8 frames of squares drifting over a smooth background, and the (H, W) first-frame
    mask with object ids 1..``objects`` (one rectangle each, side by side)."""
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


def _gflop(function: Callable[..., Any], *args: torch.Tensor) -> tuple[float, Any]:
    """(GFLOP, result) of ``function(*args)`` in inference mode."""
    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        result = function(*args)
    return counter.get_total_flops() / 1e9, result


@lru_cache(maxsize=64)
def count_gflop(
    config: ModelConfig, height: int, width: int, scales: tuple[float, ...], passes: int
) -> tuple[float, float]:
    """(GFLOP per target frame, GFLOP of the reference encoding) of the network passes, counted on the meta device.

    Per scale, ``passes`` masks (objects, plus the background pass) go through the network on the padded, scaled
    canvas and the reference is encoded once. Resizing, merging and the softmax are not counted.
    """
    with torch.device("meta"):
        model = build_model(config).eval()
    canvas = Canvas.for_frame(height, width, config.pad_mode)
    frame_gflop = reference_gflop = 0.0
    for scale in scales:
        h, w = canvas.scaled_size(scale, config.pad_mode)
        frame, mask = torch.zeros(1, 3, h, w, device="meta"), torch.zeros(passes, 1, h, w, device="meta")
        gflop, r5 = _gflop(model.encode_reference, frame, mask)
        reference_gflop += gflop
        frame_gflop += _gflop(model, frame, mask, r5)[0]
    return frame_gflop, reference_gflop


@lru_cache(maxsize=16)
def yardstick_gflop(height: int, width: int) -> float:
    """GFLOP of one torchvision ResNet-50 forward on a (1, 3, height, width) input."""
    with torch.device("meta"):
        net = torchvision.models.resnet50(weights=None).eval()
    return _gflop(net, torch.zeros(1, 3, height, width, device="meta"))[0]


def yardstick(case: BenchCase) -> Callable[[], float]:
    """A torchvision ResNet-50 (random weights, channels-last like the session) on a (1, 3, H, W) input, on the
    case's device and precision; each call runs one forward and returns its seconds."""
    device, dtype = torch.device(case.device), parse_dtype(case.dtype)
    net = torchvision.models.resnet50(weights=None).eval().to(device, memory_format=torch.channels_last)
    x = torch.rand(1, 3, case.height, case.width, device=device).contiguous(memory_format=torch.channels_last)

    def forward() -> float:
        with torch.inference_mode(), torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            synchronize(device)
            start = time.perf_counter()
            net(x)
            synchronize(device)
        return time.perf_counter() - start

    return forward


def _seconds(results: Iterator[Any]) -> float:
    """Seconds until the next result (the session returns it once its probabilities reached the CPU)."""
    start = time.perf_counter()
    next(results)
    return time.perf_counter() - start


def measure(case: BenchCase, model: RGMP, weights: str, *, warmup: int, repeats: int, merge: str = "soft") -> dict:
    """Measure one case; returns its JSON record (keys :data:`RECORD_KEYS`).

    Timed target frames alternate with yardstick forwards, so that both see the same load; ``ratio`` is the median
    of the per-pair ratios. Peak memory is taken over the warm-up only (the reference and warm-up frames; for the
    yardstick its warm-up forwards), where nothing else runs. ``weights`` describes the weights for the record.
    """
    device = torch.device(case.device)
    forward = yardstick(case)
    with PeakMemory(device) as yard_memory:
        for _ in range(warmup):
            forward()
    options = SessionOptions(scales=case.scales, merge=merge, size=0)  # the case's frame size, as given
    session = Session(model, device, options, dtype=parse_dtype(case.dtype))
    frames, mask = synthetic_clip(case.height, case.width, case.objects, 1 + warmup + repeats)
    results = session.propagate(iter(frames), mask)
    with PeakMemory(device) as memory:
        reference_s = _seconds(results)  # the annotated frame: the reference encoded at every scale
        for _ in range(warmup):
            next(results)
    timed, yard = zip(*((_seconds(results), forward()) for _ in range(repeats)), strict=True)
    ms, yard_ms = 1000 * statistics.median(timed), 1000 * statistics.median(yard)
    mb, yard_mb = memory.megabytes, yard_memory.megabytes
    passes = case.objects + uses_background_pass(merge, case.objects)
    gflop, reference_gflop = count_gflop(model.config, case.height, case.width, case.scales, passes)
    yard_gflop = yardstick_gflop(case.height, case.width)
    return {
        "model": case.model, "weights": weights, "scales": list(case.scales), "objects": case.objects, "merge": merge,
        "dtype": case.dtype, "device": case.device, "device_name": device_name(device),
        "threads": torch.get_num_threads(), "height": case.height, "width": case.width, "warmup": warmup,
        "repeats": repeats, "ms_per_frame": ms, "ms_min": 1000 * min(timed), "ms_max": 1000 * max(timed),
        "ms_samples": [1000 * t for t in timed], "reference_ms": 1000 * reference_s, "fps": 1000 / ms,
        "peak_memory_mb": mb, "memory_kind": memory.kind, "gflop_per_frame": gflop,
        "reference_gflop": reference_gflop, "achieved_gflops": gflop / (ms / 1000), "yardstick_ms": yard_ms,
        "yardstick_memory_mb": yard_mb, "yardstick_gflop": yard_gflop,
        "ratio": statistics.median(t / y for t, y in zip(timed, yard, strict=True)),
        "reference_ratio": 1000 * reference_s / yard_ms, "memory_ratio": mb / yard_mb if yard_mb > 0 else math.nan,
        "gflop_ratio": gflop / yard_gflop,
    }  # fmt: skip


def run_cases(
    cases: Sequence[BenchCase],
    models: dict[str, tuple[RGMP, str]],
    *,
    warmup: int | None = None,
    repeats: int | None = None,
    merge: str = "soft",
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Measure every case, in order, after refusing bad input (one-line :class:`BenchmarkError`).

    Args:
        cases: what to measure.
        models: model name → (network, weights description); other names of :data:`rgmp.config.PRESETS` are added
            with seeded random weights.
        warmup, repeats: untimed and timed target frames, at least 1; None = 1, and 2 for the paper model on a CPU
            (about 2 s a frame) else 3.
        merge: the several-object merge of every case.
    """
    if (warmup is not None and warmup < 1) or (repeats is not None and repeats < 1):
        raise BenchmarkError(f"need --warmup >= 1 and --repeats >= 1, got {warmup} and {repeats}")
    for case in cases:
        if case.dtype not in DTYPES:
            raise BenchmarkError(f"unknown precision {case.dtype!r}; choose among {', '.join(DTYPES)}")
        if case.model not in models and case.model not in PRESETS:
            raise BenchmarkError(f"unknown model {case.model!r}; choose among {', '.join(PRESETS)} or give --weights")
        if torch.device(case.device).type == "cuda" and not torch.cuda.is_available():
            raise BenchmarkError(f"device {case.device!r} requested but CUDA is not available on this machine")
    records = []
    for case in tqdm(cases, desc="bench", unit="case", disable=not progress):
        if case.model not in models:
            torch.manual_seed(0)
            models[case.model] = (build_model(PRESETS[case.model]).eval(), "random-init")
        slow = case.model == "paper" and torch.device(case.device).type == "cpu"
        count = repeats or (2 if slow else 3)
        records.append(measure(case, *models[case.model], warmup=warmup or 1, repeats=count, merge=merge))
    return records


def speed_table(records: Iterable[dict[str, Any]]) -> str:
    """One line per case, every figure also as a ratio to the ResNet-50 yardstick (×R50)."""
    header = ["model", "scales", "obj", "dtype", "device", "size", "ms/frame [min–max]", "×R50", "ref ms (×R50)",
              "fps", "peak MB (×R50)", "GFLOP (×R50)", "R50 ms"]  # fmt: skip
    rows = [
        [r["model"], ",".join(f"{s:g}" for s in r["scales"]),
         str(r["objects"]) if r["merge"] == "soft" else f"{r['objects']} ({r['merge']})", r["dtype"], r["device"],
         f"{r['height']}x{r['width']}", f"{r['ms_per_frame']:.0f} [{r['ms_min']:.0f}–{r['ms_max']:.0f}]",
         f"{r['ratio']:.2f}", f"{r['reference_ms']:.0f} ({r['reference_ratio']:.2f})", f"{r['fps']:.2f}",
         f"{r['peak_memory_mb']:.0f} ({r['memory_ratio']:.1f})", f"{r['gflop_per_frame']:.1f} ({r['gflop_ratio']:.2f})",
         f"{r['yardstick_ms']:.0f}"]
        for r in records
    ]  # fmt: skip
    return markdown_table(header, rows, [False] * 6 + [True] * 7)


def speed_notes(records: Sequence[dict[str, Any]]) -> str:
    """The lines printed above the table: weights, machine, yardstick, what the columns measure."""
    random_models = sorted({r["model"] for r in records if r["weights"] == "random-init"})
    devices = sorted({f"{r['device']} = {r['device_name']}" for r in records})
    threads = ", ".join(map(str, sorted({r["threads"] for r in records})))
    kinds = ", ".join(sorted({r["memory_kind"] for r in records}))
    lines = [
        f"weights: random initialisation for {', '.join(random_models)} (speed does not depend on weight values)",
        f"machine: {'; '.join(devices)}; torch threads {threads}",
        "yardstick (R50): torchvision ResNet-50 forward, random weights, same input size, device and precision; "
        "×R50 = ours / R50",
        "ms/frame: median over the timed frames after warm-up (one frame = all passes, scales and the merge); "
        "ref ms: the annotated frame, reference encoding at every scale",
        f"peak MB: memory above the level before the clip ({kinds}); GFLOP: network passes per frame "
        "(meta-device count, one multiply-add = 2 FLOP)",
    ]
    return "\n".join(lines[0 if random_models else 1 :])
