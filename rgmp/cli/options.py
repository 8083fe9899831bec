"""The options the commands share, declared once: ``segment``, ``segment-batch`` and ``benchmark`` add them with
:func:`add_inference_arguments` and turn them into a session with :func:`session_options`."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import torch

from rgmp.config import ModelConfig
from rgmp.device import DTYPES, parse_precision, pick_device
from rgmp.errors import InputError
from rgmp.inference import SessionOptions, parse_scales
from rgmp.inference.merge import MERGE_MODES
from rgmp.inference.network import Precision
from rgmp.inference.session import Adapter


def _scales(text: str) -> tuple[float, ...]:
    try:
        return parse_scales(text)
    except InputError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_inference_arguments(parser: argparse.ArgumentParser, *, precision: str = "auto", adapt: str = "auto") -> None:
    """The model and session options; ``precision`` and ``adapt`` are the defaults of ``--precision`` ("auto":
    bf16 for the light model on CPUs with native bf16, else fp32) and ``--adapt`` ("auto": on a GPU, and for the
    light model on a CPU too)."""
    parser.add_argument("--model", choices=["paper", "lite"], help="architecture (default: from --weights, else lite)")
    parser.add_argument("--weights", type=Path, help="authors' weights.pth or an RGMP checkpoint (default: installed)")
    parser.add_argument("--scales", type=_scales, help="comma-separated scales, e.g. 0.5,0.75,1.0 (default: model's)")
    parser.add_argument(
        "--flip",
        nargs="?",
        const="on",
        choices=["auto", "on", "off"],
        default="auto",
        help="also run each frame mirrored and average: 2× the network's time; --flip alone = on, auto = on a CUDA "
        "GPU only (default auto)",
    )
    parser.add_argument(
        "--zoom",
        choices=["auto", "on", "off"],
        default="auto",
        help="process each frame in a window around the objects (their box × 2, at least half the frame), so that "
        "small objects are seen larger, at the same cost; auto = on for the light model, off for the paper model "
        "(default auto)",
    )
    parser.add_argument("--merge", choices=MERGE_MODES, default="soft", help="several-object merge (default soft)")
    parser.add_argument(
        "--size",
        type=int,
        help="short side the frames are processed at, never enlarged; 0 = native (default: the model's, 240 for "
        "the light model, native for the paper model)",
    )
    parser.add_argument("--device", default="auto", help="cuda, mps, cpu or auto (default: cuda > mps > cpu)")
    parser.add_argument(
        "--precision",
        choices=["auto", *DTYPES],
        default=precision,
        help=f"autocast precision; auto = bf16 for the light model on CPUs with native bf16, else fp32 "
        f"(default {precision})",
    )
    parser.add_argument("--no-ref", action="store_true", help="ablation −Ref (Table 5): zero the reference stream")
    parser.add_argument("--no-prev", action="store_true", help="ablation −Prev (Table 5): zero the previous mask")
    parser.add_argument(
        "--adapt",
        choices=["auto", "on", "thorough", "off"],
        default=adapt,
        help="adapt the network to the clip on its annotated frame first (online learning): on = the device's "
        "schedule (on a CPU the fast train.online.ADAPT_SCHEDULE, about 2.5 s per clip for the light model on 2 "
        "cores; on a CUDA GPU THOROUGH_SCHEDULE), thorough = the best-scoring THOROUGH_SCHEDULE anywhere (about 8 s "
        f"on the same CPU), auto = on, except for the paper model on a CPU (default {adapt})",
    )
    parser.add_argument(
        "--online-learning",
        action="store_true",
        help="add-on +OL (Table 6): the paper's online learning instead, 1000 Adam steps at 1e-7",
    )
    parser.add_argument("--online-steps", type=int, help="online learning with this many steps instead")
    parser.add_argument("--online-lr", type=float, help="their learning rate (default 1e-7, the paper's)")


def adapter(args: argparse.Namespace, device: torch.device, config: ModelConfig) -> Adapter | None:
    """The online learning asked for: ``--online-steps`` / ``--online-learning``, else ``--adapt``'s schedule
    (``auto``: on, except for the paper model on a CPU, where it takes minutes).

    Raises:
        InputError: steps below 1, or a learning rate that is not positive.
    """
    from train.online import PAPER_SCHEDULE, THOROUGH_SCHEDULE, OnlineLearning, adapt_schedule

    schedule = PAPER_SCHEDULE if args.online_learning else None
    if args.online_steps is not None or args.online_lr is not None:
        steps = PAPER_SCHEDULE.steps if args.online_steps is None else args.online_steps
        if steps == 0:
            return None
        try:
            schedule = OnlineLearning(steps=steps, lr=PAPER_SCHEDULE.lr if args.online_lr is None else args.online_lr)
        except ValueError as err:
            raise InputError(f"--online-steps must be >= 0 and --online-lr > 0: {err}") from None
    auto = device.type != "cpu" or config.family == "lite"
    if schedule is None and args.adapt == "thorough":
        schedule = THOROUGH_SCHEDULE
    elif schedule is None and (args.adapt == "on" or (args.adapt == "auto" and auto)):
        schedule = adapt_schedule(device)
    return None if schedule is None else dataclasses.replace(schedule, progress=True)


def check_size(size: int | None) -> None:
    """Raise :class:`InputError` unless ``--size`` is unset, 0 (native) or at least 32."""
    if size is not None and (size < 0 or 0 < size < 32):
        raise InputError(f"--size must be 0 (native) or at least 32, got {size}")


def session_options(args: argparse.Namespace, config: ModelConfig) -> tuple[SessionOptions, torch.device, Precision]:
    """(session options, device, precision) from the inference options, for a network of ``config``.

    Raises:
        InputError: a size, device or online-learning option that cannot be used.
    """
    check_size(args.size)
    try:
        device = pick_device(args.device)
    except ValueError as err:
        raise InputError(str(err)) from None
    options = SessionOptions(
        scales=args.scales,
        merge=args.merge,
        size=args.size,
        no_reference=args.no_ref,
        no_previous=args.no_prev,
        adapt=adapter(args, device, config),
        flip=args.flip == "on" or (args.flip == "auto" and device.type == "cuda"),
        zoom={"auto": None, "on": True, "off": False}[args.zoom],
    )
    return options, device, parse_precision(args.precision)
