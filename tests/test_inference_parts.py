"""Padding, resizing and the several-object merges."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from rgmp.inference.geometry import Canvas, padded_side
from rgmp.inference.merge import merge, naive_merge, pass_masks, soft_aggregate, winner_take_all


def test_released_padding_always_adds_1_to_32_pixels():
    assert padded_side(480, "released") == 512
    assert padded_side(854, "released") == 864
    assert padded_side(512, "released") == 544
    assert padded_side(512, "minimal") == 512
    assert padded_side(481, "minimal") == 512
    canvas = Canvas.for_frame(480, 854, "released")
    assert (canvas.top, canvas.left) == (16, 5)
    assert canvas.scaled_size(0.5, "released") == (288, 448)
    assert canvas.scaled_size(0.75, "released") == (416, 672)
    assert canvas.scaled_size(1.0, "released") == (512, 864)


def test_stretch_resizes_to_the_next_multiples_of_32_instead_of_padding():
    canvas = Canvas.for_frame(240, 427, "stretch")
    assert canvas == Canvas(256, 448, 256, 448, 0, 0)
    assert Canvas.for_frame(256, 448, "stretch") == canvas
    x = torch.rand(2, 3, 256, 448)
    assert torch.equal(canvas.pad(x), x) and torch.equal(canvas.crop(x), x)  # the canvas is all frame


@pytest.mark.parametrize("mode", ["released", "minimal"])
@pytest.mark.parametrize(("h", "w"), [(480, 854), (33, 31), (64, 64), (1, 1)])
def test_pad_crop_round_trip(mode, h, w):
    canvas = Canvas.for_frame(h, w, mode)
    x = torch.rand(2, 3, h, w)
    padded = canvas.pad(x)
    assert padded.shape[-2:] == (canvas.padded_height, canvas.padded_width)
    assert padded.shape[-2] % 32 == 0 and padded.shape[-1] % 32 == 0
    assert torch.equal(canvas.crop(padded), x)
    assert padded.sum() == pytest.approx(x.sum().item(), rel=1e-5)  # zeros around


def _probs(k, seed=0):
    return torch.rand(k, 5, 7, generator=torch.Generator().manual_seed(seed))


def test_soft_aggregation_sums_to_one_and_follows_eq1():
    background_pass, objects = _probs(1)[0], _probs(3, 1)
    out = soft_aggregate(background_pass, objects)
    torch.testing.assert_close(out.sum(0), torch.ones(5, 7))
    p = torch.cat([1 - background_pass[None], objects]).clamp(1e-7, 1 - 1e-7)
    odds = p / (1 - p)
    torch.testing.assert_close(out, odds / odds.sum(0))


def test_soft_aggregation_with_one_object_reduces_to_single_object():
    p = _probs(1)[0]
    # With one object, p(union) = p(object) and eq. 1 keeps the single-object decision (p > 0.5) ...
    assert torch.equal(soft_aggregate(p, p[None]).argmax(0), (p > 0.5).long())
    # ... and the merge skips the aggregation entirely, as the release does: [1 - p, p].
    distribution, guidance = merge("soft", p[None])
    torch.testing.assert_close(distribution, torch.stack([1 - p, p]))
    assert torch.equal(guidance, p[None])


def test_soft_merge_guidance_is_union_then_objects():
    outputs = _probs(3)
    distribution, guidance = merge("soft", outputs)  # background pass + 2 objects
    assert distribution.shape == (3, 5, 7)
    torch.testing.assert_close(guidance[0], distribution[1:].sum(0))
    torch.testing.assert_close(guidance[1:], distribution[1:])
    assert pass_masks("soft", outputs[:2]).shape[0] == 3
    assert pass_masks("naive", outputs[:2]).shape[0] == 2


def test_naive_and_winner_take_all():
    objects = torch.tensor([[[0.9, 0.2, 0.6]], [[0.3, 0.1, 0.7]]])
    naive = naive_merge(objects)
    torch.testing.assert_close(naive.sum(0), torch.ones(1, 3))
    assert naive.argmax(0).tolist() == [[1, 0, 2]]
    wta = winner_take_all(objects)
    torch.testing.assert_close(wta, torch.tensor([[[0.1, 0.8, 0.3]], [[0.9, 0.2, 0.0]], [[0.0, 0.0, 0.7]]]))
    _, guidance = merge("wta", objects)
    assert torch.equal(guidance, wta[1:])
    _, guidance = merge("naive", objects)
    assert torch.equal(guidance, objects)
    with pytest.raises(ValueError, match="unknown merge"):
        merge("max", objects)


def test_soft_product_estimates_the_background_without_a_pass():
    objects = _probs(2)
    distribution, guidance = merge("soft-product", objects)
    union = 1 - (1 - objects[0]) * (1 - objects[1])
    torch.testing.assert_close(distribution, soft_aggregate(union, objects))
    torch.testing.assert_close(guidance, distribution[1:])
    assert pass_masks("soft-product", objects).shape[0] == 2  # no background pass


def test_auto_precision_is_bf16_only_for_the_light_model_on_a_native_bf16_cpu(monkeypatch):
    from rgmp import device as dev
    from rgmp.config import LITE, PAPER
    from rgmp.inference import network

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    lite2 = dataclasses.replace(LITE, encoder="efficientnet_lite2")  # decided by the family, not the name
    for native in (True, False):
        monkeypatch.setattr(network, "cpu_has_native_bf16", lambda native=native: native)
        assert network.auto_precision(LITE, cpu) == (torch.bfloat16 if native else None)
        assert network.auto_precision(lite2, cpu) == (torch.bfloat16 if native else None)
        assert network.auto_precision(PAPER, cpu) is None  # the paper model stays fp32, as released
        assert network.auto_precision(LITE, cuda) is None
    assert dev.parse_precision("fp16") is torch.float16 and dev.parse_precision("auto") == "auto"
    assert [dev.dtype_name(dev.parse_dtype(n)) for n in dev.DTYPES] == list(dev.DTYPES)
    with pytest.raises(ValueError, match="unknown device 'tpu0'"):
        dev.pick_device("tpu0")
