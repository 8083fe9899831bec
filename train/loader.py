"""Training data as batches: sample k of a run is a pure function of (seed, k), so a resumed run sees exactly the
samples it would have seen, and the ranks of a distributed run never share one."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from train.config import TrainConfig
from train.datasets import DatasetError, DatasetSpec, static_entries, video_entries
from train.distributed import Distributed
from train.errors import TrainError
from train.samples import ClipGenerator, ClipOptions, PairGenerator, PairOptions, Sample


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
        distractor=config.distractor,
    )
    return ClipGenerator(videos, options)


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
        worker_init_fn=_ignore_stop_signals,
    )
    return iter(loader)


def _ignore_stop_signals(worker_id: int) -> None:
    """Loader workers leave Ctrl-C and SIGTERM to the main process, which saves a checkpoint and then ends them
    (a signal sent to the whole process group would otherwise kill a worker first and crash the run)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
