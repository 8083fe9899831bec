"""``python -m train pretrain|finetune ...``: the two training stages of RGMP (paper §3.2, §3.4).

Bad input ends with one line on stderr and exit status 2; a non-finite loss with status 3 (the last good
checkpoint is kept); Ctrl-C / SIGTERM saves a checkpoint and exits with 130 (continue with ``--resume``).
Under ``torchrun --nproc-per-node N python -m train ...`` the same commands train with DDP.
"""

from __future__ import annotations

import argparse
import os
import sys

from rgmp.weights import WeightsError
from train.config import add_config_arguments, config_from_args, default_config
from train.datasets import DatasetError
from train.loop import EXIT_NON_FINITE, TrainError, train

EXIT_BAD_INPUT = 2

DESCRIPTIONS = {
    "pretrain": "stage 1: simulated (reference, target) pairs from still images (Strategies 1 and 2)",
    "finetune": "stage 2: recurrent training on video clips (BPTT over N targets); start from a stage-1 --init",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m train", description="Train RGMP (two stages, paper §3.2)")
    commands = parser.add_subparsers(dest="stage", required=True)
    for stage, text in DESCRIPTIONS.items():
        sub = commands.add_parser(stage, help=text, description=text)
        add_config_arguments(sub, default_config(stage))
        sub.add_argument(
            "--resume",
            action="store_true",
            help="continue the run in --out from its last.pt exactly (model, optimizer, scaler, step, data)",
        )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    config = config_from_args(args, args.stage)
    if args.stage == "finetune" and not config.init and not args.resume:
        print(
            "warning: finetune without --init starts from ImageNet weights; the paper warns that video data "
            "alone over-fits",
            file=sys.stderr,
        )
    try:
        final = train(config, resume=args.resume)
    except (TrainError, WeightsError, DatasetError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_NON_FINITE if str(err).startswith("non-finite loss") else EXIT_BAD_INPUT
    if os.environ.get("RANK", "0") == "0":
        print(f"done: {final}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
