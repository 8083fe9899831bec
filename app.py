"""Start the RGMP demo: ``python app.py`` (Hugging Face Spaces runs this same file).

Binds 127.0.0.1 unless told otherwise (``--host 0.0.0.0`` or ``GRADIO_SERVER_NAME``, which Spaces sets).
"""

from __future__ import annotations

import argparse
import os


def set_up_process(threads: int | None) -> None:
    """The process's one set-up, before anything imports torch or Gradio: OpenMP workers that sleep soon after a
    parallel region (:func:`rgmp.io.pipeline.shorten_openmp_spin`), Gradio's analytics off, and ``threads`` CPU
    threads for the network (None: PyTorch's default)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from rgmp.io.pipeline import shorten_openmp_spin

    shorten_openmp_spin()
    if threads is not None:
        import torch

        torch.set_num_threads(max(1, threads))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="RGMP video object segmentation demo (Gradio)")
    parser.add_argument(
        "--host",
        default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        help="interface to bind (default $GRADIO_SERVER_NAME or 127.0.0.1; 0.0.0.0 to serve a network)",
    )
    parser.add_argument("--port", type=int, default=None, help="port (default $GRADIO_SERVER_PORT or 7860)")
    parser.add_argument("--device", default=None, help="cuda, mps or cpu (default $RGMP_DEVICE, else the best)")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads for the network (default: PyTorch's; 1 is much faster on a CPU shared with other jobs)",
    )
    parser.add_argument(
        "--random-weights",
        action="store_true",
        help="use a randomly initialised lite network (meaningless masks; to work on the page without weights)",
    )
    args = parser.parse_args(argv)
    set_up_process(args.threads)
    from demo.app import build_demo, launch_demo
    from demo.limits import Limits
    from demo.models import random_model_loader

    try:
        limits = Limits.from_env()
        demo = build_demo(
            model_loader=random_model_loader() if args.random_weights else None, limits=limits, device=args.device
        )
    except ValueError as err:  # a device that is not there, a malformed RGMP_DEMO_* variable
        parser.error(str(err))
    launch_demo(demo, host=args.host, port=args.port, limits=limits)


if __name__ == "__main__":
    main()
