"""Speed levers: what each inference optimisation gains, measured one step at a time in one run.

For each model, the session is timed at 480p, one object, one scale, first with every optimisation off, then with
one more lever turned on at each step (channels-last, folded BatchNorm, bf16 autocast, and on a GPU CUDA graphs),
then with one-off variations of the fastest setting (on a CPU one thread; for the paper model, padding only to the
stride). On a CPU the authors' inference (:mod:`rgmp.bench.released`: fp32, contiguous, Python loops, OpenCV
resizing) is timed before the paper model's rows, so "half the authors' time" is checked in the same run. Every row
is also a ratio to the fp32 ResNet-50 yardstick (one yardstick precision for all rows, so that bf16's gain is not
divided out).
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from tqdm import tqdm

from rgmp.bench.speed import RECORD_KEYS, BenchCase, Yardstick, check_cases, measure, model_for, synthetic_clip
from rgmp.bench.tables import markdown_table
from rgmp.model import RGMP

RELEASED = "authors' inference (re-expressed, fp32)"


@dataclass(frozen=True)
class Lever:
    """One row of the lever table.

    Attributes:
        name: what this row adds or changes.
        options: :class:`~rgmp.inference.SessionOptions` fields.
        low_precision: run under low-precision autocast (bf16; fp16 on GPUs without bf16).
        threads: torch CPU threads for this row (None = the run's).
        config: :class:`~rgmp.config.ModelConfig` fields changed for this row (e.g. the padding mode).
    """

    name: str
    options: dict[str, Any] = field(default_factory=dict)
    low_precision: bool = False
    threads: int | None = None
    config: dict[str, Any] = field(default_factory=dict)


def levers_for(model: RGMP, device: str) -> list[Lever]:
    """The cumulative steps (CUDA graphs on CUDA only), then the one-off variations of the last step."""
    cuda = torch.device(device).type == "cuda"
    eager = {"cuda_graphs": False}  # the steps before CUDA graphs
    baseline = {"channels_last": False, "fold_batchnorm": False, **eager}
    steps = [
        Lever("baseline: fp32, contiguous, BatchNorm as layers", baseline),
        Lever("+ channels-last", {"fold_batchnorm": False, **eager}),
        Lever("+ BatchNorm folded into the convolutions", eager),
        Lever("+ bf16/fp16 autocast", eager, low_precision=True),
    ]
    if cuda:
        steps.append(Lever("+ CUDA graphs", low_precision=True))
    fastest = steps[-1]
    if not cuda:
        steps.append(dataclasses.replace(fastest, name="fastest, on 1 thread", threads=1))
    if model.config.pad_mode == "released":
        steps.append(dataclasses.replace(fastest, name="fastest, padding only to the stride (not as released)",
                                         config={"pad_mode": "minimal"}))  # fmt: skip
    return steps


def run_levers(
    names: Sequence[str],
    models: dict[str, tuple[RGMP, str]],
    device: str,
    size: tuple[int, int],
    *,
    warmup: int | None = None,
    repeats: int | None = None,
    released: bool = True,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Measure every lever of every model; returns records (:data:`RECORD_KEYS` plus ``lever``).

    Args:
        names: the models to measure, in order.
        models: name → (network, weights description); names absent here are built with seeded random weights.
        device: torch device string.
        size: (height, width) of the frames.
        warmup, repeats: untimed and timed target frames per row (None = 1 and 3).
        released: also time the authors' inference before the paper model's rows.
        progress: show a progress bar over the rows.
    """
    base = [BenchCase(name, (1.0,), 1, "fp32", device, *size) for name in names]
    check_cases(base, models, warmup, repeats)
    warmup, repeats = warmup or 1, repeats or 3
    low = "fp16" if torch.device(device).type == "cuda" and not torch.cuda.is_bf16_supported() else "bf16"
    rows: list[tuple[BenchCase, Lever | None]] = []
    for case in base:
        model, _ = model_for(case.model, models)
        if released and case.model == "paper" and torch.device(device).type == "cpu":
            rows.append((case, None))
        rows += [(case, lever) for lever in levers_for(model, device)]
    records = []
    threads = torch.get_num_threads()
    for case, lever in tqdm(rows, desc="levers", unit="row", disable=not progress):
        model, weights = models[case.model]
        if lever is None:
            records.append(measure_released(case, warmup=warmup, repeats=max(2, repeats)))
            continue
        if lever.low_precision:
            case = dataclasses.replace(case, dtype=low)
        network = model
        if lever.config:
            network = RGMP(dataclasses.replace(model.config, **lever.config))
            network.load_state_dict(model.state_dict())
            network.eval()
        torch.set_num_threads(lever.threads or threads)
        try:
            record = measure(case, network, weights, warmup=warmup, repeats=repeats, peak=float("nan"),
                             options=lever.options, yardstick_dtype="fp32")  # fmt: skip
        finally:
            torch.set_num_threads(threads)
        records.append({**record, "lever": lever.name})
    return records


def measure_released(case: BenchCase, *, warmup: int, repeats: int) -> dict[str, Any]:
    """Time :func:`rgmp.bench.released.released_inference` (random weights) on the synthetic clip.

    The released function segments a whole clip in one call, so after an untimed two-frame call (warm-up), the
    time of a target frame is the difference between a clip of 1 + ``warmup`` + ``repeats`` frames and the
    annotated frame alone, divided by ``warmup + repeats``. The yardstick runs once after each timed call.
    """
    from rgmp.bench.released import ReleasedRGMP, released_inference  # needs OpenCV

    torch.manual_seed(0)
    network = ReleasedRGMP().eval()
    yardstick = Yardstick(case)
    yardstick()
    frames, mask = synthetic_clip(case.height, case.width, case.objects, 1 + warmup + repeats)

    def clip_seconds(count: int) -> float:
        start = time.perf_counter()
        released_inference(network, frames[:count], mask, case.scales)
        return time.perf_counter() - start

    clip_seconds(2)
    short, yard_a = clip_seconds(1), yardstick()
    long, yard_b = clip_seconds(1 + warmup + repeats), yardstick()
    ms = 1000 * (long - short) / (warmup + repeats)
    yard_ms = 1000 * statistics.median([yard_a, yard_b])
    record: dict[str, Any] = dict.fromkeys(RECORD_KEYS)
    record.update(
        model="paper", weights="random-init", scales=list(case.scales), objects=case.objects, dtype="fp32",
        device=case.device, threads=torch.get_num_threads(), height=case.height, width=case.width,
        warmup=warmup, repeats=repeats, ms_per_frame=ms, fps=1000 / ms, yardstick_ms=yard_ms, ratio=ms / yard_ms,
        lever=RELEASED,
    )  # fmt: skip
    return record


def lever_table(records: Sequence[dict[str, Any]]) -> str:
    """One line per row: ms/frame, fps, ratio to the fp32 yardstick, and the speed-up over the model's first row
    and over the previous cumulative step."""
    rows = []
    first: dict[str, float] = {}
    previous: dict[str, float] = {}
    for r in records:
        ms = r["ms_per_frame"]
        base = first.setdefault(r["model"], ms)
        step = previous.get(r["model"], ms)
        cumulative = not r["lever"].startswith("fastest,")
        rows.append([
            r["model"], r["lever"], r["dtype"], str(r["threads"]), f"{ms:.0f}", f"{r['fps']:.2f}",
            f"{r['ratio']:.2f}", f"{base / ms:.2f}×", f"{step / ms:.2f}×" if cumulative else "–",
        ])  # fmt: skip
        if cumulative:
            previous[r["model"]] = ms
    header = ["model", "lever", "dtype", "threads", "ms/frame", "fps", "×R50 fp32", "vs first row", "vs step before"]
    return markdown_table(header, rows, [False] * 4 + [True] * 5)
