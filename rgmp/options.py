"""The inference options every command shares, declared once: ``segment`` and ``benchmark`` add them to their
parsers with :func:`add_inference_arguments`; the demo parses its scales box with :func:`parse_scales`.

Values argparse cannot check alone (``--size`` between 1 and 31, negative online steps) are checked by
:func:`processing_size` and :func:`online_steps`, which raise ``ValueError`` with a one-line message that the
commands re-raise as their own user error.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rgmp.device import DTYPES
from rgmp.inference.merge import MERGE_MODES

PAPER_ONLINE_STEPS = 1000
"""Adam steps of the paper's online learning (§4.3)."""


def parse_scales(text: str) -> tuple[float, ...]:
    """ "0.5,0.75,1.0" → (0.5, 0.75, 1.0); spaces and empty parts ("0.5, 1,") are ignored.

    Raises:
        ValueError: a part is not a number, or there is none.
    """
    try:
        scales = tuple(float(part) for part in text.replace(" ", "").split(",") if part)
    except ValueError:
        scales = ()
    if not scales:
        raise ValueError(f"scales must be comma-separated numbers such as 0.5,0.75,1.0, got {text!r}")
    return scales


def _scales_argument(text: str) -> tuple[float, ...]:
    try:
        return parse_scales(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_inference_arguments(parser: argparse.ArgumentParser, *, precision: str = "auto") -> None:
    """Add the model and session options: ``--model --weights --scales --merge --size --device --precision
    --no-ref --no-prev --online-learning --online-steps --online-lr``; ``precision`` is ``--precision``'s
    default ("auto": :func:`rgmp.device.resolve_precision`)."""
    parser.add_argument("--model", choices=["paper", "lite"], help="architecture (default: from --weights, else lite)")
    parser.add_argument("--weights", type=Path, help="authors' weights.pth or an RGMP checkpoint (default: installed)")
    parser.add_argument(
        "--scales", type=_scales_argument, help="comma-separated scales, e.g. 0.5,0.75,1.0 (default: model's)"
    )
    parser.add_argument("--merge", choices=MERGE_MODES, default="soft", help="several-object merge (default soft)")
    parser.add_argument(
        "--size", type=int, default=480, help="short side the frames are processed at (default 480; 0 = native)"
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
        "--online-learning",
        action="store_true",
        help=f"add-on +OL (Table 6): {PAPER_ONLINE_STEPS} Adam steps on the annotated frame first",
    )
    parser.add_argument("--online-steps", type=int, help="online learning with this many steps (0 = off)")
    parser.add_argument(
        "--online-lr", type=float, default=1e-7, help="online learning rate (default 1e-7, the paper's)"
    )


def online_steps(args: argparse.Namespace) -> int:
    """The online-learning steps asked for: ``--online-steps``, else the paper's with ``--online-learning``, else 0.

    Raises:
        ValueError: negative steps or a learning rate that is not positive.
    """
    steps = args.online_steps if args.online_steps is not None else PAPER_ONLINE_STEPS * args.online_learning
    if steps < 0 or args.online_lr <= 0:
        raise ValueError(f"--online-steps must be >= 0 and --online-lr > 0, got {steps} and {args.online_lr}")
    return steps


def processing_size(args: argparse.Namespace) -> int | None:
    """``--size`` as a session size: None for 0 (the frames' own size).

    Raises:
        ValueError: negative, or too small for the network (below 32).
    """
    if args.size < 0 or 0 < args.size < 32:
        raise ValueError(f"--size must be 0 (native) or at least 32, got {args.size}")
    return args.size or None
