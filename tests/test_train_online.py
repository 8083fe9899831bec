"""Online learning on the annotated frame (paper §4.3)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_data_loaders import moving_boxes, scene

from rgmp.config import LITE
from rgmp.model import build_model
from train.online import online_finetune
from train.recurrence import Unrolled, clip_loss
from train.samples import ArrayEntry, PairGenerator, PairOptions

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def pair_loss(model, frame: np.ndarray, mask: np.ndarray) -> float:
    generator = PairGenerator([ArrayEntry(frame, mask)], None, PairOptions(size=(64, 64), strategy2=0.0))
    samples = [generator(np.random.default_rng([99, i])) for i in range(4)]
    batch = {
        n: torch.from_numpy(np.stack([getattr(s, n) for s in samples]))
        for n in ("reference", "reference_mask", "frames", "labels", "guidance")
    }
    with torch.no_grad():
        logits = Unrolled(model)(batch["reference"], batch["reference_mask"], batch["frames"], batch["guidance"])
    return clip_loss(logits, batch["labels"]).item()


def test_online_learning_fits_the_annotated_frame() -> None:
    torch.manual_seed(0)
    frame, mask = scene(np.random.default_rng(0), moving_boxes(0, 2))
    model = build_model(LITE)
    before = pair_loss(model, frame, mask)
    returned = online_finetune(model, frame, mask, steps=15, lr=1e-3, batch_size=2, size=(64, 64), progress=False)
    assert returned is model and not model.training
    assert pair_loss(model, frame, mask) < 0.7 * before


def test_cancel_and_bad_input() -> None:
    frame, mask = scene(np.random.default_rng(0), moving_boxes(0, 1))
    model = build_model(LITE)
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    online_finetune(model, frame, mask, steps=5, lr=1e-3, size=(64, 64), progress=False, cancel=lambda: True)
    assert all(torch.equal(weights[k], v) for k, v in model.state_dict().items())
    with pytest.raises(ValueError, match="at least one object"):
        online_finetune(model, frame, np.zeros_like(mask), steps=1, progress=False)
    with pytest.raises(ValueError, match="does not match"):
        online_finetune(model, frame, mask[:10], steps=1, progress=False)
