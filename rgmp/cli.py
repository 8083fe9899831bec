"""Command line: ``python -m rgmp segment|segment-batch|evaluate|weights ...``.

Bad input ends the command with one line on stderr and exit status 2, never a traceback; outputs are written
to a temporary folder first so that a failed run leaves nothing that looks complete.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from rgmp.options import add_inference_arguments, online_steps, processing_size

if TYPE_CHECKING:
    import torch

    from rgmp.inference import SessionOptions

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
    seg.add_argument("--out", type=Path, required=True, help="output folder for the masks")
    add_format_argument(seg)
    add_inference_arguments(seg)
    seg.add_argument("--save-probs", action="store_true", help="also write float16 (K+1,H,W) .npy per frame")
    seg.add_argument("--overlay", type=Path, help="also write an H.264 overlay video to this .mp4")
    seg.add_argument("--fps", type=float, default=24.0, help="overlay frame rate for --frames input (default 24)")
    seg.set_defaults(run=run_segment)

    batch = commands.add_parser(
        "segment-batch",
        help="segment many clips (a folder or a CSV manifest), resumable, shared between the ranks of torchrun",
        description="Segment every clip of a DAVIS/YouTube-VOS-style folder (JPEGImages/ + Annotations/), of a "
        "folder of videos each with a <stem>.png mask of its first frame, or of a CSV manifest (columns video, "
        "mask, and optionally frame and output). Each clip's outputs appear in --out/<clip>/ when the whole clip "
        "is done; clips already there are skipped, so a stopped run resumes. Under torchrun the clips are shared "
        "between the ranks; rank 0 prints the summary.",
    )
    inputs = batch.add_mutually_exclusive_group(required=True)
    inputs.add_argument("--folder", type=Path, help="DAVIS/YouTube-VOS-style root, or a folder of videos + PNGs")
    inputs.add_argument("--manifest", type=Path, help="CSV with a header: video,mask[,frame][,output]")
    batch.add_argument("--out", type=Path, required=True, help="results folder: one sub-folder per clip")
    add_format_argument(batch)
    add_inference_arguments(batch)
    batch.add_argument("--fps", type=float, default=24.0, help="frame rate of frame folders (default 24)")
    batch.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    batch.set_defaults(run=run_segment_batch)

    ev = commands.add_parser("evaluate", help="DAVIS J&F of a results folder, as the official evaluation")
    ev.add_argument("--results", type=Path, required=True, help="folder with one subfolder of PNGs per sequence")
    ev.add_argument("--davis", type=Path, required=True, help="DAVIS root (holds Annotations/ and ImageSets/)")
    ev.add_argument("--set", dest="subset", default="val", help="image set name (default val)")
    ev.add_argument("--year", choices=["2016", "2017"], default="2017", help="DAVIS edition (default 2017)")
    ev.add_argument("--sequences", help="comma-separated sequences, instead of the image set")
    ev.set_defaults(run=run_evaluate)

    weights = commands.add_parser("weights", help="list installed weights, or download the authors' weights")
    actions = weights.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="what is installed and where").set_defaults(run=run_weights_list)
    download = actions.add_parser(
        "download",
        help="download the authors' weights.pth (non-commercial research use) to where load_model looks",
    )
    download.add_argument("model", choices=["paper"], help="which weights")
    download.add_argument("--url", help="download from this address instead of the authors' link")
    download.add_argument("--force", action="store_true", help="download again even when installed")
    download.set_defaults(run=run_weights_download)

    from rgmp.bench.commands import add_bench_parser, add_benchmark_parser

    add_benchmark_parser(commands)
    add_bench_parser(commands)
    return parser


def _formats(text: str) -> tuple[str, ...]:
    from rgmp.io.exports import parse_formats

    try:
        return parse_formats(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_format_argument(parser: argparse.ArgumentParser) -> None:
    """``--format``: the mask formats, comma-separated."""
    parser.add_argument(
        "--format",
        type=_formats,
        default=("png",),
        help="comma-separated mask formats: png (DAVIS palette, <frame>.png), coco (coco.json: COCO run-length "
        "encoding with boxes), alpha (alpha/<object>/<frame>.png: 8-bit mattes of the probabilities); default png",
    )


# ------------------------------------------------------------------------------------------------------------------
# segment


def load_session_model(model: str | None, weights: Path | None):
    """The model to run: from ``weights`` (format detected), else the installed default for ``model``."""
    from rgmp.weights import default_weights, load_model

    path = weights if weights is not None else default_weights(model or "lite")
    return load_model(path, expect=model)


def run_segment(args: argparse.Namespace) -> None:
    from rgmp.device import dtype_name, resolve_precision
    from rgmp.inference import Session
    from rgmp.io.masks import read_mask
    from rgmp.segment import check_mask, open_source, segment_into

    if args.mask_frame < 0:
        raise CLIError("--mask-frame must be >= 0")
    if args.overlay is not None and args.overlay.suffix.lower() != ".mp4":
        raise CLIError(f"--overlay must name an .mp4 file, got {args.overlay}")
    options, device = session_options(args)
    mask = read_mask(args.mask)
    source = open_source(args.frames if args.frames is not None else args.video, args.fps)
    check_mask(mask, source, args.mask_frame)
    model, _ = load_session_model(args.model, args.weights)
    dtype = resolve_precision(args.precision, model.config.name, device)
    session = Session(model, device, dataclasses.replace(options, dtype=dtype))
    print(f"{model.config.name} model, {dtype_name(dtype)} on {device}", file=sys.stderr)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{args.out.name}.partial-", dir=args.out.parent))
    total = None if source.frames is None else source.frames - args.mask_frame
    try:
        with tqdm(total=total, unit="frame", desc="segment") as bar:
            segment_into(
                session,
                source,
                mask,
                staging,
                start=args.mask_frame,
                formats=args.format,
                overlay=args.overlay,
                save_probs=args.save_probs,
                on_frame=bar.update,
            )
        _publish(staging, args.out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(f"wrote {', '.join(args.format)} masks to {args.out}", file=sys.stderr)


def session_options(args: argparse.Namespace) -> tuple[SessionOptions, torch.device]:
    """(``SessionOptions`` without the precision, device) from the inference options, or a :class:`CLIError`."""
    from rgmp.device import pick_device
    from rgmp.inference import SessionOptions

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
    return options, device


def _publish(staging: Path, out: Path) -> None:
    """Move finished outputs from the staging folder into ``out`` (created if needed); a folder (``alpha/``)
    replaces the one an earlier run left there."""
    out.mkdir(parents=True, exist_ok=True)
    for path in sorted(staging.iterdir()):
        if path.is_dir() and (out / path.name).is_dir():
            shutil.rmtree(out / path.name)
        path.replace(out / path.name)


# ------------------------------------------------------------------------------------------------------------------
# segment-batch


def run_segment_batch(args: argparse.Namespace) -> None:
    from rgmp.batch import clips_in_folder, read_manifest, run_batch, summary_table

    jobs = read_manifest(args.manifest, args.out) if args.manifest else clips_in_folder(args.folder, args.out)
    options, _ = session_options(args)
    result = run_batch(
        jobs,
        lambda: load_session_model(args.model, args.weights)[0],
        options,
        device=args.device,
        precision=args.precision,
        formats=args.format,
        fps=args.fps,
        progress=args.progress,
    )
    if result is None:  # not rank 0: rank 0 prints the summary
        return
    print(summary_table(result.reports))
    if result.failed:
        message = f"{result.failed} of {len(jobs)} clips failed (reasons above); run the same command to retry them"
        if result.world == 1:
            raise CLIError(message)
        # Under torchrun a failed rank makes the launcher print a traceback: the table says it instead.
        print(f"warning: {message}", file=sys.stderr)


# ------------------------------------------------------------------------------------------------------------------
# weights


def run_weights_list(args: argparse.Namespace) -> None:
    from rgmp.weights import describe_installed

    print(describe_installed())


def run_weights_download(args: argparse.Namespace) -> None:
    from rgmp.download import LICENCE, PAPER_WEIGHTS_URL, download_weights
    from rgmp.weights import WeightsError, default_weights, download_dir

    if not args.force:
        try:
            print(f"already installed: {default_weights(args.model)} (--force downloads it again)", file=sys.stderr)
            return
        except WeightsError:
            pass
    print(LICENCE, file=sys.stderr)
    url = args.url or PAPER_WEIGHTS_URL
    print(f"downloading {url} into {download_dir()}", file=sys.stderr)
    path = download_weights(args.model, url=url)
    print(f"installed {path}: checked with the strict loader; load_model and the demo find it there", file=sys.stderr)


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
    from rgmp.batch import BatchError
    from rgmp.bench import BenchmarkError
    from rgmp.evaluation import EvaluationError
    from rgmp.inference import SessionError
    from rgmp.io.masks import MaskError
    from rgmp.io.video import VideoError
    from rgmp.weights import WeightsError

    return (
        CLIError,
        BatchError,
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
