import sys

from rgmp.io.pipeline import shorten_openmp_spin

shorten_openmp_spin()  # before anything imports torch

from rgmp.cli import main  # noqa: E402

sys.exit(main())
