"""Online learning on the annotated frame (paper §4.3)."""

from __future__ import annotations

import contextlib

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


def test_a_pool_of_encoded_pairs_fits_the_frame_with_the_encoder_frozen() -> None:
    torch.manual_seed(0)
    frame, mask = scene(np.random.default_rng(0), moving_boxes(0, 2))
    model = build_model(LITE)
    encoder = {k: v.clone() for k, v in model.encoder.state_dict().items()}
    before = pair_loss(model, frame, mask)
    fast = dict(steps=15, lr=1e-3, batch_size=2, size=(64, 64), decoder_only=True, pairs=6, progress=False)
    online_finetune(model, frame, mask, **fast)
    assert pair_loss(model, frame, mask) < 0.7 * before
    assert all(torch.equal(encoder[k], v) for k, v in model.encoder.state_dict().items())
    assert all(p.requires_grad for p in model.parameters())
    torch.manual_seed(0)
    twin = online_finetune(build_model(LITE), frame, mask, **fast)  # the same seed and start: the same weights
    assert all(torch.equal(v, twin.state_dict()[k]) for k, v in model.state_dict().items())


def test_online_learning_in_bf16_fits_as_in_float32() -> None:
    """Under bf16 autocast without a weight cache, as a session runs it, online learning fits as well as in fp32."""
    frame, mask = scene(np.random.default_rng(0), moving_boxes(0, 2))
    losses = {}
    for name, precision in [
        ("fp32", contextlib.nullcontext()),
        ("bf16", torch.autocast("cpu", dtype=torch.bfloat16, cache_enabled=False)),
    ]:
        torch.manual_seed(0)
        model = build_model(LITE)
        with precision:
            online_finetune(model, frame, mask, steps=15, lr=1e-3, batch_size=2, size=(64, 64), progress=False)
        losses[name] = pair_loss(model, frame, mask)
    assert losses["bf16"] < 1.2 * losses["fp32"] + 0.02


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
    with pytest.raises(ValueError, match="pool of pairs needs decoder_only"):
        online_finetune(model, frame, mask, steps=1, pairs=4, progress=False)
    with pytest.raises(ValueError, match="at least batch_size pairs"):
        online_finetune(model, frame, mask, steps=1, batch_size=4, decoder_only=True, pairs=2, progress=False)
