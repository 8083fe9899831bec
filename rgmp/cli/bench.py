"""``python -m rgmp benchmark ...`` (the paper's tables) and ``python -m rgmp bench`` (speed).

Bad input raises :class:`rgmp.bench.BenchmarkError` (an :class:`~rgmp.errors.InputError`) with a one-line message.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from pathlib import Path
from typing import Any

import torch

from rgmp.bench import BenchmarkError
from rgmp.bench.datasets import DATASETS
from rgmp.bench.paper import JUMPCUT_DISTANCES, JUMPCUT_KEYS
from rgmp.bench.records import RANDOM_INIT, RunSettings
from rgmp.cli.options import adapter, add_inference_arguments, check_size
from rgmp.distributed import check_rank, rank_and_world
from rgmp.errors import InputError
from rgmp.inference.merge import MERGE_MODES
from rgmp.io.files import write_text_atomic


def _numbers(kind: type, what: str):
    def parse(text: str) -> tuple:
        try:
            values = tuple(kind(v) for v in text.split(",") if v.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} takes comma-separated numbers, got {text!r}") from None
        if not values:
            raise argparse.ArgumentTypeError(f"{what} needs at least one value")
        return values

    return parse


def _names(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


# ----------------------------------------------------------------------------------------------------------------
# benchmark (datasets)


def add_benchmark_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``benchmark`` with one subcommand per dataset and ``report``."""
    parser = subparsers.add_parser(
        "benchmark",
        help="segment a whole dataset and make the paper's tables (DAVIS-2016/2017, SegTrack v2, JumpCut)",
        description="Segment a dataset in its native layout, score it with its own protocol and write CSVs, "
        "markdown tables beside the paper's numbers and (DAVIS-2016) the speed/accuracy figure. Runs under "
        "torchrun or with RANK/WORLD_SIZE set on several machines sharing --out: each rank takes its share (on CUDA, "
        "a bare --device cuda becomes cuda:LOCAL_RANK).",
    )
    datasets = parser.add_subparsers(dest="dataset", required=True, metavar="{" + ",".join(DATASETS) + ",report}")
    for name in DATASETS:
        sub = datasets.add_parser(name, help=f"segment and score {name}")
        _dataset_arguments(sub, name)
        sub.set_defaults(run=run_benchmark)
    report = datasets.add_parser("report", help="combine gathered runs (ablations, scales, merges) into one report")
    report.add_argument("--runs", type=Path, nargs="+", required=True, help="run folders made by benchmark")
    report.add_argument("--out", type=Path, required=True, help="folder for tables.md, summary.csv, figure.png")
    report.set_defaults(run=run_report)
    return parser


def _dataset_arguments(sub: argparse.ArgumentParser, dataset: str) -> None:
    sub.add_argument("--root", type=Path, help="dataset root folder, in the dataset's native layout")
    sub.add_argument("--out", type=Path, required=True, help="run folder (shared by all ranks)")
    sub.add_argument("--set", dest="subset", default="val", help="DAVIS image set (default val)")
    sub.add_argument("--sequences", type=_names, help="comma-separated sequences instead of the whole set")
    sub.add_argument("--resolution", default="480p", help="DAVIS resolution folder (default 480p)")
    add_inference_arguments(sub, precision="fp32", adapt="off")  # the paper's tables: fp32, no online learning
    sub.add_argument(
        "--random-init", action="store_true", help="seeded random weights: checks the pipeline, not accuracy"
    )
    sub.add_argument(
        "--convgru",
        action="store_true",
        help="add-on +GRU (Table 6): require weights with the visual memory (python -m train memory); "
        "with --random-init, a random model with it",
    )
    if dataset == "jumpcut":
        sub.add_argument(
            "--keys", type=_numbers(int, "--keys"), default=JUMPCUT_KEYS, help="key frames (default 0,16,...,96)"
        )
        sub.add_argument(
            "--distances", type=_numbers(int, "--distances"), default=JUMPCUT_DISTANCES, help="d (default 8,16,32)"
        )
    sub.add_argument("--rank", type=int, help="this process's rank (default: $RANK, else 0)")
    sub.add_argument("--world-size", type=int, help="number of processes (default: $WORLD_SIZE, else 1)")
    sub.add_argument("--wait", type=float, default=86400.0, help="seconds rank 0 waits for the others (default 1 day)")
    sub.add_argument(
        "--gather", action="store_true", help="only combine the score files already in --out (after separate jobs)"
    )
    sub.add_argument(
        "--no-progress", dest="progress", action="store_false", help="no progress bar (e.g. for log files)"
    )


def run_benchmark(args: argparse.Namespace) -> None:
    """``python -m rgmp benchmark <dataset> ...``."""
    from rgmp.bench.runner import gather, run_share

    if args.gather:
        summary = gather(args.out)
        _print_outputs(args.out, summary.settings.dataset)
        return
    try:
        check_size(args.size)
    except InputError as err:
        raise BenchmarkError(str(err)) from None
    if args.root is None:
        raise BenchmarkError("--root is required (the dataset folder), except with --gather")
    if args.random_init and args.weights is not None:
        raise BenchmarkError("give either --weights or --random-init, not both")
    rank, world = _rank_world(args)
    device = rank_device(args.device)
    model, weights = load_benchmark_model(args.model, args.weights, args.random_init, memory=args.convgru)
    try:
        adapt = adapter(args, device, model.config)
    except InputError as err:
        raise BenchmarkError(str(err)) from None
    settings = RunSettings(
        dataset=args.dataset,
        root=str(args.root.resolve()),
        subset=args.subset,
        sequences=args.sequences,
        resolution=args.resolution,
        model=model.config.name,
        weights=weights,
        scales=tuple(args.scales or model.config.default_scales),
        merge=args.merge,
        size=model.config.processing_size(args.size),
        precision=args.precision,
        device=device.type,
        no_reference=args.no_ref,
        no_previous=args.no_prev,
        online_steps=adapt.steps if adapt is not None else 0,
        online_lr=adapt.lr if adapt is not None else RunSettings.online_lr,
        memory=model.config.memory,
        keys=tuple(getattr(args, "keys", JUMPCUT_KEYS)),
        distances=tuple(getattr(args, "distances", JUMPCUT_DISTANCES)),
    )
    session = make_session(model, device, settings, adapt)
    summary = run_share(settings, args.out, session, rank=rank, world=world, wait=args.wait, progress=args.progress)
    if summary is None:
        print(f"rank {rank}/{world}: done; rank 0 gathers into {args.out}", file=sys.stderr)
        return
    _print_outputs(args.out, settings.dataset)


def run_report(args: argparse.Namespace) -> None:
    """``python -m rgmp benchmark report --runs A B ... --out DIR``."""
    from rgmp.bench.runner import write_report

    write_report(args.runs, args.out)
    print((args.out / "tables.md").read_text())
    print(f"wrote {args.out / 'tables.md'} and {args.out / 'summary.csv'}", file=sys.stderr)


def _print_outputs(out: Path, dataset: str) -> None:
    print((out / "table.md").read_text())
    names = ["scores.csv", "sequences.csv", "summary.csv", "table.md"] + (
        ["figure.png"] if dataset == "davis2016" else []
    )
    print(f"wrote {', '.join(str(out / n) for n in names)}", file=sys.stderr)


def _rank_world(args: argparse.Namespace) -> tuple[int, int]:
    try:
        env_rank, env_world = rank_and_world()
        rank = env_rank if args.rank is None else args.rank
        world = env_world if args.world_size is None else args.world_size
        check_rank(rank, world)
    except ValueError as err:
        raise BenchmarkError(str(err)) from None
    return rank, world


def rank_device(name: str) -> torch.device:
    """:func:`rgmp.device.local_device`, with a :class:`BenchmarkError`."""
    from rgmp.device import local_device

    try:
        return local_device(name)
    except ValueError as err:
        raise BenchmarkError(str(err)) from None


def load_benchmark_model(model: str | None, weights: Path | None, random_init: bool, *, memory: bool = False):
    """(model in eval mode, weights description): seeded random weights, the given file, or the installed default.

    ``memory`` (``--convgru``, the +GRU add-on) builds the random model with the visual memory, and requires it of
    loaded weights. Weights that have it make a +GRU run without ``memory`` too: the session always runs it.
    """
    from rgmp.config import PRESETS
    from rgmp.model import build_model
    from rgmp.weights import default_weights, load_model

    if random_init:
        torch.manual_seed(0)  # every rank builds the same network
        config = dataclasses.replace(PRESETS[model or "lite"], memory=memory)
        return build_model(config).eval(), RANDOM_INIT
    path = weights if weights is not None else default_weights(model or "lite")
    network, _ = load_model(path, expect=model)
    if memory and not network.config.memory:
        raise BenchmarkError(
            f"--convgru needs weights with the visual memory, and {path} has none: train them with "
            "`python -m train memory` (docs/training.md), or run without --convgru"
        )
    return network, str(Path(path).resolve())


def make_session(model, device: torch.device, settings: RunSettings, adapt=None):
    """The inference session a run's settings describe (``adapt``: its online learning, from the options)."""
    from rgmp.device import parse_dtype
    from rgmp.inference import Session, SessionOptions

    options = SessionOptions(
        scales=settings.scales,
        merge=settings.merge,  # type: ignore[arg-type]
        size=settings.size or 0,  # None in a record: the frames' own size
        no_reference=settings.no_reference,
        no_previous=settings.no_previous,
        adapt=adapt,
    )
    return Session(model, device, options, dtype=parse_dtype(settings.precision))


# ----------------------------------------------------------------------------------------------------------------
# bench (speed)


def add_bench_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``bench``: the speed benchmark."""
    parser = subparsers.add_parser(
        "bench",
        help="speed benchmark: ms/frame, reference encoding, fps, memory, GFLOP, against a ResNet-50 yardstick",
        description="Time the paper and light models over scales, objects, precisions, devices and frame sizes. "
        "Default: a design that fits a few minutes on a 2-core CPU; --full: every combination. The axis options "
        "replace the values of that axis.",
    )
    parser.add_argument("--full", action="store_true", help="every combination of the axes (long on a CPU)")
    parser.add_argument(
        "--end-to-end",
        type=Path,
        metavar="VIDEO",
        help="instead of the axes: this clip end to end (decoding, the files and videos of --writers) against the "
        "network alone, in blocks of frames taking turns (first model, dtype and device; size 480; needs --mask)",
    )
    parser.add_argument("--mask", type=Path, help="with --end-to-end: the label-map PNG of the clip's first frame")
    parser.add_argument(
        "--writers",
        type=_names,
        default=("cli", "demo", "demo-none"),
        help="with --end-to-end: writer sets, among cli, demo, demo-none (default all three)",
    )
    parser.add_argument(
        "--pairs",
        type=int,
        default=12,
        help="with --end-to-end: blocks with I/O per writer set, and as many of the I/O alone (default 12)",
    )
    parser.add_argument("--block", type=int, default=30, help="with --end-to-end: frames per block (default 30)")
    parser.add_argument("--models", type=_names, help="models (default lite,paper; the first is swept)")
    parser.add_argument(
        "--num-scales", type=_numbers(int, "--num-scales"), help="scale sets: 1 = (1.0), 3 = (.5,.75,1)"
    )
    parser.add_argument("--objects", type=_numbers(int, "--objects"), help="objects per clip (default 1,2,4)")
    parser.add_argument(
        "--dtypes", type=_names, help="precisions on every device (default: fp32,bf16 CPU; fp32,fp16 GPU)"
    )
    parser.add_argument("--devices", type=_names, help="devices (default: cpu, and cuda when present)")
    parser.add_argument("--sizes", type=_names, help="frame sizes: 480p, 720p or HxW (default 480p,720p)")
    parser.add_argument("--warmup", type=int, help="untimed frames first (default 1)")
    parser.add_argument("--repeats", type=int, help="timed frames (default 2 for the paper model on a CPU, else 3)")
    parser.add_argument(
        "--weights", type=Path, action="append", default=[], help="a weights file for its model (repeatable)"
    )
    parser.add_argument(
        "--merge", choices=MERGE_MODES, default="soft", help="several-object merge of every case (default soft)"
    )
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--json", type=Path, help="write the records as a JSON list to this file ('-' = stdout)")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    parser.set_defaults(run=run_bench)
    return parser


def run_bench(args: argparse.Namespace) -> None:
    """``python -m rgmp bench ...``."""
    from rgmp.bench.speed import (
        SCALE_SETS,
        Axes,
        build_cases,
        default_axes,
        parse_size,
        run_cases,
        speed_notes,
        speed_table,
    )
    from rgmp.weights import load_model

    if args.threads is not None:
        if args.threads < 1:
            raise BenchmarkError(f"--threads must be at least 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    axes = default_axes(full=args.full)
    bad_scales = [n for n in args.num_scales or () if n not in SCALE_SETS]
    if bad_scales:
        raise BenchmarkError(f"--num-scales takes {' or '.join(map(str, SCALE_SETS))}, got {bad_scales}")
    if any(n < 1 for n in args.objects or ()):
        raise BenchmarkError("--objects must be at least 1")
    axes = Axes(
        models=args.models or axes.models,
        scale_counts=args.num_scales or axes.scale_counts,
        objects=args.objects or axes.objects,
        devices=args.devices or axes.devices,
        sizes=tuple(parse_size(s) for s in args.sizes) if args.sizes else axes.sizes,
        dtypes={"*": args.dtypes} if args.dtypes else axes.dtypes,
    )
    models = {}
    for path in args.weights:
        network, _ = load_model(path)
        models[network.config.name] = (network, str(path.resolve()))
    if args.end_to_end is not None:
        records = _run_end_to_end(args, models)
    else:
        records = run_cases(build_cases(axes, full=args.full), models, warmup=args.warmup, repeats=args.repeats,
                            merge=args.merge, progress=args.progress)  # fmt: skip
        print(speed_notes(records))
        print()
        print(speed_table(records))
    if args.json is not None:
        text = json.dumps([_json_safe(r) for r in records], indent=2) + "\n"
        if str(args.json) == "-":
            print(text)
        else:
            write_text_atomic(args.json, text)
            print(f"wrote {len(records)} records to {args.json}", file=sys.stderr)


def _run_end_to_end(args: argparse.Namespace, models: dict) -> list[dict[str, Any]]:
    """``bench --end-to-end VIDEO --mask PNG``: the end-to-end table (:mod:`rgmp.bench.endtoend`)."""
    from rgmp.bench.endtoend import end_to_end_table, run_end_to_end
    from rgmp.device import dtype_name, parse_precision, pick_device
    from rgmp.inference import Session, SessionOptions
    from rgmp.io.masks import read_mask
    from rgmp.io.video import probe_video
    from rgmp.weights import load_model_or_default

    if args.mask is None:
        raise BenchmarkError("--end-to-end needs --mask: the label-map PNG of the clip's first frame")
    info, mask = probe_video(args.end_to_end), read_mask(args.mask)
    if mask.shape != (info.height, info.width):
        raise BenchmarkError(f"the mask is {mask.shape[1]}x{mask.shape[0]} but the video is {info.width}x{info.height}")
    name = args.models[0] if args.models else "lite"
    model = models[name][0] if name in models else load_model_or_default(None, name)[0]
    try:
        device = pick_device(args.devices[0] if args.devices else None)
        dtype = parse_precision(args.dtypes[0] if args.dtypes else "auto")
    except ValueError as err:
        raise BenchmarkError(str(err)) from None
    session = Session(model, device, SessionOptions(size=480), dtype=dtype)
    print(f"end to end: {args.end_to_end.name}, {name} model, {dtype_name(session.dtype)} on {device}, size 480; "
          f"{args.pairs} pairs of {args.block}-frame blocks per writer set", file=sys.stderr)  # fmt: skip
    say = (lambda line: print(line, file=sys.stderr)) if args.progress else None
    records = run_end_to_end(
        session, args.end_to_end, mask, tuple(args.writers), pairs=args.pairs, block=args.block, progress=say
    )
    print(end_to_end_table(records))
    return records


def _json_safe(record: dict[str, Any]) -> dict[str, Any]:
    """NaN → None, so that the file is strict JSON."""
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in record.items()}


def add_parsers(commands: argparse._SubParsersAction) -> None:
    """Register ``benchmark`` and ``bench``."""
    add_benchmark_parser(commands)
    add_bench_parser(commands)
