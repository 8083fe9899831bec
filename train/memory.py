"""The visual-memory stage (paper §4.3): a ConvGRU after the global convolution block, trained on video clips.

The paper's curriculum: the memory first trains alone (every other weight frozen) while the clip length grows
by one every 3000 steps up to 5, then everything trains together.
"""

from __future__ import annotations

from dataclasses import replace

from rgmp.model import RGMP, build_model
from rgmp.weights import WeightsError
from train.config import TrainConfig

MEMORY_PREFIX = "decoder.memory."


def add_memory(model: RGMP) -> RGMP:
    """The same network with a fresh visual memory (which leaves its output unchanged until trained).

    A model that already has one is returned as it is. Every weight of ``model`` is copied; the only keys the
    new network may lack are the memory's own.
    """
    if model.config.memory:
        return model
    new = build_model(replace(model.config, memory=True))
    result = new.load_state_dict(model.state_dict(), strict=False)
    missing = [k for k in result.missing_keys if not k.startswith(MEMORY_PREFIX)]
    if missing or result.unexpected_keys:
        raise WeightsError(f"cannot add a memory: missing {missing}, unexpected {result.unexpected_keys}")
    return new


def recursions(step: int, config: TrainConfig) -> int:
    """Targets per clip at ``step`` (0-based): 1, then one more every ``memory_steps_per_recursion`` steps."""
    return min(config.clip_length, 1 + step // config.memory_steps_per_recursion)


def train_memory_only(model: RGMP, only: bool) -> None:
    """Freeze every weight but the memory's (``only``), or make every weight trainable again."""
    for name, parameter in model.named_parameters():
        parameter.requires_grad = not only or name.startswith(MEMORY_PREFIX)
