"""The visual-memory stage (paper §4.3): a ConvGRU added to a trained model, trained with the curriculum."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
from test_data_loaders import write_davis

from rgmp.config import LITE
from rgmp.model import build_model
from rgmp.weights import load_model, save_checkpoint
from train.config import default_config
from train.errors import TrainError
from train.loop import train
from train.memory import add_memory, recursions
from train.recurrence import Unrolled

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_a_fresh_memory_changes_nothing() -> None:
    torch.manual_seed(0)
    model = build_model(LITE).eval()
    with_memory = add_memory(model).eval()
    assert with_memory.config.memory and add_memory(with_memory) is with_memory
    frame, mask = torch.rand(1, 3, 64, 64), torch.rand(1, 1, 64, 64)
    reference = model.encode_reference(frame, mask)
    logits, hidden = with_memory.step(frame, mask, reference)
    assert torch.allclose(logits, model(frame, mask, reference)) and hidden.shape[1] == LITE.decoder_width


def test_curriculum_grows_one_recursion_per_period() -> None:
    config = replace(default_config("memory"), memory_steps_per_recursion=3, clip_length=5)
    assert [recursions(s, config) for s in range(0, 16, 3)] == [1, 2, 3, 4, 5, 5]


def test_memory_carries_gradients_to_the_first_step() -> None:
    torch.manual_seed(0)
    model = add_memory(build_model(LITE))
    torch.nn.init.normal_(model.decoder.memory.candidate.weight, std=0.1)
    frames = torch.rand(1, 3, 3, 64, 64, requires_grad=True)
    logits = Unrolled(model)(torch.rand(1, 3, 64, 64), torch.rand(1, 1, 64, 64), frames, torch.rand(1, 1, 64, 64))
    logits[:, -1].sum().backward()
    assert frames.grad[:, 0].abs().sum() > 0


def test_memory_stage_trains_the_memory_alone_first(tmp_path: Path) -> None:
    davis = write_davis(tmp_path / "DAVIS", "2016", frames=8)
    torch.manual_seed(0)
    save_checkpoint(tmp_path / "stage2.pt", build_model(LITE))
    config = replace(
        default_config("memory"),
        out=str(tmp_path / "run"),
        init=str(tmp_path / "stage2.pt"),
        data=(f"davis2016:{davis}",),
        size=(64, 96),
        batch_size=1,
        clip_length=3,
        max_skip=2,
        lr=1e-3,
        workers=0,
        steps=2,
        memory_steps_per_recursion=1,
        memory_freeze_steps=2,
        device="cpu",
        val=f"davis2016:{davis}",
        val_sequences=("beta",),
        val_every=2,
        val_size=None,
    )
    final = train(config)
    before, _ = load_model(tmp_path / "stage2.pt")
    after, metadata = load_model(final)
    assert after.config.memory and metadata["stage"] == "memory"
    trained = after.state_dict()
    for name, value in before.state_dict().items():
        assert torch.equal(trained[name], value), name  # frozen during the first phase
    assert trained["decoder.memory.candidate.weight"].abs().sum() > 0
    assert (tmp_path / "run" / "log.jsonl").read_text().count("val/J&F") == 1
    resumed, _ = load_model(train(replace(config, steps=3), resume=True))  # second phase: everything trains
    assert not torch.equal(resumed.state_dict()["decoder.pred2.weight"], before.state_dict()["decoder.pred2.weight"])
    with pytest.raises(TrainError, match="--init"):
        train(replace(config, init=None, out=str(tmp_path / "other")))
