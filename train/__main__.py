"""``python -m train pretrain|finetune ...``: the two training stages of RGMP (paper §3.2, §3.4).

Bad input ends with one line on stderr and exit status 2; a non-finite loss with status 3 (the last good
checkpoint is kept); Ctrl-C / SIGTERM saves a checkpoint and exits with 130 (continue with ``--resume``).
``python -m train export RUN/final.pt --out FILE --half`` writes a release file.
Under ``torchrun --nproc-per-node N python -m train ...`` the same commands train with DDP.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import get_args

from rgmp.config import PadMode
from rgmp.weights import WeightsError, load_model, read_weights_file, save_checkpoint
from train.config import add_config_arguments, config_from_args, default_config
from train.datasets import DatasetError
from train.errors import NonFiniteLoss, TrainError
from train.loop import EXIT_NON_FINITE, train

EXIT_BAD_INPUT = 2

DESCRIPTIONS = {
    "pretrain": "stage 1: simulated (reference, target) pairs from still images (Strategies 1 and 2)",
    "finetune": "stage 2: recurrent training on video clips (BPTT over N targets); start from a stage-1 --init",
    "memory": "visual memory (paper §4.3): add a ConvGRU to a stage-2 --init and train it with the curriculum",
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
    export = commands.add_parser(
        "export", help="write a trained checkpoint as a release file (weights + metadata, no optimizer state)"
    )
    export.add_argument("checkpoint", type=Path, help="a run's final.pt / last.pt, or any RGMP checkpoint")
    export.add_argument("--out", type=Path, required=True, help="destination file, e.g. rgmp/weights/my_model.pt")
    export.add_argument("--half", action="store_true", help="store float16 weights (half the size)")
    export.add_argument("--metadata", type=Path, help="JSON file whose entries are added to the metadata")
    export.add_argument(
        "--pad-mode",
        choices=get_args(PadMode),
        help="store this inference padding in the file's config (rgmp.config.ModelConfig.pad_mode) instead of the "
        "run's",
    )
    return parser


def export_checkpoint(
    checkpoint: Path, out: Path, *, half: bool, metadata_file: Path | None, pad_mode: PadMode | None = None
) -> int:
    """Load a checkpoint strictly and write its weights and metadata (plus ``metadata_file``) to ``out``, with
    ``pad_mode`` (when given) in its config.

    A training checkpoint that carries a weight average (``--ema``) gives the average, not the raw weights.
    """
    model, metadata = load_model(checkpoint)
    if pad_mode is not None:
        model.config = dataclasses.replace(model.config, pad_mode=pad_mode)
    average = read_weights_file(checkpoint).get("ema_state_dict")
    if average is not None:
        state = {k.removeprefix("module."): v for k, v in average.items() if k.startswith("module.")}
        model.load_state_dict(state, strict=True)
        metadata["weights"] = f"moving average of the weights (decay {metadata['train_config']['ema']})"
    if metadata_file is not None:
        try:
            metadata.update(json.loads(metadata_file.read_text()))
        except (OSError, json.JSONDecodeError) as err:
            raise ValueError(f"cannot read --metadata {metadata_file}: {err}") from None
    save_checkpoint(out, model, metadata, half=half)
    print(f"wrote {out} ({out.stat().st_size / 2**20:.1f} MiB, {'float16' if half else 'float32'})")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.stage == "export":
        try:
            return export_checkpoint(
                args.checkpoint, args.out, half=args.half, metadata_file=args.metadata, pad_mode=args.pad_mode
            )
        except (WeightsError, ValueError) as err:
            print(f"error: {err}", file=sys.stderr)
            return EXIT_BAD_INPUT
    config = config_from_args(args, args.stage)
    if args.stage == "finetune" and not config.init and not args.resume:
        print(
            "warning: finetune without --init starts from ImageNet weights; the paper warns that video data "
            "alone over-fits",
            file=sys.stderr,
        )
    try:
        final = train(config, resume=args.resume)
    except NonFiniteLoss as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_NON_FINITE
    except (TrainError, WeightsError, DatasetError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if os.environ.get("RANK", "0") == "0":
        print(f"done: {final}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
