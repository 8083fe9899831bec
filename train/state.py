"""A run's state and its checkpoints: the model, optimiser, grad scaler, weight average, step and elapsed time,
where they start from (fresh, ``--init`` or ``--resume``), and what each checkpoint says about itself."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from rgmp.config import LITE_ENCODERS, PRESETS
from rgmp.device import device_name
from rgmp.model import RGMP, build_model
from rgmp.weights import WeightsError, load_lite_imagenet, load_model, read_weights_file, save_checkpoint
from train.config import TrainConfig
from train.distributed import Distributed
from train.errors import TrainError
from train.memory import add_memory

RUN_CONTROL_FIELDS = (
    "out",
    "steps",
    "max_minutes",
    "workers",
    "threads",
    "device",
    "save_every",
    "log_every",
    "image_every",
    "val_every",
    "val",
    "val_sequences",
    "val_size",
)
"""Fields that may change when a run is resumed; the others come from the checkpoint."""


@dataclass
class RunState:
    """Everything a step changes, and what a checkpoint restores.

    Attributes:
        config: the run's configuration (from the checkpoint, on resume).
        model: the network being trained, on the run's device.
        optimizer: Adam over the model's parameters.
        scaler: the float16 grad scaler (disabled off CUDA).
        ema: the moving average of the weights (``config.ema``), or None.
        step: optimisation steps done.
        elapsed_before: training seconds spent before this process started (over resumes).
        init_info: where the weights came from (kept in every checkpoint's metadata).
    """

    config: TrainConfig
    model: RGMP
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    ema: torch.optim.swa_utils.AveragedModel | None
    step: int
    elapsed_before: float
    init_info: dict[str, Any]

    @property
    def weights(self) -> RGMP:
        """What validation scores and ``final.pt`` holds: the average when there is one, else the model."""
        return self.model if self.ema is None else self.ema.module


def initial_model(config: TrainConfig) -> tuple[RGMP, dict[str, Any]]:
    """A fresh model (ImageNet encoder) or the weights of ``config.init``; returns (model, init metadata)."""
    if config.init:
        model, metadata = load_model(config.init, expect=config.model)
        if config.stage == "memory":
            model = add_memory(model)
        return model, {"init": config.init, "init_metadata": metadata}
    if config.stage == "memory":
        raise TrainError("the memory stage starts from a trained model: give --init <stage-2 final.pt>")
    if config.model not in PRESETS:
        raise TrainError(f"unknown model {config.model!r}; choose one of {', '.join(PRESETS)}")
    preset = PRESETS[config.model]
    if config.encoder is not None:
        if preset.family != "lite" or config.encoder not in LITE_ENCODERS:
            raise TrainError(f"--encoder {config.encoder!r}: the lite model takes one of {', '.join(LITE_ENCODERS)}")
        preset = replace(preset, encoder=config.encoder)
    torch.manual_seed(config.seed)
    model = build_model(preset)
    if config.encoder_init == "imagenet":
        if model.config.family == "lite":
            load_lite_imagenet(model)
        elif config.resnet50_weights:
            state = {
                k: v
                for k, v in read_weights_file(config.resnet50_weights).items()
                if not k.startswith("fc.") and not k.endswith("num_batches_tracked")
            }
            missing = model.encoder.load_state_dict(state, strict=False)
            expected_missing = {"mean", "std", "mask_conv.weight", "mask_conv.bias"}
            if set(missing.missing_keys) - expected_missing or missing.unexpected_keys:
                raise WeightsError(f"{config.resnet50_weights} is not a torchvision resnet50 state dict")
        else:
            raise TrainError(
                "the paper model's ImageNet encoder needs --resnet50-weights PATH (or --encoder-init none)"
            )
    return model, {"init": f"fresh ({config.encoder_init} encoder)"}


def make_ema(model: RGMP, decay: float) -> torch.optim.swa_utils.AveragedModel | None:
    """An exponential moving average of the weights (buffers copied), or None when ``decay`` is 0."""
    if decay <= 0:
        return None
    if decay >= 1:
        raise TrainError(f"--ema must be in [0, 1), got {decay}")
    multi_avg_fn = torch.optim.swa_utils.get_ema_multi_avg_fn(decay)
    return torch.optim.swa_utils.AveragedModel(model, multi_avg_fn=multi_avg_fn, use_buffers=True)


def resume_config(config: TrainConfig, checkpoint: dict[str, Any]) -> TrainConfig:
    """The checkpoint's config with the run-control fields (steps, workers, logging...) of ``config``."""
    stored = TrainConfig.from_dict(checkpoint["train_config"])
    return replace(stored, **{f: getattr(config, f) for f in RUN_CONTROL_FIELDS})


def start_or_resume(config: TrainConfig, resume: bool, device: torch.device) -> RunState:
    """The run's starting point, on ``device``.

    Resuming reads ``<out>/last.pt``: the model, optimiser, scaler, average, step and the config (except
    run-control fields) come from it. Starting refuses a folder that already holds a run, so that nothing is
    overwritten by mistake.
    """
    last = Path(config.out) / "last.pt"
    checkpoint = None
    if resume:
        if not last.is_file():
            raise TrainError(f"--resume: no checkpoint at {last}")
        checkpoint = read_weights_file(last)
        model, _ = load_model(last)
        config = resume_config(config, checkpoint)
        init_info = dict(checkpoint.get("metadata", {})).get("init_info", {})
    else:
        if last.is_file():
            raise TrainError(f"{last} exists: continue it with --resume or choose another --out")
        model, init_info = initial_model(config)
    model = model.to(device).train()
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    # Frozen parameters get no gradient, and Adam leaves them alone.
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scaler = torch.amp.GradScaler("cuda", enabled=config.amp and device.type == "cuda")
    state = RunState(config, model, optimizer, scaler, make_ema(model, config.ema), 0, 0.0, init_info)
    if checkpoint is not None:
        optimizer.load_state_dict(checkpoint["optimizer"])
        scaler.load_state_dict(checkpoint["scaler"])
        if state.ema is not None:
            if "ema_state_dict" not in checkpoint:
                raise TrainError(f"{last} holds no weight average: resume without changing --ema")
            state.ema.load_state_dict(checkpoint["ema_state_dict"])
        state.step, state.elapsed_before = int(checkpoint["step"]), float(checkpoint.get("elapsed_s", 0.0))
    return state


def hardware_description(device: torch.device, world_size: int) -> str:
    """E.g. "NVIDIA H100 80GB HBM3" or "Intel(R) Xeon(R) ... (2 cores), 1 torch thread(s)"."""
    if device.type == "cuda":
        what = device_name(device)
    else:
        cpu = device_name(torch.device("cpu"))
        what = f"{cpu} ({os.cpu_count()} cores), {torch.get_num_threads()} torch thread(s)"
    return f"{world_size} × {what}" if world_size > 1 else what


def run_metadata(state: RunState, elapsed: float, ddp: Distributed) -> dict[str, Any]:
    """What a checkpoint says about itself (kept by ``save_checkpoint`` as ``metadata``)."""
    config = state.config
    return {
        "stage": config.stage,
        "step": state.step,
        "samples": state.step * config.batch_size * ddp.world_size,
        "train_config": config.to_dict(),
        "wall_time_s": round(elapsed, 1),
        "hardware": hardware_description(ddp.device, ddp.world_size),
        "init_info": state.init_info,
    }


def save_last(state: RunState, path: Path, elapsed: float, ddp: Distributed) -> None:
    """``last.pt``: the weights with everything ``--resume`` needs (optimiser, scaler, average, step, time)."""
    extra: dict[str, Any] = {
        "train_config": state.config.to_dict(),
        "step": state.step,
        "optimizer": state.optimizer.state_dict(),
        "scaler": state.scaler.state_dict(),
        "elapsed_s": elapsed,
    }
    if state.ema is not None:
        extra["ema_state_dict"] = {k: v.detach().cpu() for k, v in state.ema.state_dict().items()}
    save_checkpoint(path, state.model, run_metadata(state, elapsed, ddp), extra=extra)


def save_final(state: RunState, path: Path, elapsed: float, ddp: Distributed) -> None:
    """``final.pt``: the weights (the average, when there is one) and the run's metadata, no training state."""
    save_checkpoint(path, state.weights, run_metadata(state, elapsed, ddp))
