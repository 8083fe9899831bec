"""Markdown tables laid out like the paper's, the paper's numbers beside ours."""

from __future__ import annotations

import math
from collections.abc import Sequence

from rgmp.bench.paper import (
    ADDON_CRF,
    ADDON_GRU,
    ADDON_ONLINE,
    TABLE1_DAVIS2016,
    TABLE2_DAVIS2017,
    TABLE3_SEGTRACK,
    TABLE4_JUMPCUT,
    TABLE5_ABLATIONS,
    TABLE6_ADDONS,
    PaperRow,
)
from rgmp.bench.records import RunSummary

DAGGER = "†"
RANDOM_MARK = "‡"
J_F_TIME = ("J-Mean", "F-Mean", "seconds")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool] = ()) -> str:
    """A GitHub markdown table; columns flagged in ``right`` are right-aligned (default: all but the first)."""
    right = list(right) or [i > 0 for i in range(len(header))]
    lines = [header, ["---:" if r else "---" for r in right], *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def percent(value: float | None) -> str:
    """A fraction in percent with one decimal; "–" for missing or NaN."""
    return "–" if value is None or math.isnan(value) else f"{100 * value:.1f}"


def seconds(value: float | None) -> str:
    """Seconds per frame with 3 significant digits; "–" for missing or NaN."""
    return "–" if value is None or math.isnan(value) else f"{value:.3g}"


def _paper(row: PaperRow, column: str) -> str:
    """A paper number as the paper prints it (percent with one decimal, or seconds), † when recalled; "–" unknown."""
    value = row.values.get(column)
    if value is None:
        return "–"
    text = f"{value:g}" if column == "seconds" else f"{value:.1f}"
    return f"{text} {DAGGER}" if column in row.recalled else text


def _ours_name(summary: RunSummary) -> str:
    mark = f" {RANDOM_MARK}" if summary.settings.random_init else ""
    return f"**{summary.settings.variant} (ours: {summary.settings.label()})**{mark}"


def _ours_j_f_time(summary: RunSummary) -> list[str]:
    return [percent(summary.metrics["J-Mean"]), percent(summary.metrics["F-Mean"]), seconds(summary.seconds_per_frame)]


def _mark(flag: bool) -> str:
    return "✓" if flag else ""


def _of(summaries: Sequence[RunSummary], dataset: str) -> list[RunSummary]:
    return [s for s in summaries if s.settings.dataset == dataset]


def _section(title: str, header: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool] = ()) -> str:
    return f"## {title}\n\n{markdown_table(header, rows, right)}"


def table1(summaries: Sequence[RunSummary]) -> str:
    """Table 1: DAVIS-2016 val, J mean, F mean and time; the paper's methods, then our runs."""
    rows = [[r.method, _mark(r.online_learning), _mark(r.post_processing), *(_paper(r, c) for c in J_F_TIME)]
            for r in TABLE1_DAVIS2016]  # fmt: skip
    rows += [[_ours_name(s), _mark(s.settings.online), "", *_ours_j_f_time(s)] for s in _of(summaries, "davis2016")]
    header = ["Method", "OL", "PP", "J Mean", "F Mean", "Time (s/frame)"]
    return _section("Table 1 — DAVIS-2016 validation", header, rows, [False] * 3 + [True] * 3)


def table2(summaries: Sequence[RunSummary]) -> str:
    """Table 2: DAVIS-2017 val (several objects)."""
    rows = [[r.method, _paper(r, "J-Mean"), _paper(r, "F-Mean"), "–"] for r in TABLE2_DAVIS2017]
    rows += [[_ours_name(s), *_ours_j_f_time(s)] for s in _of(summaries, "davis2017")]
    header = ["Method", "J Mean", "F Mean", "Time (s/frame)"]
    return _section("Table 2 — DAVIS-2017 validation (several objects)", header, rows)


def table3(summaries: Sequence[RunSummary]) -> str:
    """Table 3: SegTrack v2 IoU (frames at 480 px on the short side)."""
    rows = [[r.method, _paper(r, "IoU"), "–", "–"] for r in TABLE3_SEGTRACK]
    rows += [[_ours_name(s), percent(s.metrics["IoU"]), percent(s.metrics["IoU-frame-mean"]),
              seconds(s.seconds_per_frame)] for s in _of(summaries, "segtrackv2")]  # fmt: skip
    header = ["Method", "IoU", "IoU (mean over frames)", "Time (s/frame)"]
    return _section("Table 3 — SegTrack v2", header, rows)


def table4(summaries: Sequence[RunSummary]) -> str:
    """Table 4: JumpCut error (percent, lower is better) at the end of transfers of d frames."""
    ours = _of(summaries, "jumpcut")
    distances: list[str] = list(TABLE4_JUMPCUT[0].values)
    for s in ours:
        distances += [d for d in s.metrics if d not in distances]
    rows = [[r.method, *(_paper(r, d) for d in distances)] for r in TABLE4_JUMPCUT]
    rows += [[_ours_name(s), *(percent(s.metrics.get(d)) for d in distances)] for s in ours]
    return _section("Table 4 — JumpCut (error %, lower is better)", ["Method", *distances], rows)


def table5(summaries: Sequence[RunSummary]) -> str:
    """Table 5: ablations on DAVIS-2016 val, paper and ours side by side (add-on runs go to Table 6)."""
    ours = [s for s in _of(summaries, "davis2016") if not (s.settings.online or s.settings.memory)]
    paper = {r.method: r for r in TABLE5_ABLATIONS}
    rows = []
    for variant in [*paper, *sorted({s.settings.variant for s in ours} - set(paper))]:
        j, f = (_paper(paper[variant], "J-Mean"), _paper(paper[variant], "F-Mean")) if variant in paper else ("–", "–")
        matching = [s for s in ours if s.settings.variant == variant]
        if not matching:
            rows.append([variant, j, "–", f, "–", ""])
        for s in matching:
            mark = f" {RANDOM_MARK}" if s.settings.random_init else ""
            rows.append([variant, j, percent(s.metrics["J-Mean"]), f, percent(s.metrics["F-Mean"]),
                         s.settings.label() + mark])  # fmt: skip
    header = ["Variant", "J Mean (paper)", "J Mean (ours)", "F Mean (paper)", "F Mean (ours)", "Our run"]
    return _section("Table 5 — Ablations, DAVIS-2016 validation", header, rows, [False, *[True] * 4, False])


ADDON_HINTS = {
    ADDON_ONLINE: "– (run with --online-learning)",
    ADDON_GRU: "– (run with --convgru and weights from python -m train memory)",
    ADDON_CRF: "not implemented (not asked for)",
}
"""Table 6's "ours" cell of an add-on without a run."""


def table6(summaries: Sequence[RunSummary]) -> str:
    """Table 6: add-ons on DAVIS-2016 val, paper and ours side by side (ours: RGMP, +OL and +GRU runs)."""
    rows = []
    for r in TABLE6_ADDONS:
        paper = [_paper(r, k) for k in J_F_TIME]
        runs = [s for s in _of(summaries, "davis2016") if s.settings.variant == r.method]
        rows += [[f"{r.method} ({s.settings.label()})", *(c for pair in zip(paper, _ours_j_f_time(s), strict=True)
                  for c in pair)] for s in runs]  # fmt: skip
        if not runs:
            rows.append([r.method, paper[0], ADDON_HINTS.get(r.method, "–"), paper[1], "–", paper[2], "–"])
    header = ["Variant", "J (paper)", "J (ours)", "F (paper)", "F (ours)", "s/frame (paper)", "s/frame (ours)"]
    return _section("Table 6 — Add-ons, DAVIS-2016 validation", header, rows)


def options_table(summaries: Sequence[RunSummary]) -> str:
    """Every run with its inference options (scales, merge, precision, device) and its main number."""
    rows = []
    for s in summaries:
        st = s.settings
        name, key = {"segtrackv2": ("IoU", "IoU"), "jumpcut": (f"error d={st.distances[-1]}", f"d={st.distances[-1]}")
                     }.get(st.dataset, ("J&F", "J&F-Mean"))  # fmt: skip
        rows.append([st.dataset, st.variant, st.model, ",".join(f"{x:g}" for x in st.scales), st.merge, st.precision,
                     st.device, f"{name} {percent(s.metrics.get(key))}", seconds(s.seconds_per_frame),
                     str(s.sequences), st.signature()])  # fmt: skip
    header = "Dataset Variant Model Scales Merge Precision Device Score s/frame Seq. Run".split()
    return _section("Runs and their inference options", header, rows, [False] * 7 + [True] * 3 + [False])


FOOTNOTES = f"""\
- {DAGGER} recalled from the paper's table, not checked against a source; unmarked paper numbers were checked against \
the paper or the DAVIS benchmark's results (sources in `rgmp/bench/paper.py`). – = not known.
- {RANDOM_MARK} random weights: the run checks the pipeline; its scores say nothing about accuracy.
- Paper times are the authors' GPU; ours are the device named in the row (reading frames and reference encoding \
included, file writing excluded).
- J, F, IoU and errors in percent; JumpCut error = wrongly labelled area / object area at the end of each transfer."""


def report(summaries: Sequence[RunSummary]) -> str:
    """The markdown report: the paper's tables that concern the runs, the runs' options, and the footnotes."""
    datasets = {s.settings.dataset for s in summaries}
    tables = {"davis2016": (table1, table5, table6), "davis2017": (table2,), "segtrackv2": (table3,),
              "jumpcut": (table4,)}  # fmt: skip
    parts = ["# RGMP: the paper's tables and this implementation's runs"]
    parts += [table(summaries) for dataset, group in tables.items() if dataset in datasets for table in group]
    return "\n\n".join([*parts, options_table(summaries), FOOTNOTES]) + "\n"
