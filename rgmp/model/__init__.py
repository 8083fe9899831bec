"""RGMP network modules and the builder that makes a model from a :class:`~rgmp.config.ModelConfig`."""

from rgmp.config import ModelConfig
from rgmp.model.rgmp import RGMP


def build_model(config: ModelConfig) -> RGMP:
    """Build an RGMP network with freshly initialised weights (nothing is read or downloaded)."""
    return RGMP(config)


__all__ = ["RGMP", "build_model"]
