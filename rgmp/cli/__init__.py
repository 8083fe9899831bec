"""Command line: ``python -m rgmp segment|segment-batch|evaluate|weights|bench|benchmark ...``.

The command line wires the layers together (the library, online learning from ``train``, the benchmark); nothing
below it imports it. Bad input ends the command with one line on stderr and exit status 2, never a traceback;
outputs are staged and published only when complete, so that a failed run leaves nothing that looks complete.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from rgmp.cli import bench, segment
from rgmp.errors import InputError

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m rgmp", description="RGMP video object segmentation")
    commands = parser.add_subparsers(dest="command", required=True)
    segment.add_parsers(commands)

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

    bench.add_parsers(commands)
    return parser


def run_evaluate(args: argparse.Namespace) -> None:
    from rgmp.evaluation import evaluate_davis, format_table, write_csvs

    sequences = [s for s in args.sequences.split(",") if s] if args.sequences else None
    result = evaluate_davis(args.results, args.davis, year=args.year, subset=args.subset, sequences=sequences)
    print(format_table(result))
    write_csvs(result, args.results, args.subset)


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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace], None] = args.run
    try:
        run(args)
    except (InputError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted: partial outputs were removed", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0
