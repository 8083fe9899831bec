"""The numbers published in the RGMP paper (Oh et al., CVPR 2018), with where each one comes from.

Provenance levels (column ``checked`` and the ``†`` mark in the tables):

- checked: the RGMP row of Table 1 (J 81.5, F 82.0, 0.13 s/frame) as given in the project's issue, and the numbers
  the project read off the paper into ``shared/RGMP_NOTES.md`` (DAVIS-2017 64.8/68.6, −Ref 68.3, −Prev 73.5, online
  learning 82.4 and +1.74 s/frame, CRF +0.4 J / −2.1 F).
- recalled (``†``): the other methods' rows, written from memory of the paper's tables (they are the values those
  methods' own papers report); they could not be re-checked against the PDF where this was written. Check them
  before quoting. Values not known reliably are left out (None), e.g. the whole of Table 4 (JumpCut) and the F
  column of the ablations.

Times are seconds per frame on the authors' machine (GPU); the paper's Figure 1 plots 1 / time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CHECKED_BRIEF = "RGMP paper, Table 1 (values quoted in the project issue)"
CHECKED_NOTES = "RGMP paper, as read off into shared/RGMP_NOTES.md"
RECALLED = "RGMP paper's table, recalled; not re-checked against the PDF here"


@dataclass(frozen=True)
class PaperRow:
    """One row of one of the paper's tables.

    Attributes:
        method: method or variant name as in the paper.
        values: column name → value (None = not known reliably).
        checked: True when the value was checked (see module docstring); False marks it ``†``.
        source: where the numbers come from.
        online_learning, post_processing: Table 1's OL / PP marks (None = not shown).
    """

    method: str
    values: dict[str, float | None] = field(default_factory=dict)
    checked: bool = False
    source: str = RECALLED
    online_learning: bool | None = None
    post_processing: bool | None = None


RGMP = "RGMP"

TABLE1_DAVIS2016: tuple[PaperRow, ...] = (
    PaperRow("OnAVOS", {"J-Mean": 86.1, "F-Mean": 84.9, "seconds": 13.0}, online_learning=True, post_processing=True),
    PaperRow("OSVOS", {"J-Mean": 79.8, "F-Mean": 80.6, "seconds": 9.0}, online_learning=True, post_processing=True),
    PaperRow(
        "MaskTrack", {"J-Mean": 79.7, "F-Mean": 75.4, "seconds": 12.0}, online_learning=True, post_processing=True
    ),
    PaperRow("SFL", {"J-Mean": 76.1, "F-Mean": 76.0, "seconds": 7.9}, online_learning=True, post_processing=True),
    PaperRow("PLM", {"J-Mean": 70.0, "F-Mean": 62.0, "seconds": 0.3}, online_learning=True, post_processing=False),
    PaperRow("CTN", {"J-Mean": 73.5, "F-Mean": 69.3, "seconds": 30.0}, online_learning=False, post_processing=True),
    PaperRow("VPN", {"J-Mean": 70.2, "F-Mean": 65.5, "seconds": 0.63}, online_learning=False, post_processing=False),
    PaperRow("OFL", {"J-Mean": 68.0, "F-Mean": 63.4, "seconds": 120.0}, online_learning=False, post_processing=False),
    PaperRow("BVS", {"J-Mean": 60.0, "F-Mean": 58.8, "seconds": 0.37}, online_learning=False, post_processing=False),
    PaperRow(
        RGMP,
        {"J-Mean": 81.5, "F-Mean": 82.0, "seconds": 0.13},
        checked=True,
        source=CHECKED_BRIEF,
        online_learning=False,
        post_processing=False,
    ),
)
"""Table 1: DAVIS-2016 validation set, J mean and F mean in percent, time in seconds per frame."""

TABLE2_DAVIS2017: tuple[PaperRow, ...] = (
    PaperRow("OnAVOS", {"J-Mean": 61.6, "F-Mean": 69.1}),
    PaperRow("OSVOS", {"J-Mean": 56.6, "F-Mean": 63.9}),
    PaperRow(RGMP, {"J-Mean": 64.8, "F-Mean": 68.6}, checked=True, source=CHECKED_NOTES),
)
"""Table 2: DAVIS-2017 validation set (several objects), J mean and F mean in percent."""

TABLE3_SEGTRACK: tuple[PaperRow, ...] = (
    PaperRow("BVS", {"IoU": 58.4}),
    PaperRow("OFL", {"IoU": 67.5}),
    PaperRow("OSVOS", {"IoU": 65.4}),
    PaperRow("MaskTrack", {"IoU": 70.3}),
    PaperRow(RGMP, {"IoU": 71.1}),
)
"""Table 3: SegTrack v2, IoU in percent."""

JUMPCUT_DISTANCES: tuple[int, ...] = (8, 16, 32)
JUMPCUT_KEYS: tuple[int, ...] = tuple(range(0, 97, 16))

TABLE4_JUMPCUT: tuple[PaperRow, ...] = (PaperRow(RGMP, {f"d={d}": None for d in JUMPCUT_DISTANCES}),)
"""Table 4: JumpCut transfer error in percent at d = 8, 16, 32 (the paper's values are not known reliably here)."""

ABLATION_NO_REF = "−Ref"
ABLATION_NO_PREV = "−Prev"
TABLE5_ABLATIONS: tuple[PaperRow, ...] = (
    PaperRow(RGMP, {"J-Mean": 81.5, "F-Mean": 82.0}, checked=True, source=CHECKED_BRIEF),
    PaperRow(ABLATION_NO_REF, {"J-Mean": 68.3, "F-Mean": None}, checked=True, source=CHECKED_NOTES),
    PaperRow(ABLATION_NO_PREV, {"J-Mean": 73.5, "F-Mean": None}, checked=True, source=CHECKED_NOTES),
)
"""Table 5: ablations on DAVIS-2016 val (−Ref: zero reference stream, −Prev: zero previous mask)."""

ADDON_ONLINE = "+OL"
ADDON_CRF = "+CRF"
ADDON_GRU = "+GRU"
TABLE6_ADDONS: tuple[PaperRow, ...] = (
    PaperRow(RGMP, {"J-Mean": 81.5, "F-Mean": 82.0, "seconds": 0.13}, checked=True, source=CHECKED_BRIEF),
    PaperRow(
        ADDON_ONLINE, {"J-Mean": 82.4, "F-Mean": None, "seconds": 0.13 + 1.74}, checked=True, source=CHECKED_NOTES
    ),
    PaperRow(
        ADDON_CRF, {"J-Mean": 81.5 + 0.4, "F-Mean": 82.0 - 2.1, "seconds": None}, checked=True, source=CHECKED_NOTES
    ),
    PaperRow(ADDON_GRU, {"J-Mean": None, "F-Mean": None, "seconds": None}, checked=True, source=CHECKED_NOTES),
)
"""Table 6: add-ons on DAVIS-2016 val (online learning, dense CRF, ConvGRU visual memory: "no gain")."""
