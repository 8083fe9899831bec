"""The training loop shared by every stage: one step, and the run around it (time limit, checkpoints on a
schedule and on SIGTERM, validation, logging, several processes)."""

from __future__ import annotations

import math
import signal
import sys
import time
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from train.config import TrainConfig
from train.distributed import Distributed, all_reduce, barrier, setup_distributed
from train.errors import NonFiniteLoss
from train.loader import build_generator, make_loader
from train.memory import recursions, train_memory_only
from train.monitor import Meter, Monitor
from train.recurrence import Unrolled, clip_loss
from train.state import RunState, save_final, save_last, start_or_resume

EXIT_NON_FINITE = 3
EXIT_INTERRUPTED = 130


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


def unrolled_network(state: RunState, ddp: Distributed) -> torch.nn.Module:
    """The network that runs a whole clip for the current phase (DDP registers only the weights that train)."""
    if state.config.stage == "memory":
        train_memory_only(state.model, state.step < state.config.memory_freeze_steps)
    unrolled = Unrolled(state.model)
    if ddp.enabled:
        unrolled = torch.nn.parallel.DistributedDataParallel(
            unrolled,
            device_ids=[ddp.device.index] if ddp.device.type == "cuda" else None,
            find_unused_parameters=state.model.config.aux_heads,
        )
    return unrolled


def train_step(
    state: RunState, unrolled: torch.nn.Module, batch: dict[str, torch.Tensor], ddp: Distributed
) -> tuple[float, torch.Tensor]:
    """One optimisation step on a batch (already on the device); returns (loss averaged over ranks, logits).

    Raises:
        NonFiniteLoss: on any rank; nothing is updated.
    """
    config, device = state.config, ddp.device
    use_amp = state.scaler.is_enabled()
    autocast = use_amp or (config.cpu_bf16 and device.type == "cpu")
    with torch.autocast(device.type, dtype=torch.float16 if use_amp else torch.bfloat16, enabled=autocast):
        logits = unrolled(
            batch["reference"],
            batch["reference_mask"],
            batch["frames"],
            batch["guidance"],
            steps=recursions(state.step, config) if config.stage == "memory" else None,
        )
    loss = clip_loss(logits, batch["labels"])
    value = loss.item()
    total, non_finite = all_reduce([value if math.isfinite(value) else 0.0, float(not math.isfinite(value))], ddp)
    if non_finite:
        raise NonFiniteLoss(f"non-finite loss at step {state.step + 1}")
    state.optimizer.zero_grad(set_to_none=True)
    state.scaler.scale(loss).backward()
    if config.grad_clip > 0:
        state.scaler.unscale_(state.optimizer)
        torch.nn.utils.clip_grad_norm_(state.model.parameters(), config.grad_clip)
    state.scaler.step(state.optimizer)
    state.scaler.update()
    if state.ema is not None:
        state.ema.update_parameters(state.model)
    state.step += 1
    return total / ddp.world_size, logits


def train(config: TrainConfig, *, resume: bool = False) -> Path:
    """Run (or continue) one training stage; returns the path of the final checkpoint.

    Writes ``<out>/config.json``, ``<out>/last.pt`` (every ``save_every`` steps, on Ctrl-C/SIGTERM and at the
    end, atomically), ``<out>/final.pt`` (weights and metadata only), ``<out>/log.jsonl`` (losses, speed and
    validation scores) and TensorBoard events in ``<out>/tb``.

    Raises:
        TrainError: bad data, option or checkpoint.
        NonFiniteLoss: the loss stopped being a number (the last good checkpoint is kept).
        SystemExit: with :data:`EXIT_INTERRUPTED` after Ctrl-C / SIGTERM (a checkpoint is written first).
    """
    ddp = setup_distributed(config.device)
    if config.threads:
        torch.set_num_threads(config.threads)
    state = start_or_resume(config, resume, ddp.device)
    config = state.config
    generator = build_generator(config)  # before anything is written: bad data fails early
    out, last = Path(config.out), Path(config.out) / "last.pt"
    if ddp.main:
        config.write(out)
    batches = make_loader(config, generator, ddp, state.step)
    unrolled = unrolled_network(state, ddp)
    monitor = Monitor(out, ddp.main)
    started = time.time()

    def elapsed() -> float:
        return state.elapsed_before + time.time() - started

    bar = tqdm(
        total=config.steps, initial=state.step, desc=config.stage, unit="step", disable=not ddp.main, dynamic_ncols=True
    )
    meter, last_saved = Meter(), state.step
    try:
        with _StopFlag() as stop:
            while state.step < config.steps:
                batch = {k: v.to(ddp.device, non_blocking=True) for k, v in next(batches).items()}
                try:
                    loss, logits = train_step(state, unrolled, batch, ddp)
                except NonFiniteLoss as err:
                    where = f"{last} (step {last_saved})" if last.is_file() else "none written yet"
                    raise NonFiniteLoss(f"{err}: stopping; last good checkpoint: {where}") from None
                step = state.step
                time_up = config.max_minutes is not None and elapsed() >= 60 * config.max_minutes
                stop_now, time_up = (v > 0 for v in all_reduce([float(stop.requested), float(time_up)], ddp))
                if config.stage == "memory" and step == config.memory_freeze_steps:
                    unrolled = unrolled_network(state, ddp)  # the curriculum's second phase: everything trains
                meter.add(loss, config.batch_size * ddp.world_size)
                bar.update(1)
                if ddp.main and (step % config.log_every == 0 or step == 1):
                    window_loss, speed = meter.read()
                    bar.set_postfix(loss=f"{window_loss:.4f}", samples_s=f"{speed:.2f}")
                    monitor.scalars(step, {"loss": window_loss, "last_loss": loss, "samples_per_s": speed})
                if step % config.image_every == 0:
                    monitor.samples(step, batch, logits)
                finishing = step == config.steps or time_up
                if config.val and (step % config.val_every == 0 or finishing):
                    monitor.validate(state.weights, config, ddp, step)
                if ddp.main and (step % config.save_every == 0 or finishing or stop_now):
                    save_last(state, last, elapsed(), ddp)
                if step % config.save_every == 0 or finishing or stop_now:
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
        monitor.close()
    final = out / "final.pt"
    if ddp.main:
        save_final(state, final, elapsed(), ddp)
    barrier(ddp)
    return final
