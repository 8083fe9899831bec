"""Semi-supervised DAVIS evaluation of a results folder, equal to the official davis2017-evaluation tool.

Only a DAVIS root's image sets and ``Annotations`` are read (:mod:`rgmp.data.davis`), no ``JPEGImages``. Results
are ``<results_dir>/<seq>/<frame>.png`` named like the annotations and read as they are (indexed PNGs of object ids;
DAVIS-2016: one object wherever the value is > 0).

As in the official tool, the first and last frame of every sequence are not scored (and not read from the
results), and every object of every sequence is one row of the per-sequence table, named ``<seq>_<k>``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from rgmp.data import davis
from rgmp.errors import InputError
from rgmp.io.files import write_text_atomic
from rgmp.metrics import GLOBAL_COLUMNS, db_statistics, evaluate_semisupervised, global_statistics

__all__ = [
    "GLOBAL_COLUMNS",
    "PER_SEQUENCE_COLUMNS",
    "EvaluationError",
    "EvaluationResult",
    "ObjectResult",
    "evaluate_davis",
    "format_table",
    "write_csvs",
]

PER_SEQUENCE_COLUMNS = ("Sequence", "J-Mean", "F-Mean")


class EvaluationError(InputError):
    """Bad or missing input (image set, annotation, result frame); the one-line message names the path."""


@dataclass(frozen=True)
class ObjectResult:
    """Scores of one object of one sequence.

    Attributes:
        sequence: sequence name.
        object_id: object index k (1-based, the label value in the masks).
        frame_ids: ids of the evaluated frames (all but the first and last), length N.
        j, f: (N,) per-frame region similarity and boundary accuracy.
        j_mean, j_recall, j_decay, f_mean, f_recall, f_decay: :func:`rgmp.metrics.db_statistics` of
            ``j`` and ``f``.
    """

    sequence: str
    object_id: int
    frame_ids: tuple[str, ...]
    j: np.ndarray
    f: np.ndarray
    j_mean: float
    j_recall: float
    j_decay: float
    f_mean: float
    f_recall: float
    f_decay: float

    @property
    def name(self) -> str:
        """Row name in the per-sequence table, ``<seq>_<k>`` as the official tool."""
        return f"{self.sequence}_{self.object_id}"


@dataclass(frozen=True)
class EvaluationResult:
    """Result of :func:`evaluate_davis`.

    Attributes:
        subset: the evaluated subset (used in file names and table titles).
        global_row: the official global table row, keyed by :data:`GLOBAL_COLUMNS`.
        objects: one row per object, in sequence order then object order.
    """

    subset: str
    global_row: dict[str, float]
    objects: tuple[ObjectResult, ...]


def evaluate_davis(
    results_dir: str | os.PathLike[str],
    davis_root: str | os.PathLike[str],
    *,
    year: str = "2017",
    subset: str = "val",
    sequences: Sequence[str] | None = None,
    resolution: str = "480p",
    progress: bool = True,
    exact_decay: bool = False,
) -> EvaluationResult:
    """Evaluate a results folder on DAVIS (semi-supervised task), as the official evaluation tool.

    Args:
        results_dir: folder holding ``<seq>/<frame>.png``.
        davis_root: DAVIS root holding ``ImageSets`` and ``Annotations``.
        year: ``"2017"`` (multi-object, indexed PNGs) or ``"2016"`` (single object, anything > 0).
        subset: image set name, e.g. ``"val"`` or ``"train"``.
        sequences: sequence names to evaluate instead of the image set.
        resolution: annotation folder, e.g. ``"480p"``.
        progress: show a tqdm progress bar over sequences.
        exact_decay: use proper decay bins for objects with more than 255 evaluated frames (see
            :func:`rgmp.metrics.db_statistics`); the default reproduces the official numbers.

    Returns:
        The global row and the per-object rows.

    Raises:
        EvaluationError: missing image set, annotations, result folder or result frame, mismatching frame
            sizes, or object ids in the results above the number of objects of the sequence.
    """
    year = str(year)
    if year not in davis.YEARS:
        raise EvaluationError(f"unsupported DAVIS year {year!r} (use '2016' or '2017')")
    root, results = Path(davis_root), Path(results_dir)
    if sequences is None:
        try:
            names = davis.sequence_names(root, year, subset, resolution)
        except davis.DavisError as err:
            raise EvaluationError(str(err)) from None
    else:
        names = [sequences] if isinstance(sequences, str) else list(sequences)
    if not names:
        raise EvaluationError(f"no sequences to evaluate in {root} (subset {subset!r})")

    objects: list[ObjectResult] = []
    for seq in tqdm(names, desc="Evaluating", unit="seq", disable=not progress):
        seq_dir = results / seq
        if not seq_dir.is_dir():
            raise EvaluationError(f"missing results folder for sequence {seq}: {seq_dir}")
        frame_ids, gt = _read_annotations(davis.annotations_root(root, resolution) / seq, year)
        pred = _read_results(seq_dir, frame_ids, gt.shape[1:], year)
        try:
            j, f = evaluate_semisupervised(gt, pred)
        except ValueError as err:
            raise EvaluationError(f"{seq_dir}: {err}") from None
        evaluated = tuple(frame_ids[1:-1])
        for k in range(j.shape[0]):
            jm, jr, jd = db_statistics(j[k], exact_decay=exact_decay)
            fm, fr, fd = db_statistics(f[k], exact_decay=exact_decay)
            objects.append(ObjectResult(seq, k + 1, evaluated, j[k], f[k], jm, jr, jd, fm, fr, fd))

    global_row = global_statistics(
        [(o.j_mean, o.j_recall, o.j_decay) for o in objects],
        [(o.f_mean, o.f_recall, o.f_decay) for o in objects],
    )
    return EvaluationResult(subset=subset, global_row=global_row, objects=tuple(objects))


def write_csvs(
    result: EvaluationResult, results_dir: str | os.PathLike[str], subset: str | None = None
) -> tuple[Path, Path]:
    """Write ``global_results-<subset>.csv`` and ``per-sequence_results-<subset>.csv`` into ``results_dir``.

    Same file names and columns as the official tool (global: ``J&F-Mean,J-Mean,J-Recall,J-Decay,F-Mean,
    F-Recall,F-Decay``; per sequence: ``Sequence,J-Mean,F-Mean`` with rows ``<seq>_<k>``), but values are
    written with 12 decimals where the official writes ``%.3f``; NaN is written ``NaN``. Each file is written
    to a temporary file in the same folder and moved into place with ``os.replace``.

    Args:
        result: the evaluation to write.
        results_dir: destination folder (normally the evaluated results folder).
        subset: subset name for the file names; defaults to ``result.subset``.

    Returns:
        (global csv path, per-sequence csv path).
    """
    out = Path(results_dir)
    subset = result.subset if subset is None else subset
    global_path = out / f"global_results-{subset}.csv"
    per_seq_path = out / f"per-sequence_results-{subset}.csv"
    global_lines = [
        ",".join(GLOBAL_COLUMNS),
        ",".join(_csv_float(result.global_row[c]) for c in GLOBAL_COLUMNS),
    ]
    seq_lines = [",".join(PER_SEQUENCE_COLUMNS)]
    seq_lines += [f"{o.name},{_csv_float(o.j_mean)},{_csv_float(o.f_mean)}" for o in result.objects]
    write_text_atomic(global_path, "\n".join(global_lines) + "\n")
    write_text_atomic(per_seq_path, "\n".join(seq_lines) + "\n")
    return global_path, per_seq_path


def format_table(result: EvaluationResult) -> str:
    """The global and per-sequence tables as the official tool prints them (pandas layout, 3 decimals).

    The official script prints pandas ``DataFrame.to_string(index=False)``: right-aligned columns separated by
    one space, numeric headers with a leading space. Values are shown with 3 decimals (what the official tool
    shows when it re-reads its ``%.3f`` CSVs; on the first run pandas shows 6).
    """
    subset = result.subset
    global_table = _table(list(GLOBAL_COLUMNS), [[result.global_row[c] for c in GLOBAL_COLUMNS]])
    seq_table = _table(list(PER_SEQUENCE_COLUMNS), [[o.name, o.j_mean, o.f_mean] for o in result.objects])
    return (
        f"--------------------------- Global results for {subset} ---------------------------\n"
        f"{global_table}\n\n"
        f"---------- Per sequence results for {subset} ----------\n"
        f"{seq_table}"
    )


def _table(headers: list[str], rows: list[list[str | float]]) -> str:
    """Right-aligned text table in the layout of pandas ``to_string(index=False)``."""
    columns = []
    for c, header in enumerate(headers):
        cells = [_display(row[c]) for row in rows]
        numeric = all(isinstance(row[c], float) for row in rows) and bool(rows)
        columns.append([(" " + header) if numeric else header, *cells])
    widths = [max(len(cell) for cell in col) for col in columns]
    lines = [" ".join(col[i].rjust(w) for col, w in zip(columns, widths, strict=True)) for i in range(len(rows) + 1)]
    return "\n".join(lines)


def _display(value: str | float) -> str:
    if isinstance(value, str):
        return value
    return "NaN" if math.isnan(value) else f"{value:.3f}"


def _csv_float(value: float) -> str:
    return "NaN" if math.isnan(value) else f"{value:.12f}"


def _read_annotations(seq_dir: Path, year: davis.Year) -> tuple[list[str], np.ndarray]:
    """Frame ids (file names up to the first dot, sorted) and the (T, H, W) annotations of one sequence."""
    paths = sorted(seq_dir.glob("*.png"))
    if len(paths) < 3:
        raise EvaluationError(f"need at least 3 annotated frames, found {len(paths)} in {seq_dir}")
    frames = [_read_png(p, year) for p in paths]
    if len({frame.shape for frame in frames}) != 1:
        raise EvaluationError(f"annotations of different sizes in {seq_dir}")
    return [p.name.split(".")[0] for p in paths], np.stack(frames)


def _read_results(seq_dir: Path, frame_ids: list[str], shape: tuple[int, ...], year: davis.Year) -> np.ndarray:
    """(T, H, W) result label maps; frames 0 and T-1 are not scored, so not read (zeros), as officially."""
    blank = np.zeros(shape, np.uint8)
    frames = [blank]
    for frame_id in frame_ids[1:-1]:
        path = seq_dir / f"{frame_id}.png"
        if not path.is_file():
            raise EvaluationError(f"missing result frame: {path}")
        frame = _read_png(path, year)
        if frame.shape != shape:
            raise EvaluationError(f"result frame {path} is {frame.shape}, annotation is {shape}")
        frames.append(frame)
    return np.stack([*frames, blank])


def _read_png(path: Path, year: davis.Year) -> np.ndarray:
    """A (H, W) uint8 label map read as a DAVIS annotation (:func:`rgmp.data.davis.read_annotation`)."""
    try:
        return davis.read_annotation(path, year)
    except davis.DavisError as err:
        raise EvaluationError(str(err)) from None
