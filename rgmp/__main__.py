"""``python -m rgmp``: the command line (:mod:`rgmp.cli`)."""

import sys

if __name__ == "__main__":
    from rgmp.io.pipeline import shorten_openmp_spin

    shorten_openmp_spin()  # the one CPU set-up, before anything imports torch
    from rgmp.cli import main

    sys.exit(main())
