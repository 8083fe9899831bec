"""What a benchmark run is (its settings) and what it produced (per-sequence records, the summary), as files."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from rgmp.bench import BenchmarkError
from rgmp.bench.paper import (
    ABLATION_NO_PREV,
    ABLATION_NO_REF,
    ADDON_GRU,
    ADDON_ONLINE,
    JUMPCUT_DISTANCES,
    JUMPCUT_KEYS,
    RGMP,
)
from rgmp.io.files import write_text_atomic
from rgmp.metrics import global_statistics

RANDOM_INIT = "random-init"
DAVIS_ROW_COLUMNS = ("J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay")
SEGTRACK_ROW_COLUMNS = ("IoU", "IoU-frame-mean")
SCORE_COLUMNS = {
    "davis": {"Object": "object", **{c: c for c in DAVIS_ROW_COLUMNS}},
    "segtrackv2": {"Object": "object", **{c: c for c in SEGTRACK_ROW_COLUMNS}},
    "jumpcut": {"Key": "key", "d": "d", "Error": "error"},
}
"""Per dataset, the columns of ``scores.csv`` after "Sequence" → the key of a :class:`SequenceRecord` row."""


@dataclass(frozen=True)
class RunSettings:
    """Everything that decides a run's numbers; its :meth:`signature` names the run.

    Attributes:
        dataset: "davis2016", "davis2017", "segtrackv2" or "jumpcut"; ``root`` its folder (absolute).
        subset, sequences, resolution: DAVIS image set, the sequences asked for (None = all), resolution folder.
        model, weights: the weights' model name, and their file (absolute) or :data:`RANDOM_INIT`.
        scales, merge, size, precision, device: inference options (``size`` None = native; ``device`` a type).
        no_reference, no_previous: the ablations −Ref and −Prev.
        online_steps, online_lr: the add-on +OL, Adam steps on the annotated frame (0 = off) and learning rate.
        memory: the add-on +GRU, weights with the ConvGRU visual memory.
        keys, distances: JumpCut key frames and transfer distances.
    """

    dataset: str
    root: str
    subset: str = "val"
    sequences: tuple[str, ...] | None = None
    resolution: str = "480p"
    model: str = "lite"
    weights: str = RANDOM_INIT
    scales: tuple[float, ...] = (1.0,)
    merge: str = "soft"
    size: int | None = None
    precision: str = "fp32"
    device: str = "cpu"
    no_reference: bool = False
    no_previous: bool = False
    online_steps: int = 0
    online_lr: float = 1e-7
    memory: bool = False
    keys: tuple[int, ...] = JUMPCUT_KEYS
    distances: tuple[int, ...] = JUMPCUT_DISTANCES

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (lists for tuples)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSettings:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`BenchmarkError`."""
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise BenchmarkError(f"unknown run settings {sorted(unknown)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})

    def signature(self) -> str:
        """16 hex digits naming these settings; ``memory`` counts only when on, so folders made before it resume."""
        data = self.to_dict()
        if not self.memory:
            del data["memory"]
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]

    @property
    def variant(self) -> str:
        """The paper's name for this configuration: "RGMP", "−Ref", "−Prev", "+OL", "+GRU", or a combination."""
        flags = ((self.no_reference, ABLATION_NO_REF), (self.no_previous, ABLATION_NO_PREV),
                 (self.online, ADDON_ONLINE), (self.memory, ADDON_GRU))  # fmt: skip
        return " ".join(name for on, name in flags if on) or RGMP

    @property
    def online(self) -> bool:
        return self.online_steps > 0

    @property
    def random_init(self) -> bool:
        return self.weights == RANDOM_INIT

    def label(self) -> str:
        """Model, weights, scales, merge, precision, device, and what differs from the defaults."""
        weights = "random init" if self.random_init else Path(self.weights).name
        parts = [self.model, weights, "scales " + ",".join(f"{s:g}" for s in self.scales), self.merge,
                 self.precision, self.device]  # fmt: skip
        if self.size:
            parts.append(f"{self.size}px")
        if self.online:
            parts.append(f"OL {self.online_steps} steps lr {self.online_lr:g}")
        if self.dataset.startswith("davis") and self.subset != "val":
            parts.append(f"{self.subset} set")
        if self.sequences is not None:
            parts.append(f"{len(self.sequences)} seq.")
        return ", ".join(parts)

    @property
    def score_columns(self) -> dict[str, str]:
        """This dataset's :data:`SCORE_COLUMNS`."""
        return SCORE_COLUMNS["davis" if self.dataset.startswith("davis") else self.dataset]


@dataclass(frozen=True)
class SequenceRecord:
    """The scores of one sequence: ``frames`` segmented (annotated start frames aside) in ``seconds`` (reading
    frames and segmenting, no file writing); ``rows`` one per object (DAVIS, SegTrack v2) or per transfer (JumpCut),
    keyed as :data:`SCORE_COLUMNS`; ``signature`` the run's."""

    sequence: str
    frames: int
    seconds: float
    rows: list[dict[str, float]]
    signature: str


@dataclass(frozen=True)
class RunSummary:
    """A run's dataset-level numbers: ``metrics`` (fractions) are DAVIS :data:`rgmp.metrics.GLOBAL_COLUMNS`,
    SegTrack v2 :data:`SEGTRACK_ROW_COLUMNS`, JumpCut "d=8", "d=16", ... mean errors."""

    settings: RunSettings
    metrics: dict[str, float] = field(default_factory=dict)
    sequences: int = 0
    frames: int = 0
    seconds: float = 0.0

    @property
    def seconds_per_frame(self) -> float:
        return self.seconds / self.frames if self.frames else math.nan

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "settings": self.settings.to_dict(), "seconds_per_frame": self.seconds_per_frame}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSummary:
        settings = RunSettings.from_dict(data["settings"])
        return cls(settings, dict(data["metrics"]), int(data["sequences"]), int(data["frames"]), float(data["seconds"]))


def summarize(settings: RunSettings, records: Sequence[SequenceRecord]) -> RunSummary:
    """Dataset-level numbers as each dataset's protocol defines them.

    DAVIS: the official global row (means over objects). SegTrack v2: mean over objects. JumpCut: for each d, the
    mean over sequences of each sequence's mean error over its key frames (NaN errors, empty ground truth, skipped).
    """
    rows = [row for record in records for row in record.rows]
    if settings.dataset in ("davis2016", "davis2017"):
        j, f = ([tuple(r[f"{m}-{c}"] for c in ("Mean", "Recall", "Decay")) for r in rows] for m in "JF")
        metrics = global_statistics(j, f)
    elif settings.dataset == "segtrackv2":
        metrics = {c: _mean([r[c] for r in rows]) for c in SEGTRACK_ROW_COLUMNS}
    else:
        metrics = {f"d={d}": _mean([_mean([r["error"] for r in rec.rows if r["d"] == d]) for rec in records])
                   for d in settings.distances}  # fmt: skip
    frames, seconds = sum(r.frames for r in records), sum(r.seconds for r in records)
    return RunSummary(settings, metrics, sequences=len(records), frames=frames, seconds=seconds)


def _mean(values: Sequence[float]) -> float:
    kept = [v for v in values if not math.isnan(v)]
    return float(np.mean(kept)) if kept else math.nan


def write_json(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2) + "\n")


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise BenchmarkError(f"missing file {path}") from None
    except (OSError, ValueError) as err:
        raise BenchmarkError(f"cannot read {path}: {err}") from None


def csv_text(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """CSV with floats written with 6 decimals and NaN as ``NaN``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([_cell(v) for v in row] for row in rows)
    return buffer.getvalue()


def _cell(value: Any) -> Any:
    if isinstance(value, float):
        return "NaN" if math.isnan(value) else f"{value:.6f}"
    return value


def score_csv(settings: RunSettings, records: Sequence[SequenceRecord]) -> str:
    """``scores.csv``: one row per object (DAVIS, SegTrack v2) or per transfer (JumpCut)."""
    columns = settings.score_columns
    rows = [[rec.sequence, *(row[k] for k in columns.values())] for rec in records for row in rec.rows]
    return csv_text(("Sequence", *columns), rows)


def sequence_csv(records: Sequence[SequenceRecord]) -> str:
    """``sequences.csv``: frames, seconds and seconds per frame of each sequence."""
    rows = [[r.sequence, r.frames, float(r.seconds), r.seconds / r.frames if r.frames else math.nan] for r in records]
    return csv_text(("Sequence", "Frames", "Seconds", "Seconds-per-frame"), rows)


def summary_csv(summaries: Sequence[RunSummary]) -> str:
    """``summary.csv``: one row per run with its settings and dataset-level numbers."""
    metrics = list(dict.fromkeys(m for s in summaries for m in s.metrics))
    header = ("Dataset", "Variant", "Label", *metrics, "Sequences", "Frames", "Seconds-per-frame", "Signature")
    rows = [[s.settings.dataset, s.settings.variant, s.settings.label(), *(float(s.metrics.get(m, math.nan))
             for m in metrics), s.sequences, s.frames, s.seconds_per_frame, s.settings.signature()]
            for s in summaries]  # fmt: skip
    return csv_text(header, rows)
