"""The short validation pass: J&F on a few held-out DAVIS-layout sequences, through the inference session."""

from __future__ import annotations

import numpy as np
import torch

from rgmp.inference import Session, SessionOptions
from rgmp.io.masks import VOID
from rgmp.metrics import db_statistics, evaluate_semisupervised, global_statistics
from rgmp.model import RGMP
from train.config import TrainConfig
from train.datasets import DatasetSpec, VideoEntry, read_image, read_labels, video_entries


def validation_clips(config: TrainConfig) -> list[VideoEntry]:
    """The validation sequences (all of the set when ``val_sequences`` is empty)."""
    clips = video_entries(DatasetSpec.parse(config.val))
    if config.val_sequences:
        names = set(config.val_sequences)
        missing = names - {c.name for c in clips}
        if missing:
            raise ValueError(f"validation sequences not in {config.val}: {', '.join(sorted(missing))}")
        clips = [c for c in clips if c.name in names]
    return clips


def score_clip(model: RGMP, clip: VideoEntry, device: torch.device, size: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Propagate the first mask of a clip; returns per-object, per-frame (J, F) as the official evaluation."""
    gt = np.stack([read_labels(m, clip.labels) for m in clip.masks])
    gt = np.where(gt == VOID, 0, gt)
    session = Session(model, device, SessionOptions(size=size or 0))
    frames = (read_image(f) for f in clip.frames)
    pred = np.stack([r.labels for r in session.propagate(frames, gt[0])])
    return evaluate_semisupervised(gt, pred)


def validate(model: RGMP, config: TrainConfig, device: torch.device) -> dict[str, float]:
    """Mean J, F and J&F over the objects of the validation sequences (first and last frames not scored)."""
    j_stats, f_stats = [], []
    for clip in validation_clips(config):
        j, f = score_clip(model, clip, device, config.val_size)
        j_stats += [db_statistics(row) for row in j]
        f_stats += [db_statistics(row) for row in f]
    row = global_statistics(j_stats, f_stats)
    return {"J&F": row["J&F-Mean"], "J": row["J-Mean"], "F": row["F-Mean"]}
