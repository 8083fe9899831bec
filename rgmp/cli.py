"""Command line: ``python -m rgmp segment|evaluate ...``.

Bad input ends the command with one line on stderr and exit status 2, never a traceback; outputs are written
to a temporary folder first so that a failed run leaves nothing that looks complete.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import numpy as np
from tqdm import tqdm

from rgmp.options import add_inference_arguments, online_steps, processing_size

EXIT_BAD_INPUT = 2


class CLIError(ValueError):
    """A user error detected by the CLI itself."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m rgmp", description="RGMP video object segmentation")
    commands = parser.add_subparsers(dest="command", required=True)

    seg = commands.add_parser("segment", help="propagate a first-frame mask through a video or frame folder")
    source = seg.add_mutually_exclusive_group(required=True)
    source.add_argument("--video", type=Path, help="video file (mp4, mov, webm, avi, mkv)")
    source.add_argument("--frames", type=Path, help="folder of frames (jpg/png), processed in name order")
    seg.add_argument(
        "--mask",
        type=Path,
        required=True,
        help="label-map PNG of the annotated frame (DAVIS palette or 0/255)",
    )
    seg.add_argument(
        "--mask-frame", type=int, default=0, help="index of the annotated frame; propagate forward from it"
    )
    seg.add_argument("--out", type=Path, required=True, help="output folder for one palette PNG per frame")
    add_inference_arguments(seg)
    seg.add_argument("--save-probs", action="store_true", help="also write float16 (K+1,H,W) .npy per frame")
    seg.add_argument("--overlay", type=Path, help="also write an H.264 overlay video to this .mp4")
    seg.add_argument("--fps", type=float, default=24.0, help="overlay frame rate for --frames input (default 24)")
    seg.set_defaults(run=run_segment)

    ev = commands.add_parser("evaluate", help="DAVIS J&F of a results folder, as the official evaluation")
    ev.add_argument("--results", type=Path, required=True, help="folder with one subfolder of PNGs per sequence")
    ev.add_argument("--davis", type=Path, required=True, help="DAVIS root (holds Annotations/ and ImageSets/)")
    ev.add_argument("--set", dest="subset", default="val", help="image set name (default val)")
    ev.add_argument("--year", choices=["2016", "2017"], default="2017", help="DAVIS edition (default 2017)")
    ev.add_argument("--sequences", help="comma-separated sequences, instead of the image set")
    ev.set_defaults(run=run_evaluate)

    from rgmp.bench.commands import add_bench_parser, add_benchmark_parser

    add_benchmark_parser(commands)
    add_bench_parser(commands)
    return parser


# ------------------------------------------------------------------------------------------------------------------
# segment


def _open_frames(
    args: argparse.Namespace,
) -> tuple[Iterator[np.ndarray], list[str], float, int | None, tuple[int, int]]:
    """Lazy frames, output names (empty for a video: frames are numbered), fps, frame count if known, and
    the frame size (height, width)."""
    from PIL import Image

    from rgmp.io.video import iter_frame_folder, iter_video, list_frame_folder, probe_video

    if args.frames is not None:
        paths = list_frame_folder(args.frames)
        with Image.open(paths[0]) as first:
            width, height = first.size
        names = [p.stem for p in paths]
        frames = (frame for _, frame in iter_frame_folder(args.frames))
        return frames, names, args.fps, len(paths), (height, width)
    info = probe_video(args.video)
    return iter_video(args.video), [], info.fps, info.num_frames, (info.height, info.width)


def load_session_model(model: str | None, weights: Path | None):
    """The model to run: from ``weights`` (format detected), else the installed default for ``model``."""
    from rgmp.weights import default_weights, load_model

    path = weights if weights is not None else default_weights(model or "lite")
    return load_model(path, expect=model)


def run_segment(args: argparse.Namespace) -> None:
    from rgmp.device import dtype_name, pick_device, resolve_precision
    from rgmp.inference import Session, SessionOptions
    from rgmp.inference.session import object_ids_of
    from rgmp.io.masks import read_mask
    from rgmp.io.outputs import ClipWriter
    from rgmp.io.pipeline import prefetch

    if args.mask_frame < 0:
        raise CLIError("--mask-frame must be >= 0")
    if args.overlay is not None and args.overlay.suffix.lower() != ".mp4":
        raise CLIError(f"--overlay must name an .mp4 file, got {args.overlay}")
    try:
        options = SessionOptions(
            scales=args.scales,
            merge=args.merge,
            size=processing_size(args),
            no_reference=args.no_ref,
            no_previous=args.no_prev,
            online_steps=online_steps(args),
            online_lr=args.online_lr,
        )
        device = pick_device(args.device)
    except ValueError as err:  # SessionError included
        raise CLIError(str(err)) from None
    mask = read_mask(args.mask)
    object_ids_of(mask)  # empty mask, too many objects: say so before any work starts
    frames, names, fps, total, size = _open_frames(args)
    if mask.shape != size:
        raise CLIError(
            f"the mask is {mask.shape[1]}x{mask.shape[0]} but the frames are {size[1]}x{size[0]}: "
            "give the label map of one frame of this clip"
        )
    if total is not None and args.mask_frame >= total:
        raise CLIError(f"--mask-frame {args.mask_frame} is past the last frame ({total} frames)")
    model, _ = load_session_model(args.model, args.weights)
    dtype = resolve_precision(args.precision, model.config.name, device)
    session = Session(model, device, dataclasses.replace(options, dtype=dtype))
    print(f"{model.config.name} model, {dtype_name(dtype)} on {device}", file=sys.stderr)

    # The overlay needs each frame again after the session consumed it: tee it through.
    current: dict[str, np.ndarray] = {}

    def remember(source: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
        for frame in source:
            current["frame"] = frame
            yield frame

    args.out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{args.out.name}.partial-", dir=args.out.parent))
    try:
        with ExitStack() as stack:
            writer = stack.enter_context(
                ClipWriter(staging, overlay_path=args.overlay, fps=fps, save_probs=args.save_probs)
            )
            bar = stack.enter_context(
                tqdm(total=None if total is None else total - args.mask_frame, unit="frame", desc="segment")
            )
            for result in session.propagate(remember(prefetch(frames)), mask, start=args.mask_frame):
                writer.write(names[result.index] if names else f"{result.index:05d}", current["frame"], result)
                bar.update()
        _publish(staging, args.out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(f"wrote {len(list(args.out.glob('*.png')))} masks to {args.out}", file=sys.stderr)


def _publish(staging: Path, out: Path) -> None:
    """Move finished outputs from the staging folder into ``out`` (created if needed)."""
    out.mkdir(parents=True, exist_ok=True)
    for path in sorted(staging.iterdir()):
        path.replace(out / path.name)


# ------------------------------------------------------------------------------------------------------------------
# evaluate


def run_evaluate(args: argparse.Namespace) -> None:
    from rgmp.evaluation import evaluate_davis, format_table, write_csvs

    sequences = [s for s in args.sequences.split(",") if s] if args.sequences else None
    result = evaluate_davis(args.results, args.davis, year=args.year, subset=args.subset, sequences=sequences)
    print(format_table(result))
    write_csvs(result, args.results, args.subset)


# ------------------------------------------------------------------------------------------------------------------


def _user_errors() -> tuple[type[BaseException], ...]:
    from rgmp.bench import BenchmarkError
    from rgmp.evaluation import EvaluationError
    from rgmp.inference import SessionError
    from rgmp.io.masks import MaskError
    from rgmp.io.video import VideoError
    from rgmp.weights import WeightsError

    return (
        CLIError,
        BenchmarkError,
        EvaluationError,
        SessionError,
        MaskError,
        VideoError,
        WeightsError,
        FileNotFoundError,
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace], None] = args.run
    try:
        run(args)
    except _user_errors() as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted: partial outputs were removed", file=sys.stderr)
        return 130
    return 0
