"""The training loop: it learns, back-propagates through time, resumes exactly, stops cleanly, runs under DDP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from test_data_loaders import write_davis

import train.loop as loop_module
from rgmp.config import LITE
from rgmp.model import build_model
from rgmp.weights import load_model, read_weights_file
from train.__main__ import main
from train.config import TrainConfig, default_config
from train.datasets import DatasetSpec, static_entries
from train.errors import NonFiniteLoss, TrainError
from train.loader import collate
from train.loop import EXIT_INTERRUPTED, train
from train.recurrence import Unrolled, clip_loss
from train.samples import PairGenerator, PairOptions
from train.state import initial_model

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def davis(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_davis(tmp_path_factory.mktemp("davis") / "DAVIS", "2016", frames=8)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_config(davis: Path, out: Path, stage: str = "pretrain", **overrides) -> TrainConfig:
    size = (64, 64) if stage == "pretrain" else (64, 96)
    base = replace(
        default_config(stage),
        out=str(out),
        data=(f"davis2016:{davis}",),
        size=size,
        batch_size=2,
        clip_length=1 if stage == "pretrain" else 3,
        max_skip=2,
        encoder_init="none",
        lr=1e-4,
        workers=0,
        log_every=1,
        image_every=2,
        save_every=2,
        steps=3,
        amp=False,
        device="cpu",
    )
    return replace(base, **overrides)


def losses(out: Path) -> dict[int, float]:
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    return {r["step"]: r["last_loss"] for r in rows if "last_loss" in r}


def test_a_few_steps_overfit_a_fixed_batch(davis: Path) -> None:
    torch.manual_seed(0)
    rows = static_entries(DatasetSpec.parse(f"davis2016:{davis}"))
    generator = PairGenerator(rows, None, PairOptions(size=(64, 64)))
    batch = collate([generator(np.random.default_rng(i)) for i in range(2)])
    model = Unrolled(build_model(LITE).train())
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    history = []
    for _ in range(25):
        loss = clip_loss(
            model(batch["reference"], batch["reference_mask"], batch["frames"], batch["guidance"]), batch["labels"]
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append(loss.item())
    assert history[-1] < 0.5 * history[0], history


def test_gradients_reach_the_first_recurrence_step() -> None:
    torch.manual_seed(0)
    model = Unrolled(build_model(LITE).train())
    frames = torch.rand(1, 3, 3, 64, 64, requires_grad=True)
    guidance = torch.rand(1, 1, 64, 64, requires_grad=True)
    logits = model(torch.rand(1, 3, 64, 64), torch.rand(1, 1, 64, 64), frames, guidance)
    assert logits.shape == (1, 3, 2, 64, 64)
    logits[:, -1, 1].sum().backward()  # a loss on the last step only
    assert frames.grad[:, 0].abs().sum() > 0  # reaches the first target through the soft guidance chain
    assert guidance.grad.abs().sum() > 0


def test_resume_gives_the_same_next_step_loss(davis: Path, tmp_path: Path) -> None:
    train(tiny_config(davis, tmp_path / "straight", steps=3))
    train(tiny_config(davis, tmp_path / "split", steps=2))
    assert read_weights_file(tmp_path / "split" / "last.pt")["step"] == 2
    train(tiny_config(davis, tmp_path / "split", steps=3), resume=True)
    straight, split = losses(tmp_path / "straight"), losses(tmp_path / "split")
    assert split[3] == pytest.approx(straight[3], rel=1e-5, abs=1e-6)
    assert split[1] == pytest.approx(straight[1], rel=1e-6)
    a, _ = load_model(tmp_path / "straight" / "final.pt")
    b, _ = load_model(tmp_path / "split" / "final.pt")
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.allclose(x, y, atol=1e-6), name


def test_outputs_config_tensorboard_and_validation(davis: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    config = tiny_config(
        davis,
        out,
        stage="finetune",
        steps=2,
        val=f"davis2016:{davis}",
        val_sequences=("beta",),
        val_every=2,
        val_size=None,
    )
    final = train(config)
    assert TrainConfig.from_dict(json.loads((out / "config.json").read_text())) == config
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    scores = [r for r in rows if "val/J&F" in r]
    assert len(scores) == 1 and 0.0 <= scores[0]["val/J&F"] <= 1.0
    assert list((out / "tb").glob("events.out.tfevents.*"))
    _, metadata = load_model(final)
    assert metadata["stage"] == "finetune" and metadata["step"] == 2
    assert metadata["train_config"]["clip_length"] == 3
    extra = tmp_path / "extra.json"
    extra.write_text('{"dev_split": ["beta"]}')
    assert main(["export", str(final), "--out", str(tmp_path / "release.pt"), "--half", "--metadata", str(extra)]) == 0
    release = read_weights_file(tmp_path / "release.pt")
    assert "optimizer" not in release and release["state_dict"]["decoder.pred2.weight"].dtype == torch.float16
    _, metadata = load_model(tmp_path / "release.pt")
    assert metadata["dev_split"] == ["beta"] and metadata["step"] == 2


def test_paper_encoder_starts_from_a_torchvision_resnet50_file(tmp_path: Path) -> None:
    import torchvision

    torch.manual_seed(0)
    reference = torchvision.models.resnet50(weights=None)
    torch.save(reference.state_dict(), tmp_path / "resnet50.pth")
    config = replace(default_config("pretrain"), model="paper", resnet50_weights=str(tmp_path / "resnet50.pth"))
    model, _ = initial_model(config)
    assert torch.equal(model.encoder.layer4[2].conv3.weight, reference.layer4[2].conv3.weight)
    assert torch.equal(model.encoder.bn1.running_var, reference.bn1.running_var)
    with pytest.raises(TrainError, match="resnet50-weights"):
        initial_model(replace(config, resnet50_weights=None))


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(davis: Path, tmp_path: Path, monkeypatch) -> None:
    calls = {"n": 0}

    def exploding(logits, labels):
        calls["n"] += 1
        loss = clip_loss(logits, labels)
        return loss * float("nan") if calls["n"] == 3 else loss

    monkeypatch.setattr(loop_module, "clip_loss", exploding)
    with pytest.raises(NonFiniteLoss, match="non-finite loss at step 3.*last.pt \\(step 2\\)"):
        train(tiny_config(davis, tmp_path / "run", steps=5))
    assert read_weights_file(tmp_path / "run" / "last.pt")["step"] == 2
    assert not (tmp_path / "run" / "final.pt").exists()


def test_sigterm_saves_a_checkpoint_and_resume_continues(davis: Path, tmp_path: Path, monkeypatch) -> None:
    calls = {"n": 0}

    def interrupted(logits, labels):
        calls["n"] += 1
        if calls["n"] == 1:
            os.kill(os.getpid(), signal.SIGTERM)
        return clip_loss(logits, labels)

    monkeypatch.setattr(loop_module, "clip_loss", interrupted)
    with pytest.raises(SystemExit) as stopped:
        train(tiny_config(davis, tmp_path / "run", steps=5, save_every=100))
    assert stopped.value.code == EXIT_INTERRUPTED
    assert read_weights_file(tmp_path / "run" / "last.pt")["step"] == 1
    monkeypatch.setattr(loop_module, "clip_loss", clip_loss)
    train(tiny_config(davis, tmp_path / "run", steps=2), resume=True)
    assert read_weights_file(tmp_path / "run" / "last.pt")["step"] == 2


def test_cli_bad_input_is_one_line(tmp_path: Path, capsys) -> None:
    assert main(["pretrain", "--out", str(tmp_path / "r"), "--data", f"voc:{tmp_path / 'nowhere'}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: dataset voc") and "not found" in err[0]
    assert not (tmp_path / "r").exists()  # nothing written for a run that cannot start
    assert main(["finetune", "--out", str(tmp_path / "r"), "--resume"]) == 2
    assert "no checkpoint" in capsys.readouterr().err


def test_two_process_ddp_smoke_run_on_cpu(davis: Path, tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "--standalone",
        "-m",
        "train",
        "pretrain",
        "--out",
        str(out),
        "--data",
        f"davis2016:{davis}",
        "--size",
        "64x64",
        "--batch-size",
        "1",
        "--steps",
        "2",
        "--encoder-init",
        "none",
        "--workers",
        "0",
        "--device",
        "cpu",
        "--threads",
        "1",
        "--log-every",
        "1",
        "--save-every",
        "1",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    assert losses(out).keys() == {1, 2}
    _, metadata = load_model(out / "final.pt")
    assert metadata["samples"] == 2 * 2  # two ranks × batch 1 × two steps


def test_a_bfloat16_training_step_on_cpu_follows_float32() -> None:
    """One step under CPU bfloat16 autocast: the loss is within bf16 rounding of the float32 loss, every trainable
    weight gets a finite gradient, and the step moves the weights as the float32 step does."""
    torch.manual_seed(0)
    model = build_model(LITE).train().to(memory_format=torch.channels_last)
    batch = (torch.rand(2, 3, 64, 64), (torch.rand(2, 1, 64, 64) > 0.5).float(), torch.rand(2, 2, 3, 64, 64))
    guidance, labels = (torch.rand(2, 1, 64, 64) > 0.5).float(), (torch.rand(2, 2, 64, 64) > 0.5).long()
    steps = {}
    for name, enabled in (("fp32", False), ("bf16", True)):
        copy = build_model(LITE).train().to(memory_format=torch.channels_last)
        copy.load_state_dict(model.state_dict())
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=enabled):
            logits = Unrolled(copy)(*batch, guidance)
        assert logits.dtype == (torch.bfloat16 if enabled else torch.float32)
        loss = clip_loss(logits, labels)
        loss.backward()
        grads = [p.grad for p in copy.parameters() if p.requires_grad]
        assert all(g is not None and torch.isfinite(g).all() for g in grads)
        steps[name] = (loss.item(), copy.decoder.pred2.weight.grad.flatten())
    assert steps["bf16"][0] == pytest.approx(steps["fp32"][0], rel=0.02)
    assert torch.nn.functional.cosine_similarity(steps["bf16"][1], steps["fp32"][1], dim=0) > 0.95


def test_cpu_bf16_and_weight_average_resume_exactly_and_export_the_average(davis: Path, tmp_path: Path) -> None:
    options = {"stage": "finetune", "cpu_bf16": True, "ema": 0.5, "flip": 0.5, "reverse": 0.5, "occluder": 0.5}
    train(tiny_config(davis, tmp_path / "straight", steps=3, **options))
    train(tiny_config(davis, tmp_path / "split", steps=2, **options))
    train(tiny_config(davis, tmp_path / "split", steps=3, **options), resume=True)
    assert losses(tmp_path / "split")[3] == pytest.approx(losses(tmp_path / "straight")[3], rel=1e-4)
    last = read_weights_file(tmp_path / "split" / "last.pt")
    assert int(last["ema_state_dict"]["n_averaged"]) == 3
    raw, _ = load_model(tmp_path / "split" / "last.pt")
    average, _ = load_model(tmp_path / "split" / "final.pt")
    assert not torch.equal(raw.decoder.pred2.weight, average.decoder.pred2.weight)
    torch.testing.assert_close(average.decoder.pred2.weight, last["ema_state_dict"]["module.decoder.pred2.weight"])
    assert main(["export", str(tmp_path / "split" / "last.pt"), "--out", str(tmp_path / "release.pt")]) == 0
    exported, metadata = load_model(tmp_path / "release.pt")
    assert torch.equal(exported.decoder.pred2.weight, average.decoder.pred2.weight)
    assert "moving average" in metadata["weights"]
    assert exported.config.pad_mode == "stretch"  # the light model's default
    padded_file = tmp_path / "padded.pt"
    export = ["export", str(tmp_path / "split" / "last.pt"), "--out", str(padded_file), "--pad-mode", "minimal"]
    assert main(export) == 0
    padded, _ = load_model(padded_file)
    assert padded.config == replace(exported.config, pad_mode="minimal")
    assert torch.equal(padded.decoder.pred2.weight, exported.decoder.pred2.weight)


def test_a_training_config_written_before_the_augmentations_resumes_with_them_off() -> None:
    stored = default_config("finetune").to_dict()
    for new in ("encoder", "zoom", "flip", "reverse", "occluder", "simulated", "cpu_bf16", "channels_last", "ema"):
        stored.pop(new)
    config = TrainConfig.from_dict(stored)
    assert (config.flip, config.reverse, config.occluder, config.simulated, config.ema) == (0, 0, 0, 0, 0)
    assert config.zoom == (1.0, 1.3) and not config.cpu_bf16


def test_encoder_option_picks_the_lite_backbone() -> None:
    config = replace(default_config("pretrain"), encoder="efficientnet_lite2", encoder_init="none")
    model, _ = initial_model(config)
    assert model.config.encoder == "efficientnet_lite2" and model.encoder.channels == (24, 48, 120, 352)
    with pytest.raises(TrainError, match="efficientnet_lite0, efficientnet_lite1, efficientnet_lite2"):
        initial_model(replace(config, encoder="resnet18"))
