"""What a run reports: losses and speed (progress bar, ``log.jsonl``, TensorBoard), image grids of samples, and
the periodic validation pass (rank 0 only)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch
from tqdm import tqdm

from rgmp.model import RGMP
from train.config import TrainConfig
from train.distributed import Distributed, barrier


class Meter:
    """Loss and speed over the steps since the last read."""

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


class Monitor:
    """Rank 0's outputs: ``<out>/log.jsonl`` (one JSON line per log step and validation) and TensorBoard events in
    ``<out>/tb``; on other ranks every method does nothing."""

    def __init__(self, out: Path, enabled: bool) -> None:
        self.enabled = enabled
        self.log = (out / "log.jsonl").open("a") if enabled else None
        if enabled:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(out / "tb"))

    def scalars(self, step: int, values: dict[str, float]) -> None:
        """Log ``values`` (names without a "/" go under "train/" in TensorBoard)."""
        if not self.enabled:
            return
        self.log.write(json.dumps({"step": step, **values}) + "\n")
        self.log.flush()
        for key, value in values.items():
            self.writer.add_scalar(key if "/" in key else f"train/{key}", value, step)

    def samples(self, step: int, batch: dict[str, torch.Tensor], logits: torch.Tensor) -> None:
        if self.enabled:
            self.writer.add_image("samples", sample_grid(batch, logits.detach()), step)

    def validate(self, model: RGMP, config: TrainConfig, ddp: Distributed, step: int) -> None:
        """Score the validation sequences with ``model`` on rank 0 while the other ranks wait."""
        if self.enabled:
            from train.validation import validate

            scores = validate(model, config, ddp.device)
            model.train()
            self.scalars(step, {f"val/{k}": v for k, v in scores.items()})
            tqdm.write(f"step {step}: validation " + ", ".join(f"{k} {v:.3f}" for k, v in scores.items()))
        barrier(ddp)

    def close(self) -> None:
        if self.enabled:
            self.writer.close()
            self.log.close()


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
