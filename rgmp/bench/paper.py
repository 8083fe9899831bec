"""The numbers published in the RGMP paper (Oh et al., CVPR 2018), each row with its source.

A row's ``recalled`` columns were written from memory of the paper and not checked against a source (marked † in
the tables); None = not known reliably. Provenance in detail: docs/benchmarks.md, "Where the paper's numbers come
from". Times are seconds per frame on the authors' GPU (the paper's Figure 1 plots 1 / time).
"""

from __future__ import annotations

from dataclasses import dataclass

CHECKED_BRIEF = "RGMP paper, Table 1 (values quoted in the project issue)"
CHECKED_NOTES = "RGMP paper, as read off into shared/RGMP_NOTES.md"
DAVIS_2016_RESULTS, DAVIS_2017_RESULTS = (
    f"DAVIS benchmark results, DAVIS-{year} val: github.com/davisvideochallenge/davisvideochallenge.github.io, "
    f"json_data/global_eval_val_{year}.js (Jmean, Fmean)"
    for year in (2016, 2017)
)
RECALLED = "RGMP paper's table, recalled; not checked against a source here"
TIME_RECALLED = DAVIS_2016_RESULTS + "; the time recalled from the RGMP paper's Table 1"


@dataclass(frozen=True)
class PaperRow:
    """One row of a table: ``values`` by column (None = not known), the ``source``, the ``recalled`` columns, and
    Table 1's OL / PP marks."""

    method: str
    values: dict[str, float | None]
    source: str
    recalled: tuple[str, ...] = ()
    online_learning: bool = False
    post_processing: bool = False


RGMP = "RGMP"
TIME = ("seconds",)


def _davis2016(method: str, j: float, f: float, seconds: float, online_learning: bool, post_processing: bool):
    """A Table 1 row whose J and F were checked against the DAVIS results and whose time is recalled."""
    values = {"J-Mean": j, "F-Mean": f, "seconds": seconds}
    return PaperRow(method, values, TIME_RECALLED, TIME, online_learning, post_processing)


TABLE1_DAVIS2016: tuple[PaperRow, ...] = (
    _davis2016("OnAVOS", 86.1, 84.9, 13.0, online_learning=True, post_processing=True),
    _davis2016("OSVOS", 79.8, 80.6, 9.0, online_learning=True, post_processing=True),
    _davis2016("MaskTrack", 79.7, 75.4, 12.0, online_learning=True, post_processing=True),
    _davis2016("SFL", 76.1, 76.0, 7.9, online_learning=True, post_processing=True),
    _davis2016("PLM", 70.2, 62.5, 0.3, online_learning=True, post_processing=False),  # recalled as 70.0 / 62.0
    _davis2016("CTN", 73.5, 69.3, 30.0, online_learning=False, post_processing=True),
    _davis2016("VPN", 70.2, 65.5, 0.63, online_learning=False, post_processing=False),
    _davis2016("OFL", 68.0, 63.4, 120.0, online_learning=False, post_processing=False),
    _davis2016("BVS", 60.0, 58.8, 0.37, online_learning=False, post_processing=False),
    PaperRow(RGMP, {"J-Mean": 81.5, "F-Mean": 82.0, "seconds": 0.13}, CHECKED_BRIEF),
)
"""Table 1: DAVIS-2016 validation set, J mean and F mean in percent, time in seconds per frame."""

TABLE2_DAVIS2017: tuple[PaperRow, ...] = (
    PaperRow("OnAVOS", {"J-Mean": 61.6, "F-Mean": 69.1}, DAVIS_2017_RESULTS),
    PaperRow("OSVOS", {"J-Mean": 56.6, "F-Mean": 63.9}, DAVIS_2017_RESULTS),
    PaperRow(RGMP, {"J-Mean": 64.8, "F-Mean": 68.6}, CHECKED_NOTES),
)
"""Table 2: DAVIS-2017 validation set (several objects), J mean and F mean in percent."""

TABLE3_SEGTRACK: tuple[PaperRow, ...] = (
    PaperRow("BVS", {"IoU": 58.4}, RECALLED, ("IoU",)),
    PaperRow("OFL", {"IoU": 67.5}, RECALLED, ("IoU",)),
    PaperRow("OSVOS", {"IoU": 65.4}, RECALLED, ("IoU",)),
    PaperRow("MaskTrack", {"IoU": 70.3}, RECALLED, ("IoU",)),
    PaperRow(RGMP, {"IoU": 71.1}, RECALLED, ("IoU",)),
)
"""Table 3: SegTrack v2, IoU in percent."""

JUMPCUT_DISTANCES: tuple[int, ...] = (8, 16, 32)
JUMPCUT_KEYS: tuple[int, ...] = tuple(range(0, 97, 16))

TABLE4_JUMPCUT: tuple[PaperRow, ...] = (PaperRow(RGMP, {f"d={d}": None for d in JUMPCUT_DISTANCES}, RECALLED),)
"""Table 4: JumpCut transfer error in percent at d = 8, 16, 32 (the paper's values are not known reliably here)."""

ABLATION_NO_REF = "−Ref"
ABLATION_NO_PREV = "−Prev"
TABLE5_ABLATIONS: tuple[PaperRow, ...] = (
    PaperRow(RGMP, {"J-Mean": 81.5, "F-Mean": 82.0}, CHECKED_BRIEF),
    PaperRow(ABLATION_NO_REF, {"J-Mean": 68.3, "F-Mean": None}, CHECKED_NOTES),
    PaperRow(ABLATION_NO_PREV, {"J-Mean": 73.5, "F-Mean": None}, CHECKED_NOTES),
)
"""Table 5: ablations on DAVIS-2016 val (−Ref: zero reference stream, −Prev: zero previous mask)."""

ADDON_ONLINE = "+OL"
ADDON_CRF = "+CRF"
ADDON_GRU = "+GRU"
TABLE6_ADDONS: tuple[PaperRow, ...] = (
    PaperRow(RGMP, {"J-Mean": 81.5, "F-Mean": 82.0, "seconds": 0.13}, CHECKED_BRIEF),
    PaperRow(ADDON_ONLINE, {"J-Mean": 82.4, "F-Mean": None, "seconds": 0.13 + 1.74}, CHECKED_NOTES),
    PaperRow(ADDON_CRF, {"J-Mean": 81.5 + 0.4, "F-Mean": 82.0 - 2.1, "seconds": None}, CHECKED_NOTES),
    PaperRow(ADDON_GRU, {"J-Mean": None, "F-Mean": None, "seconds": None}, CHECKED_NOTES),
)
"""Table 6: add-ons on DAVIS-2016 val (online learning, dense CRF, ConvGRU visual memory: "no gain")."""
