"""The authors' weights.pth: key map, strict loading, and reproduction of the released inference."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import load_clip, seeded_model
from PIL import Image

from rgmp.config import PAPER
from rgmp.inference import Session, SessionOptions
from rgmp.model import build_model
from rgmp.weights import WeightsError, convert_official, load_model, official_key

pytest.importorskip("cv2", reason="the oracle needs opencv-python-headless (cv2)")
import released  # noqa: E402


def to_official(model: torch.nn.Module, keys: list[tuple[str, tuple[int, ...]]]) -> dict[str, torch.Tensor]:
    """Our state dict written out under the released names (what the authors' file looks like)."""
    ours = model.state_dict()
    return {k: ours[official_key(k)].clone() for k, _ in keys if official_key(k) is not None}


def test_key_map_covers_the_released_file_exactly(keys_tsv):
    expected = {k: tuple(v.shape) for k, v in build_model(PAPER).state_dict().items()}
    mapped = {official_key(k): shape for k, shape in keys_tsv if not k.endswith("num_batches_tracked")}
    assert mapped == expected
    assert official_key("module.Encoder.bn1.num_batches_tracked") is None


def test_key_map_examples():
    assert official_key("module.Encoder.conv1_p.weight") == "encoder.mask_conv.weight"
    assert official_key("module.Encoder.res2.0.conv1.weight") == "encoder.layer1.0.conv1.weight"
    assert official_key("module.Encoder.res5.2.bn3.running_var") == "encoder.layer4.2.bn3.running_var"
    assert official_key("module.Encoder.mean") == "encoder.mean"
    assert official_key("module.Decoder.GC.conv_l1.bias") == "decoder.GC.conv_l1.bias"
    assert official_key("module.Decoder.RF2.convMM2.weight") == "decoder.RF2.convMM2.weight"
    assert official_key("module.Decoder.pred2.weight") == "decoder.pred2.weight"
    assert official_key("module.Decoder.pred4.bias") == "decoder.aux.pred4.bias"


def test_official_file_loads_strictly_and_keeps_values(tmp_path, keys_tsv):
    model = seeded_model(PAPER, seed=3)
    state = to_official(model, keys_tsv)
    assert all(k.startswith("module.") for k in state) and len(state) == 319
    torch.save(state, tmp_path / "weights.pth")
    loaded, metadata = load_model(tmp_path / "weights.pth", expect="paper")
    assert metadata["source"] == "official"
    for key, value in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value, rtol=0, atol=0)
    with pytest.raises(WeightsError, match="not 'lite'"):
        load_model(tmp_path / "weights.pth", expect="lite")


def test_num_batches_tracked_entries_are_accepted(keys_tsv):
    state = {k: torch.zeros(s) if s else torch.tensor(0) for k, s in keys_tsv}
    assert set(convert_official(state)) == set(build_model(PAPER).state_dict())


def test_partial_or_foreign_file_names_the_keys(tmp_path, keys_tsv):
    state = to_official(build_model(PAPER), keys_tsv)
    del state["module.Decoder.RF3.convFS2.weight"]
    state["module.Decoder.extra.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "partial.pth")
    with pytest.raises(WeightsError) as err:
        load_model(tmp_path / "partial.pth")
    assert "decoder.RF3.convFS2.weight" in str(err.value) and "decoder.extra.weight" in str(err.value)
    assert "1 missing" in str(err.value) and "1 unexpected" in str(err.value)
    torch.save({"something": torch.zeros(2)}, tmp_path / "foreign.pth")
    with pytest.raises(WeightsError, match="neither"):
        load_model(tmp_path / "foreign.pth")
    (tmp_path / "text.pth").write_text("not a checkpoint")
    with pytest.raises(WeightsError, match="cannot read"):
        load_model(tmp_path / "text.pth")


def _crop(frames, mask, height, width):
    """A window of the clip centred on its objects, so every object stays in view."""
    ys, xs = np.nonzero(mask)
    top = int(np.clip((ys.min() + ys.max() - height) // 2, 0, mask.shape[0] - height))
    left = int(np.clip((xs.min() + xs.max() - width) // 2, 0, mask.shape[1] - width))
    window = (slice(top, top + height), slice(left, left + width))
    return [f[window] for f in frames], mask[window]


@pytest.mark.parametrize(
    ("clip", "scales"),
    [
        ("rollerblade", (1.0,)),
        ("rollerblade", (0.5, 0.75, 1.0)),
        ("bike", (1.0,)),
        ("bike", (0.5, 0.75, 1.0)),
    ],
)
def test_session_reproduces_released_inference(clip, scales, keys_tsv):
    """Same weights in both; real frames cropped to 240×427 (pads to 256×448) to keep the test short."""
    frames, mask = _crop(*load_clip(clip, 3), 240, 427)
    assert len(np.unique(mask)) == (3 if clip == "bike" else 2)
    model = seeded_model(PAPER, seed=1)
    oracle = released.load_released(to_official(model, keys_tsv))
    expected = released.released_inference(oracle, frames, mask, scales)
    session = Session(model, "cpu", SessionOptions(scales=scales))
    results = list(session.propagate(frames, mask))
    assert [r.index for r in results] == [0, 1, 2]
    for result, want in zip(results, expected, strict=True):
        assert result.probs.shape == want.shape
        np.testing.assert_allclose(result.probs, want, atol=2e-4)
        assert (result.labels == want.argmax(0)).mean() >= 0.999
    assert 0.05 < (results[-1].labels > 0).mean() < 0.95  # a real, non-degenerate segmentation


def test_cli_segment_with_official_weights_matches_release(tmp_path, keys_tsv):
    """``python -m rgmp segment --model paper --weights weights.pth`` writes the released labels."""
    frames, mask = _crop(*load_clip("bike", 2), 160, 300)
    model = seeded_model(PAPER, seed=2)
    state = to_official(model, keys_tsv)
    torch.save(state, tmp_path / "weights.pth")
    for i, frame in enumerate(frames):
        Image.fromarray(frame).save(tmp_path / f"{i:05d}.png")
    from rgmp.io.masks import write_mask

    write_mask(tmp_path / "mask.png", mask)
    frames_dir = tmp_path / "frames"
    frames_dir.mkdir()
    for p in tmp_path.glob("0*.png"):
        p.rename(frames_dir / p.name)
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-m",
        "rgmp",
        "segment",
        "--frames",
        str(frames_dir),
        "--mask",
        str(tmp_path / "mask.png"),
        "--out",
        str(out),
        "--model",
        "paper",
        "--weights",
        str(tmp_path / "weights.pth"),
        "--scales",
        "1.0",
        "--size",
        "0",
        "--device",
        "cpu",
    ]
    subprocess.run(cmd, check=True, capture_output=True)
    oracle = released.load_released(state)
    expected = released.released_inference(oracle, frames, mask, (1.0,)).argmax(1)
    written = [np.array(Image.open(out / f"{i:05d}.png")) for i in range(2)]
    for got, want in zip(written, expected, strict=True):
        assert (got == want).mean() >= 0.999
