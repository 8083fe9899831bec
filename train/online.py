"""Online learning (paper §4.3): fine-tune on the annotated frame with Strategy 1 before propagating."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from rgmp.io.masks import VOID
from rgmp.model import RGMP
from rgmp.model.encoder import Features
from train.recurrence import Unrolled, clip_loss
from train.samples import ArrayEntry, PairGenerator, PairOptions, Sample


def online_finetune(
    model: RGMP,
    frame: np.ndarray,
    mask: np.ndarray,
    steps: int = 1000,
    lr: float = 1e-7,
    *,
    batch_size: int = 4,
    size: tuple[int, int] = (256, 256),
    seed: int = 0,
    decoder_only: bool = False,
    pairs: int | None = None,
    progress: bool = True,
    cancel: Callable[[], bool] | None = None,
) -> RGMP:
    """Adapt a model to one video's annotated frame, in place, as the paper's online learning.

    Each step takes ``batch_size`` Strategy-1 pairs (two random transforms of the annotated frame, one object of
    the mask at a time, a deformed mask as guidance), new ones or from a pool encoded once (``pairs``), and takes
    one Adam step on the cross-entropy.

    Args:
        model: the network, on the device it will run on; its weights are changed in place.
        frame: (H, W, 3) uint8 RGB annotated frame.
        mask: (H, W) integer label map of that frame (0 background, object ids 1..254, 255 void).
        steps: Adam steps (1000 in the paper).
        lr: Adam learning rate (1e-7 in the paper).
        batch_size: pairs per step.
        size: training crop (height, width), multiples of 32.
        seed: seeds the pairs (the same call gives the same model).
        decoder_only: train the decoder only; the encoder stays as it is and is not back-propagated through,
            which makes each step about twice as fast.
        pairs: with ``decoder_only``, draw this many pairs and run the frozen encoder on each once, up front;
            every step then takes ``batch_size`` of them and runs only the decoder (None: new pairs every step).
        progress: show a tqdm bar.
        cancel: polled every step; returning True stops early (the steps taken are kept).

    Returns:
        ``model``, in eval mode.

    Raises:
        ValueError: the frame and mask do not match, the mask holds no object, or a pool without
            ``decoder_only`` or smaller than a batch.
    """
    frame, mask = np.asarray(frame), np.asarray(mask)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"online learning needs an (H, W, 3) uint8 RGB frame, got {frame.shape} {frame.dtype}")
    if mask.shape != frame.shape[:2]:
        raise ValueError(f"mask {mask.shape} does not match the frame {frame.shape[:2]}")
    if not ((mask > 0) & (mask != VOID)).any():
        raise ValueError("online learning needs at least one object in the mask")
    if pairs is not None and not (decoder_only and pairs >= batch_size):
        raise ValueError(f"a pool of pairs needs decoder_only and at least batch_size pairs, got {pairs}")
    labels = mask.astype(np.uint8)
    generator = PairGenerator([ArrayEntry(frame, labels)], None, PairOptions(size=size, strategy2=0.0, min_pixels=1))
    device = next(model.parameters()).device
    model.to(memory_format=torch.channels_last)
    unrolled = Unrolled(model.train())
    frozen = [p for p in model.encoder.parameters() if p.requires_grad] if decoder_only else []
    for parameter in frozen:
        parameter.requires_grad_(False)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    pool = (
        _encode(model, [generator(np.random.default_rng([seed, i])) for i in range(pairs)], device) if pairs else None
    )
    choose = np.random.default_rng(seed)
    for step in tqdm(range(steps), desc="online learning", unit="step", disable=not progress):
        if cancel is not None and cancel():
            break
        if pool is not None:
            reference, target, targets = pool.take(choose.choice(pairs, batch_size, replace=False))
            logits = model.decode(target, reference)[0][:, None]
        else:
            batch = _stack([generator(np.random.default_rng([seed, step, i])) for i in range(batch_size)], device)
            logits = unrolled(batch["reference"], batch["reference_mask"], batch["frames"], batch["guidance"])
            targets = batch["labels"]
        loss = clip_loss(logits, targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    for parameter in frozen:
        parameter.requires_grad_(True)
    return model.eval()


def _stack(samples: list[Sample], device: torch.device) -> dict[str, Tensor]:
    """A batch of pairs on ``device``: reference (B, 3, H, W), reference_mask and guidance (B, 1, H, W), frames
    (B, 1, 3, H, W), labels (B, 1, H, W)."""
    names = ("reference", "reference_mask", "frames", "labels", "guidance")
    return {name: torch.from_numpy(np.stack([getattr(s, name) for s in samples])).to(device) for name in names}


@dataclass
class _EncodedPairs:
    """Pairs through the frozen encoder: reference r5 (P, C5, h, w), the target's (r5, r4, r3, r2), labels
    (P, 1, H, W)."""

    reference: Tensor
    target: Features
    labels: Tensor

    def take(self, indices: np.ndarray) -> tuple[Tensor, Features, Tensor]:
        """The pairs at ``indices``: (reference r5, target features, labels)."""
        chosen = torch.from_numpy(indices).to(self.labels.device)
        return self.reference[chosen], tuple(t[chosen] for t in self.target), self.labels[chosen]


def _encode(model: RGMP, samples: list[Sample], device: torch.device, chunk: int = 4) -> _EncodedPairs:
    """Run the encoder once on each pair, ``chunk`` pairs at a time."""
    parts = []
    with torch.no_grad():
        for start in range(0, len(samples), chunk):
            batch = _stack(samples[start : start + chunk], device)
            reference = model.encode_reference(batch["reference"], batch["reference_mask"])
            parts.append((reference, model.encoder(batch["frames"][:, 0], batch["guidance"]), batch["labels"]))
    references, targets, labels = zip(*parts, strict=True)
    return _EncodedPairs(
        torch.cat(references), tuple(torch.cat(level) for level in zip(*targets, strict=True)), torch.cat(labels)
    )


@dataclass(frozen=True)
class OnlineLearning:
    """Online learning as a session's ``adapt`` hook: ``OnlineLearning(steps, lr)(model, frame, mask)`` fine-tunes
    ``model`` (the session passes a copy) on the annotated frame with :func:`online_finetune` and returns it.

    Attributes:
        steps, lr, batch_size, size, seed, decoder_only, pairs: as :func:`online_finetune`.
        progress: show a tqdm bar.
        cancel: polled every step; returning True stops early.
    """

    steps: int = 1000
    lr: float = 1e-7
    batch_size: int = 4
    size: tuple[int, int] = (256, 256)
    seed: int = 0
    decoder_only: bool = False
    pairs: int | None = None
    progress: bool = False
    cancel: Callable[[], bool] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.steps < 1 or self.lr <= 0 or self.batch_size < 1:
            raise ValueError(f"online learning needs steps >= 1, lr > 0 and batch_size >= 1, got {self}")

    def __call__(self, model: RGMP, frame: np.ndarray, mask: np.ndarray) -> RGMP:
        return online_finetune(
            model, frame, mask, self.steps, self.lr, batch_size=self.batch_size, size=self.size, seed=self.seed,
            decoder_only=self.decoder_only, pairs=self.pairs, progress=self.progress, cancel=self.cancel,
        )  # fmt: skip

    def estimated_seconds(self, device: str | torch.device) -> float:
        """About how long the schedule takes with the Lite0 starter on ``device`` (:data:`PAIR_SECONDS`, scaled by
        the crop area)."""
        make_and_encode, decoder_step, all_weights_step = PAIR_SECONDS[
            "cuda" if torch.device(device).type == "cuda" else "cpu"
        ]
        area = self.size[0] * self.size[1] / 256**2
        pair_steps = self.steps * self.batch_size
        if not self.decoder_only:
            return pair_steps * all_weights_step * area
        return ((self.pairs or pair_steps) * make_and_encode + pair_steps * decoder_step) * area


PAIR_SECONDS: dict[str, tuple[float, float, float]] = {"cpu": (0.053, 0.022, 0.155), "cuda": (0.003, 0.003, 0.008)}
"""Seconds per 256×256 pair, device kind → (drawing it and running the frozen encoder on it once, a decoder-only
step on it, an all-weights step on it), Lite0 starter. CPU: 2-core AMD EPYC in bf16 (rgmp/weights/MODEL_CARD.md);
CUDA: an estimate, no GPU was measured."""


PAPER_SCHEDULE = OnlineLearning(steps=1000, lr=1e-7)
"""The paper's online learning (§4.3): 1000 Adam steps at 1e-7."""
ADAPT_SCHEDULE = OnlineLearning(steps=20, lr=2e-4, batch_size=4, decoder_only=True, pairs=16)
"""The fast schedule ("adapt to this clip first"): chosen on the dev split for J&F and seconds (rgmp/weights/
MODEL_CARD.md)."""
THOROUGH_SCHEDULE = OnlineLearning(steps=60, lr=1e-4, batch_size=4, decoder_only=True, pairs=48)
"""The best-scoring schedule found on the dev split (with flip averaging, J&F 0.702 and 0.699 against 0.692 for
:data:`ADAPT_SCHEDULE` with the first starter; 0.754 and 0.760 with the current one and its zoom window), 3× its
work (about 8 s on a 2-core CPU): the default where a GPU makes it cheap."""


def adapt_schedule(device: str | torch.device) -> OnlineLearning:
    """The default schedule on ``device``: :data:`THOROUGH_SCHEDULE` on a CUDA GPU, else :data:`ADAPT_SCHEDULE`."""
    return THOROUGH_SCHEDULE if torch.device(device).type == "cuda" else ADAPT_SCHEDULE
