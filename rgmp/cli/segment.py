"""``segment`` (one clip) and ``segment-batch`` (many, resumable, shared between the ranks of ``torchrun``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from rgmp.cli.options import add_inference_arguments, session_options
from rgmp.errors import InputError
from rgmp.inference.session import DIRECTIONS


def add_parsers(commands: argparse._SubParsersAction) -> None:
    seg = commands.add_parser("segment", help="propagate an annotated frame's mask through a video or frame folder")
    source = seg.add_mutually_exclusive_group(required=True)
    source.add_argument("--video", type=Path, help="video file (mp4, mov, webm, avi, mkv)")
    source.add_argument("--frames", type=Path, help="folder of frames (jpg/png), processed in name order")
    seg.add_argument(
        "--mask", type=Path, required=True, help="label-map PNG of the annotated frame (DAVIS palette or 0/255)"
    )
    seg.add_argument("--mask-frame", type=int, default=0, help="index of the annotated frame (default 0)")
    seg.add_argument(
        "--direction",
        choices=DIRECTIONS,
        default="forward",
        help="segment the frames after the annotated one (forward), before it (backward) or both (default forward)",
    )
    seg.add_argument("--out", type=Path, required=True, help="output folder for the masks")
    _format_argument(seg)
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
    _format_argument(batch)
    add_inference_arguments(batch)
    batch.add_argument("--fps", type=float, default=24.0, help="frame rate of frame folders (default 24)")
    batch.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    batch.set_defaults(run=run_segment_batch)


def _formats(text: str) -> tuple[str, ...]:
    from rgmp.io.exports import parse_formats

    try:
        return parse_formats(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _format_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format",
        type=_formats,
        default=("png",),
        help="comma-separated mask formats: png (DAVIS palette, <frame>.png), coco (coco.json: COCO run-length "
        "encoding with boxes), alpha (alpha/<object>/<frame>.png: 8-bit mattes of the probabilities); default png",
    )


def run_segment(args: argparse.Namespace) -> None:
    from rgmp.device import dtype_name
    from rgmp.inference import Session
    from rgmp.io.files import staged_folder
    from rgmp.io.masks import read_mask
    from rgmp.segment import check_mask, open_source, segment_into
    from rgmp.weights import load_model_or_default

    if args.mask_frame < 0:
        raise InputError("--mask-frame must be >= 0")
    if args.overlay is not None and args.overlay.suffix.lower() != ".mp4":
        raise InputError(f"--overlay must name an .mp4 file, got {args.overlay}")
    model, _ = load_model_or_default(args.weights, args.model)
    options, device, precision = session_options(args, model.config)
    mask = read_mask(args.mask)
    source = open_source(args.frames if args.frames is not None else args.video, args.fps)
    check_mask(mask, source, args.mask_frame)
    session = Session(model, device, options, dtype=precision)
    adapt = " adapted to the clip first," if options.adapt is not None else ""
    print(f"{model.config.name} model,{adapt} {dtype_name(session.dtype)} on {device}", file=sys.stderr)
    total = None
    if source.frames is not None:
        after, before = source.frames - args.mask_frame, args.mask_frame + 1
        total = {"forward": after, "backward": before, "both": after + before - 1}[args.direction]
    with staged_folder(args.out) as staging, tqdm(total=total, unit="frame", desc="segment") as bar:
        segment_into(
            session,
            source,
            mask,
            staging,
            start=args.mask_frame,
            direction=args.direction,
            formats=args.format,
            overlay=args.overlay,
            save_probs=args.save_probs,
            on_frame=bar.update,
            priority="idle",  # the I/O takes the cores the network leaves idle
        )
    print(f"wrote {', '.join(args.format)} masks to {args.out}", file=sys.stderr)


def run_segment_batch(args: argparse.Namespace) -> None:
    from rgmp.batch import clips_in_folder, read_manifest, run_batch, summary_table
    from rgmp.weights import load_model_or_default

    jobs = read_manifest(args.manifest, args.out) if args.manifest else clips_in_folder(args.folder, args.out)
    model, _ = load_model_or_default(args.weights, args.model)
    options, _, precision = session_options(args, model.config)
    result = run_batch(
        jobs,
        lambda: model,
        options,
        device=args.device,
        precision=precision,
        formats=args.format,
        fps=args.fps,
        progress=args.progress,
        priority="idle",
    )
    if result is None:  # not rank 0: rank 0 prints the summary
        return
    print(summary_table(result.reports))
    if result.failed:
        message = f"{result.failed} of {len(jobs)} clips failed (reasons above); run the same command to retry them"
        if result.world == 1:
            raise InputError(message)
        # Under torchrun a failed rank makes the launcher print a traceback: the table says it instead.
        print(f"warning: {message}", file=sys.stderr)
