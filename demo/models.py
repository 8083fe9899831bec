"""Which networks the demo offers and how they are loaded.

A choice is a key: ``"starter"`` (the lite model's starter weights), ``"official"`` (the authors' ``weights.pth``,
offered when it is installed where :func:`rgmp.weights.default_weights` looks, e.g. by ``python -m rgmp weights
download paper``) or the path of a project checkpoint; :func:`default_model` picks the one the page starts with.
A :data:`ModelLoader` turns a key into a network; tests inject one that builds a seeded random model, so they never
need real weights. The page keeps each network prepared for its device (:func:`prepared_networks`) between runs.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

import torch

from rgmp.config import LITE
from rgmp.inference import PreparedNetwork
from rgmp.inference.network import Precision
from rgmp.model import RGMP, build_model
from rgmp.weights import STARTER_WEIGHTS, WeightsError, default_weights, load_model, weights_dirs

ModelLoader = Callable[[str], RGMP]
"""key → network in eval mode (any device; the session moves it)."""

T = TypeVar("T")

STARTER = "starter"
OFFICIAL = "official"
MODEL_SIZE = "model"
"""The processing-size choice that leaves the size to the network (``config.default_size``)."""


def paper_weights_installed() -> bool:
    """Whether the authors' ``weights.pth`` is where :func:`rgmp.weights.default_weights` looks."""
    try:
        default_weights("paper")
    except WeightsError:
        return False
    return True


def default_model(device: torch.device) -> str:
    """The model the page starts with: the paper model on a CUDA GPU when its weights are installed (it runs at
    over 100 frames/s there), else the starter weights (the paper model takes about 1 s a frame on a small CPU)."""
    return OFFICIAL if device.type == "cuda" and paper_weights_installed() else STARTER


def model_choices(default: str = STARTER) -> list[tuple[str, str]]:
    """(label, key) pairs for the model dropdown: the starter weights first, then what is installed; the label of
    ``default`` says so."""
    choices = [("Lite · starter weights", STARTER)]
    if paper_weights_installed():
        choices.append(("Paper · authors' weights.pth (research use only)", OFFICIAL))
    choices = [(f"{label} (default)" if key == default else label, key) for label, key in choices]
    seen = {STARTER_WEIGHTS.resolve()}
    for folder in weights_dirs():
        for path in sorted(folder.glob("*.pt")) if folder.is_dir() else []:
            if path.resolve() not in seen:
                seen.add(path.resolve())
                choices.append((f"Checkpoint · {path.name}", str(path)))
    return choices


def missing_weights_message() -> str | None:
    """The reason the default (starter) weights cannot be loaded, or None when they are installed."""
    try:
        default_weights("lite")
    except WeightsError as err:
        return str(err)
    return None


def load_weights(key: str) -> RGMP:
    """The default :data:`ModelLoader`: installed weights by key, or a checkpoint path (strict, weights_only)."""
    if key == STARTER:
        path = default_weights("lite")
    elif key == OFFICIAL:
        path = default_weights("paper")
    else:
        path = Path(key)
    model, _ = load_model(path)
    return model


def random_model_loader(seed: int = 0) -> ModelLoader:
    """A loader that ignores the key and builds the lite network with random weights (tests, UI work).

    Its masks are meaningless; it exists so that the page can be exercised without trained weights.
    """

    def load(key: str) -> RGMP:
        torch.manual_seed(seed)
        return build_model(LITE).eval()

    return load


class ModelCache(Generic[T]):
    """What ``loader`` gives for a key, the most recent ``size`` kept; safe to share between request threads.

    Networks are only read during inference (``torch.inference_mode``), so sessions may share one.
    """

    def __init__(self, loader: Callable[[str], T], size: int = 2):
        self.loader = loader
        self.size = size
        self._models: OrderedDict[str, T] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> T:
        """The value for ``key``, loaded on first use (raises :class:`WeightsError` for bad files)."""
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
            model = self.loader(key)
            self._models[key] = model
            while len(self._models) > self.size:
                self._models.popitem(last=False)
            return model


def prepared_networks(
    loader: ModelLoader, device: torch.device, dtype: Precision = "auto", size: int = 2
) -> ModelCache[PreparedNetwork]:
    """Networks by key, each prepared once for ``device`` and ``dtype`` (:meth:`PreparedNetwork.build`: folded,
    cast, channels-last) and kept between runs."""
    return ModelCache(lambda key: PreparedNetwork.build(loader(key), device, dtype=dtype), size)
