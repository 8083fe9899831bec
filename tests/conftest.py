"""Shared fixtures: where the shared data lives, and small seeded models."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from rgmp.config import LITE, ModelConfig
from rgmp.model import RGMP, build_model
from rgmp.weights import save_checkpoint

SHARED_DATA = Path(os.environ.get("RGMP_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
CLIPS = SHARED_DATA / "clips"
KEYS_TSV = SHARED_DATA / "official-rgmp" / "keys.tsv"


@pytest.fixture(scope="session", autouse=True)
def private_user_cache(tmp_path_factory: pytest.TempPathFactory):
    """The user cache folder (where ``python -m rgmp weights download`` puts weights) is an empty folder for the
    tests, and so are their subprocesses': weights downloaded on this machine do not change what they see."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("user-cache")))
        yield


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op thread for a test module (``pytestmark = pytest.mark.usefixtures("one_torch_thread")``): on a
    shared 2-core CPU, OpenMP spinning makes tiny inputs 30× slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


TINY = ModelConfig(**{**LITE.__dict__, "decoder_width": 16})
"""The light model with a 16-channel decoder: a real network that runs tiny clips in milliseconds."""


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpoint of the seeded :data:`TINY` model, in this project's format."""
    path = tmp_path_factory.mktemp("weights") / "tiny.pt"
    save_checkpoint(path, seeded_model(TINY), {"purpose": "tests"})
    return path


def require(path: Path) -> Path:
    """Skip the calling test, with the reason, when a shared data file is absent."""
    if not path.exists():
        pytest.skip(f"shared data not found: {path} (set RGMP_SHARED_DATA to the data folder)")
    return path


def load_clip(name: str, count: int | None = None) -> tuple[list[np.ndarray], np.ndarray]:
    """Frames (H,W,3) uint8 and the first-frame label map of a shared clip."""
    frames_dir = require(CLIPS / "JPEGImages" / "480p" / name)
    paths = sorted(frames_dir.glob("*.jpg"))[:count]
    frames = [np.array(Image.open(p).convert("RGB")) for p in paths]
    mask = np.array(Image.open(CLIPS / "Annotations" / "480p" / name / "00000.png"))
    return frames, mask


def seeded_model(config: ModelConfig, seed: int = 0) -> RGMP:
    """A randomly initialised model whose frozen BatchNorm statistics are not the identity.

    The head is scaled so that probabilities are not saturated, which keeps comparisons between two
    implementations informative.
    """
    torch.manual_seed(seed)
    model = build_model(config)
    state = model.state_dict()
    generator = torch.Generator().manual_seed(seed)
    for key, value in state.items():
        if "bn" in key or "downsample.1" in key:
            if key.endswith("running_var"):
                value.copy_(torch.empty_like(value).uniform_(0.5, 2.0, generator=generator))
            elif key.endswith("running_mean") or key.endswith(".bias"):
                value.copy_(torch.randn(value.shape, generator=generator) * 0.05)
            elif key.endswith(".weight"):
                value.copy_(torch.empty_like(value).uniform_(0.5, 1.0, generator=generator))
    model.load_state_dict(state)
    model.eval()
    with torch.no_grad():  # calibrate the head: logits with a standard deviation of about 2
        frame = torch.rand(1, 3, 64, 96, generator=generator)
        mask = (torch.rand(1, 1, 64, 96, generator=generator) > 0.5).float()
        logits = model(frame, mask, model.encode_reference(frame, mask))
        model.decoder.pred2.weight.mul_(2 / logits.std())
        model.decoder.pred2.bias.mul_(2 / logits.std())
    return model


@pytest.fixture(scope="session")
def keys_tsv() -> list[tuple[str, tuple[int, ...]]]:
    """(key, shape) of every entry of the authors' weights.pth, from keys.tsv."""
    rows = []
    for line in require(KEYS_TSV).read_text().splitlines():
        if line and not line.startswith("#"):
            key, shape, _ = line.split("\t")
            rows.append((key, tuple(int(s) for s in shape.strip("()").split(",") if s.strip())))
    return rows
