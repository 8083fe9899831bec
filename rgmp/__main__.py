"""``python -m rgmp``: the command line (:mod:`rgmp.cli`)."""

import gc
import sys

if __name__ == "__main__":
    from rgmp.io.pipeline import shorten_openmp_spin

    shorten_openmp_spin()  # the one CPU set-up, before anything imports torch
    from rgmp.cli import main

    # What the imports made (torch, torchvision, timm: a few hundred thousand objects) lives until exit: keep the
    # cyclic garbage collector off it. Its last collection, at exit, walked all of it: about 1 s of a 10 s run
    # (rgmp/weights/MODEL_CARD.md, Speed).
    gc.freeze()
    sys.exit(main())
