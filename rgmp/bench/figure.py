"""The paper's Figure 1: DAVIS-2016 J mean against frames per second (log axis), our runs among the methods."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from rgmp.bench.paper import RGMP, TABLE1_DAVIS2016
from rgmp.bench.records import RunSummary
from rgmp.io.files import atomic_path

LABEL_OFFSETS: dict[str, tuple[int, int, str]] = {"MaskTrack": (-6, -12, "right")}
"""Label placement (points right, points up, alignment) for methods whose labels would overlap."""


def speed_accuracy_figure(summaries: Sequence[RunSummary], path: Path) -> Path:
    """Draw J mean (percent) against frames per second of the paper's methods and, as stars, the DAVIS-2016 runs
    among ``summaries`` with a measured time; written atomically to ``path`` (``.png``, ``.svg`` or ``.pdf``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=120)
    for row in TABLE1_DAVIS2016:
        fps, j = 1.0 / row.values["seconds"], row.values["J-Mean"]
        paper_rgmp = row.method == RGMP
        ax.scatter(fps, j, s=60 if paper_rgmp else 36, c="tab:red" if paper_rgmp else "0.35", zorder=3)
        dx, dy, align = LABEL_OFFSETS.get(row.method, (6, 4, "left"))
        name = f"{row.method} (paper)" if paper_rgmp else row.method
        ax.annotate(name, (fps, j), textcoords="offset points", xytext=(dx, dy), ha=align, fontsize=8)
    ours = [s for s in summaries if s.settings.dataset == "davis2016" and s.frames and s.seconds > 0]
    for s in ours:
        fps, j = 1.0 / s.seconds_per_frame, 100 * s.metrics["J-Mean"]
        if math.isnan(j):
            continue
        ax.scatter(fps, j, marker="*", s=160, c="tab:blue", edgecolors="k", linewidths=0.5, zorder=4)
        weights = "random weights" if s.settings.random_init else Path(s.settings.weights).name
        label = f"ours: {s.settings.variant}, {s.settings.model}, {weights}, {s.settings.device}"
        ax.annotate(label, (fps, j), textcoords="offset points", xytext=(6, -10), fontsize=8, color="tab:blue")
    ax.set_xscale("log")
    ax.set_xlabel("frames per second (log scale; paper: authors' GPU, ours: the device shown)")
    ax.set_ylabel("DAVIS-2016 J mean (%)")
    ax.set_title("Speed and accuracy on DAVIS-2016 (after Figure 1 of the RGMP paper)", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=path.suffix.lstrip("."))
    finally:
        plt.close(fig)
    return path
