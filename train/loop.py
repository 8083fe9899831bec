"""The training loop shared by both stages: data, optimisation, checkpoints, resume, DDP, logging, validation."""

from __future__ import annotations

import json
import math
import os
import platform
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, Sampler
from tqdm import tqdm

from rgmp.config import LITE_ENCODERS, PRESETS
from rgmp.device import pick_device
from rgmp.model import RGMP, build_model
from rgmp.weights import WeightsError, load_lite_imagenet, load_model, read_weights_file, save_checkpoint
from train.config import TrainConfig
from train.datasets import DatasetError, DatasetSpec, static_entries, video_entries
from train.memory import add_memory, recursions, train_memory_only
from train.recurrence import Unrolled, clip_loss
from train.samples import ClipGenerator, ClipOptions, PairGenerator, PairOptions, Sample

EXIT_NON_FINITE = 3
EXIT_INTERRUPTED = 130
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


class TrainError(RuntimeError):
    """A run cannot start or continue (bad data, bad checkpoint, non-finite loss)."""


# --------------------------------------------------------------------------------------------------------------
# Data: sample k of a run is a pure function of (seed, k), so a resumed run sees exactly the same samples.


class SampleDataset(Dataset):
    """Map-style dataset over sample ids: ``dataset[k]`` draws sample k with ``default_rng([seed, k])``."""

    def __init__(self, generator: PairGenerator | ClipGenerator, seed: int) -> None:
        self.generator = generator
        self.seed = seed

    def __len__(self) -> int:
        return 2**62

    def __getitem__(self, sample_id: int) -> Sample:
        return self.generator(np.random.default_rng([self.seed, sample_id]))


class StepSampler(Sampler[list[int]]):
    """Endless batches of sample ids for one process: step s of rank r gets ids ``(s·W + r)·B ... + B − 1``.

    This is the distributed sampler of the run: ranks never share a sample, and starting at ``start_step``
    continues the id sequence exactly where an interrupted run stopped.
    """

    def __init__(self, start_step: int, batch_size: int, rank: int = 0, world_size: int = 1) -> None:
        self.start_step, self.batch_size, self.rank, self.world_size = start_step, batch_size, rank, world_size

    def __iter__(self) -> Iterator[list[int]]:
        step = self.start_step
        while True:
            first = (step * self.world_size + self.rank) * self.batch_size
            yield list(range(first, first + self.batch_size))
            step += 1


def collate(samples: list[Sample]) -> dict[str, torch.Tensor]:
    """Stack samples: reference (B,3,H,W), reference_mask (B,1,H,W), frames (B,N,3,H,W), labels (B,N,H,W),
    guidance (B,1,H,W), strategy (B,), occluded (B,)."""
    return {
        "reference": torch.from_numpy(np.stack([s.reference for s in samples])),
        "reference_mask": torch.from_numpy(np.stack([s.reference_mask for s in samples])),
        "frames": torch.from_numpy(np.stack([s.frames for s in samples])),
        "labels": torch.from_numpy(np.stack([s.labels for s in samples])),
        "guidance": torch.from_numpy(np.stack([s.guidance for s in samples])),
        "strategy": torch.tensor([s.strategy for s in samples]),
        "occluded": torch.tensor([s.occluded for s in samples]),
    }


def build_generator(config: TrainConfig) -> PairGenerator | ClipGenerator:
    """The sample generator of the configured stage and data sets."""
    if not config.data:
        raise TrainError("no training data: give --data KIND:PATH (e.g. davis2016:/data/DAVIS)")
    try:
        specs = [DatasetSpec.parse(s) for s in config.data]
        if config.stage == "pretrain":
            images = [row for spec in specs for row in static_entries(spec, config.exclude)]
            salient = [row for s in config.salient for row in static_entries(DatasetSpec.parse(s), config.exclude)]
            options = PairOptions(size=config.size, strategy2=config.strategy2, flip=config.flip)
            return PairGenerator(images, salient, options)
        videos = [clip for spec in specs for clip in video_entries(spec, config.exclude)]
    except DatasetError as err:
        raise TrainError(str(err)) from None
    options = ClipOptions(
        size=config.size,
        length=config.clip_length,
        max_skip=config.max_skip,
        scale=config.zoom,
        flip=config.flip,
        reverse=config.reverse,
        occluder=config.occluder,
        simulated=config.simulated,
    )
    return ClipGenerator(videos, options)


# --------------------------------------------------------------------------------------------------------------
# Processes and devices


@dataclass(frozen=True)
class Distributed:
    """Where this process stands: rank, world size, device (one plain process when torchrun is absent)."""

    rank: int
    world_size: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def setup_distributed(config: TrainConfig) -> Distributed:
    """Join the torchrun process group when ``WORLD_SIZE`` > 1 (NCCL on GPUs, gloo on CPU)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return Distributed(0, 1, pick_device(config.device))
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and config.device in (None, "cuda")
    if use_cuda:
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return Distributed(rank, world_size, torch.device("cuda", local_rank) if use_cuda else torch.device("cpu"))


# --------------------------------------------------------------------------------------------------------------
# Model and checkpoints


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


def checkpoint_extra(
    config: TrainConfig, step: int, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler, elapsed: float
) -> dict[str, Any]:
    return {
        "train_config": config.to_dict(),
        "step": step,
        "optimizer": optimizer.state_dict(),
        "scaler": scaler.state_dict(),
        "elapsed_s": elapsed,
    }


def run_metadata(config: TrainConfig, step: int, elapsed: float, extra: dict[str, Any]) -> dict[str, Any]:
    """What a checkpoint says about itself (kept by ``save_checkpoint`` as ``metadata``)."""
    return {
        "stage": config.stage,
        "step": step,
        "samples": step * config.batch_size * extra.get("world_size", 1),
        "train_config": config.to_dict(),
        "wall_time_s": round(elapsed, 1),
        "hardware": extra.get("hardware", ""),
        **{k: v for k, v in extra.items() if k not in ("world_size", "hardware")},
    }


def hardware_description(device: torch.device, world_size: int) -> str:
    """E.g. "NVIDIA H100 80GB HBM3" or "Intel(R) Xeon(R) ... (2 cores), 1 torch thread(s)"."""
    if device.type == "cuda":
        what = torch.cuda.get_device_name(device)
    else:
        cpu = platform.processor() or platform.machine()
        cpuinfo = Path("/proc/cpuinfo")
        if cpuinfo.is_file():
            names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if "model name" in line]
            cpu = names[0] if names else cpu
        what = f"{cpu} ({os.cpu_count()} cores), {torch.get_num_threads()} torch thread(s)"
    return f"{world_size} × {what}" if world_size > 1 else what


# --------------------------------------------------------------------------------------------------------------
# The loop


class _StopFlag:
    """Set by SIGINT / SIGTERM; the loop saves a checkpoint and leaves after the current step."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _StopFlag:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:  # a second Ctrl-C: leave at once
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def resume_config(config: TrainConfig, checkpoint: dict[str, Any]) -> TrainConfig:
    """The checkpoint's config with the run-control fields (steps, workers, logging...) of ``config``."""
    stored = TrainConfig.from_dict(checkpoint["train_config"])
    return replace(stored, **{f: getattr(config, f) for f in RUN_CONTROL_FIELDS})


def start_or_resume(config: TrainConfig, resume: bool) -> tuple[TrainConfig, RGMP, dict[str, Any] | None, dict]:
    """(config, model, checkpoint or None, init info): the run's starting point.

    Resuming reads ``<out>/last.pt``: the model and the config (except run-control fields) come from it.
    Starting refuses a folder that already holds a run, so that nothing is overwritten by mistake.
    """
    last = Path(config.out) / "last.pt"
    if resume:
        if not last.is_file():
            raise TrainError(f"--resume: no checkpoint at {last}")
        state = read_weights_file(last)
        model, _ = load_model(last)
        return resume_config(config, state), model, state, dict(state.get("metadata", {})).get("init_info", {})
    if last.is_file():
        raise TrainError(f"{last} exists: continue it with --resume or choose another --out")
    model, init_info = initial_model(config)
    return config, model, None, init_info


def make_loader(
    config: TrainConfig, generator: PairGenerator | ClipGenerator, ddp: Distributed, start_step: int
) -> Iterator[dict[str, torch.Tensor]]:
    """Endless batches for this process, starting at ``start_step`` (see :class:`StepSampler`)."""
    loader = DataLoader(
        SampleDataset(generator, config.seed),
        batch_sampler=StepSampler(start_step, config.batch_size, ddp.rank, ddp.world_size),
        num_workers=config.workers,
        collate_fn=collate,
        pin_memory=ddp.device.type == "cuda",
    )
    return iter(loader)


class _Meter:
    """Loss and speed over the steps since the last log line."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self.start, self.samples, self.losses = time.time(), 0, []

    def add(self, loss: float, samples: int) -> None:
        self.losses.append(loss)
        self.samples += samples

    def read(self) -> tuple[float, float]:
        """(mean loss, samples per second), then start a new window."""
        values = sum(self.losses) / len(self.losses), self.samples / max(time.time() - self.start, 1e-9)
        self._reset()
        return values


def train(config: TrainConfig, *, resume: bool = False) -> Path:
    """Run (or continue) one training stage; returns the path of the final checkpoint.

    Writes ``<out>/config.json``, ``<out>/last.pt`` (every ``save_every`` steps, on Ctrl-C/SIGTERM and at the
    end, atomically), ``<out>/final.pt`` (weights and metadata only), ``<out>/log.jsonl`` (losses, speed and
    validation scores) and TensorBoard events in ``<out>/tb``.

    Raises:
        TrainError: bad data or checkpoint, or a non-finite loss (the last good checkpoint is kept).
        SystemExit: with :data:`EXIT_INTERRUPTED` after Ctrl-C / SIGTERM (a checkpoint is written first).
    """
    ddp = setup_distributed(config)
    if config.threads:
        torch.set_num_threads(config.threads)
    config, model, state, init_info = start_or_resume(config, resume)
    generator = build_generator(config)  # before anything is written: bad data fails early
    out, last = Path(config.out), Path(config.out) / "last.pt"
    if ddp.main:
        config.write(out)
    model = model.to(ddp.device).train()
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    memory_stage = config.stage == "memory"
    ema = make_ema(model, config.ema)

    def wrap(at_step: int) -> torch.nn.Module:
        """The unrolled network for this phase (DDP registers only the weights that train in it)."""
        if memory_stage:
            train_memory_only(model, at_step < config.memory_freeze_steps)
        unrolled = Unrolled(model)
        if ddp.enabled:
            unrolled = torch.nn.parallel.DistributedDataParallel(
                unrolled,
                device_ids=[ddp.device.index] if ddp.device.type == "cuda" else None,
                find_unused_parameters=model.config.aux_heads,
            )
        return unrolled

    params = list(model.parameters())  # frozen ones get no gradient, and Adam leaves them alone
    optimizer = torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    use_amp = config.amp and ddp.device.type == "cuda"
    autocast_dtype = torch.float16 if use_amp else torch.bfloat16
    use_autocast = use_amp or (config.cpu_bf16 and ddp.device.type == "cpu")
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    step, elapsed_before = 0, 0.0
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        if ema is not None:
            if "ema_state_dict" not in state:
                raise TrainError(f"{last} holds no weight average: resume without changing --ema")
            ema.load_state_dict(state["ema_state_dict"])
        step, elapsed_before = int(state["step"]), float(state.get("elapsed_s", 0.0))
    meta_extra = {
        "world_size": ddp.world_size,
        "hardware": hardware_description(ddp.device, ddp.world_size),
        "init_info": init_info,
    }
    batches = make_loader(config, generator, ddp, step)
    unrolled = wrap(step)
    writer = _summary_writer(out) if ddp.main else None
    log = (out / "log.jsonl").open("a") if ddp.main else None
    started = time.time()

    def elapsed() -> float:
        return elapsed_before + time.time() - started

    def save(at_step: int) -> None:
        if ddp.main:
            metadata = run_metadata(config, at_step, elapsed(), meta_extra)
            extra = checkpoint_extra(config, at_step, optimizer, scaler, elapsed())
            if ema is not None:
                extra["ema_state_dict"] = {k: v.detach().cpu() for k, v in ema.state_dict().items()}
            save_checkpoint(last, model, metadata, extra=extra)

    bar = tqdm(
        total=config.steps, initial=step, desc=config.stage, unit="step", disable=not ddp.main, dynamic_ncols=True
    )
    meter, last_saved = _Meter(), step
    try:
        with _StopFlag() as stop:
            while step < config.steps:
                batch = {k: v.to(ddp.device, non_blocking=True) for k, v in next(batches).items()}
                with torch.autocast(ddp.device.type, dtype=autocast_dtype, enabled=use_autocast):
                    logits = unrolled(
                        batch["reference"],
                        batch["reference_mask"],
                        batch["frames"],
                        batch["guidance"],
                        steps=recursions(step, config) if memory_stage else None,
                    )
                loss = clip_loss(logits, batch["labels"])
                # One all-reduce per step: mean loss, any non-finite loss, any stop request, time limit.
                finite = math.isfinite(loss.item())
                time_up = config.max_minutes is not None and elapsed() >= 60 * config.max_minutes
                flags = torch.tensor(
                    [loss.item() if finite else 0.0, float(not finite), float(stop.requested), float(time_up)]
                )
                if ddp.enabled:
                    dist.all_reduce(flags)
                mean_loss, non_finite, stop_now, time_up = flags[0].item() / ddp.world_size, *flags[1:].tolist()
                if non_finite:
                    where = f"{last} (step {last_saved})" if last.is_file() else "none written yet"
                    raise TrainError(f"non-finite loss at step {step + 1}: stopping; last good checkpoint: {where}")
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if config.grad_clip > 0:
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
                scaler.step(optimizer)
                scaler.update()
                if ema is not None:
                    ema.update_parameters(model)
                step += 1
                if memory_stage and step == config.memory_freeze_steps:
                    unrolled = wrap(step)  # the curriculum's second phase: everything trains
                meter.add(mean_loss, config.batch_size * ddp.world_size)
                bar.update(1)
                if ddp.main and (step % config.log_every == 0 or step == 1):
                    window_loss, speed = meter.read()
                    bar.set_postfix(loss=f"{window_loss:.4f}", samples_s=f"{speed:.2f}")
                    _log(log, writer, step, {"loss": window_loss, "last_loss": mean_loss, "samples_per_s": speed})
                if writer is not None and step % config.image_every == 0:
                    writer.add_image("samples", sample_grid(batch, logits.detach()), step)
                finishing = step == config.steps or time_up
                if config.val and (step % config.val_every == 0 or finishing):
                    _validate_all_ranks(model if ema is None else ema.module, config, ddp, step, log, writer)
                if step % config.save_every == 0 or finishing or stop_now:
                    save(step)
                    last_saved = step
                if stop_now:
                    if ddp.main:
                        print(f"\nstopped at step {step}; continue with --resume (checkpoint: {last})", file=sys.stderr)
                    raise SystemExit(EXIT_INTERRUPTED)
                if time_up:
                    tqdm.write(f"time limit of {config.max_minutes} min reached at step {step}")
                    break
    finally:
        bar.close()
        if writer is not None:
            writer.close()
        if log is not None:
            log.close()
    final = out / "final.pt"
    if ddp.main:
        weights = model if ema is None else ema.module
        save_checkpoint(final, weights, run_metadata(config, step, elapsed(), meta_extra))
    if ddp.enabled:
        dist.barrier()
    return final


def _summary_writer(out: Path):
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(str(out / "tb"))


def _log(log, writer, step: int, values: dict[str, float]) -> None:
    if log is not None:
        log.write(json.dumps({"step": step, **values}) + "\n")
        log.flush()
    if writer is not None:
        for key, value in values.items():
            writer.add_scalar(key if "/" in key else f"train/{key}", value, step)


def _validate_all_ranks(model: RGMP, config: TrainConfig, ddp: Distributed, step: int, log, writer) -> None:
    if ddp.main:
        from train.validation import validate

        scores = validate(model, config, ddp.device)
        model.train()
        _log(log, writer, step, {f"val/{k}": v for k, v in scores.items()})
        tqdm.write(f"step {step}: validation " + ", ".join(f"{k} {v:.3f}" for k, v in scores.items()))
    if ddp.enabled:
        dist.barrier()


def sample_grid(batch: dict[str, torch.Tensor], logits: torch.Tensor) -> torch.Tensor:
    """(3, h, w) image grid of the first clip: reference | its mask | guidance, then per step target | truth |
    prediction (object probability)."""
    from torchvision.utils import make_grid

    def grey(x: torch.Tensor) -> torch.Tensor:
        return x.float().clamp(0, 1).expand(3, -1, -1)

    labels = batch["labels"][0].float()
    tiles = [batch["reference"][0], grey(batch["reference_mask"][0]), grey(batch["guidance"][0])]
    probs = torch.softmax(logits[0].float(), dim=1)[:, 1]
    for t in range(logits.shape[1]):
        tiles += [batch["frames"][0, t], grey((labels[t] == 1)[None].float()), grey(probs[t][None])]
    return make_grid([tile.detach().float().cpu() for tile in tiles], nrow=3, padding=2)
