"""What a benchmark run is (its settings) and what it produced (per-sequence records, the summary), as files.

A run folder holds ``run.json`` (settings, signature, sequence list), ``scores/<sequence>.json`` (one record per
sequence, written by whichever rank segmented it), and after gathering ``scores.csv``, ``sequences.csv``,
``summary.json``, ``summary.csv``, ``table.md`` and, for DAVIS-2016, ``figure.png``.
"""

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
RUN_FORMAT = "rgmp-benchmark-run"

DAVIS_ROW_COLUMNS = ("J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay")
SEGTRACK_ROW_COLUMNS = ("IoU", "IoU-frame-mean")


@dataclass(frozen=True)
class RunSettings:
    """Everything that decides a run's numbers; its :meth:`signature` names the run.

    Attributes:
        dataset: "davis2016", "davis2017", "segtrackv2" or "jumpcut".
        root: dataset root folder (absolute).
        subset: DAVIS image set ("val", "train", ...).
        sequences: the sequences asked for (None = the whole set).
        resolution: DAVIS resolution folder.
        model: model name of the weights' config ("paper", "lite", ...).
        weights: weights file (absolute path) or :data:`RANDOM_INIT` (seeded random weights: checks the pipeline,
            says nothing about accuracy).
        scales: inference scales.
        merge: several-object merge (one of :data:`rgmp.inference.merge.MERGE_MODES`).
        size: short side the frames are processed at (None = native).
        precision: "fp32", "bf16" or "fp16" (autocast).
        device: device type the frames were processed on ("cpu", "cuda", "mps").
        no_reference, no_previous: the ablations −Ref and −Prev.
        online_steps, online_lr: the add-on +OL (paper §4.3): Adam steps on the annotated frame before each
            propagation (0 = off) and their learning rate.
        memory: the add-on +GRU (paper §4.3): the weights have the ConvGRU visual memory (``ModelConfig.memory``),
            which the session runs on every frame.
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
        """16 hex digits naming these settings (two runs with the same signature give the same scores)."""
        data = self.to_dict()
        if not self.memory:
            del data["memory"]  # runs recorded before the field existed keep their signature (and resume)
        text = json.dumps(data, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def variant(self) -> str:
        """The paper's name for this configuration: "RGMP", "−Ref", "−Prev", "+OL", "+GRU", or a combination."""
        flags = ((self.no_reference, ABLATION_NO_REF), (self.no_previous, ABLATION_NO_PREV),
                 (self.online, ADDON_ONLINE), (self.memory, ADDON_GRU))  # fmt: skip
        return " ".join(name for on, name in flags if on) or RGMP

    @property
    def online(self) -> bool:
        """Online learning is on."""
        return self.online_steps > 0

    @property
    def random_init(self) -> bool:
        return self.weights == RANDOM_INIT

    def label(self) -> str:
        """Short human description: model, weights, scales, merge, precision, device, and the part of the dataset
        when it is not the whole validation set."""
        weights = "random init" if self.random_init else Path(self.weights).name
        scales = ",".join(f"{s:g}" for s in self.scales)
        parts = [self.model, weights, f"scales {scales}", self.merge, self.precision, self.device]
        if self.size:
            parts.append(f"{self.size}px")
        if self.online:
            parts.append(f"OL {self.online_steps} steps lr {self.online_lr:g}")
        if self.dataset.startswith("davis") and self.subset != "val":
            parts.append(f"{self.subset} set")
        if self.sequences is not None:
            parts.append(f"{len(self.sequences)} seq.")
        return ", ".join(parts)


@dataclass(frozen=True)
class SequenceRecord:
    """The scores of one sequence.

    Attributes:
        sequence: its name.
        frames: frames segmented, not counting annotated start frames.
        seconds: time spent segmenting (reading frames, reference encoding, every target frame; no file writing).
        rows: DAVIS: one dict per object (``object`` and :data:`DAVIS_ROW_COLUMNS`); SegTrack v2: one per object
            (``object`` and :data:`SEGTRACK_ROW_COLUMNS`); JumpCut: one per transfer (``key``, ``d``, ``error``).
        signature: the run's settings signature.
    """

    sequence: str
    frames: int
    seconds: float
    rows: list[dict[str, float]]
    signature: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RunSummary:
    """A run's dataset-level numbers.

    Attributes:
        settings: the run's settings.
        metrics: DAVIS: :data:`rgmp.metrics.GLOBAL_COLUMNS` (fractions); SegTrack v2: "IoU", "IoU-frame-mean"
            (fractions); JumpCut: "d=8", "d=16", ... mean error (fractions).
        sequences, frames, seconds: how much was segmented and how long it took.
    """

    settings: RunSettings
    metrics: dict[str, float] = field(default_factory=dict)
    sequences: int = 0
    frames: int = 0
    seconds: float = 0.0

    @property
    def seconds_per_frame(self) -> float:
        return self.seconds / self.frames if self.frames else math.nan

    def to_dict(self) -> dict[str, Any]:
        return {"settings": self.settings.to_dict(), "metrics": self.metrics, "sequences": self.sequences,
                "frames": self.frames, "seconds": self.seconds,
                "seconds_per_frame": self.seconds_per_frame}  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSummary:
        settings = RunSettings.from_dict(data["settings"])
        return cls(settings, dict(data["metrics"]), int(data["sequences"]), int(data["frames"]), float(data["seconds"]))


def summarize(settings: RunSettings, records: Sequence[SequenceRecord]) -> RunSummary:
    """Dataset-level numbers from the per-sequence records, as each dataset's protocol defines them.

    DAVIS: the official global row (means over objects). SegTrack v2: mean over objects. JumpCut: for each d, the
    mean over sequences of each sequence's mean error over its key frames (transfers whose ground truth is empty
    are skipped).
    """
    rows = [row for record in records for row in record.rows]
    if settings.dataset in ("davis2016", "davis2017"):
        metrics = global_statistics(
            [(r["J-Mean"], r["J-Recall"], r["J-Decay"]) for r in rows],
            [(r["F-Mean"], r["F-Recall"], r["F-Decay"]) for r in rows],
        )
    elif settings.dataset == "segtrackv2":
        metrics = {c: _mean([r[c] for r in rows]) for c in SEGTRACK_ROW_COLUMNS}
    else:
        metrics = {}
        for d in settings.distances:
            per_sequence = [_mean([r["error"] for r in rec.rows if r["d"] == d]) for rec in records]
            metrics[f"d={d}"] = _mean(per_sequence)
    frames, seconds = sum(r.frames for r in records), sum(r.seconds for r in records)
    return RunSummary(settings, metrics, sequences=len(records), frames=frames, seconds=seconds)


def _mean(values: Sequence[float]) -> float:
    kept = [v for v in values if not math.isnan(v)]
    return float(np.mean(kept)) if kept else math.nan


# ----------------------------------------------------------------------------------------------------------------
# files


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
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return buffer.getvalue()


def _cell(value: Any) -> Any:
    if isinstance(value, float):
        return "NaN" if math.isnan(value) else f"{value:.6f}"
    return value


def score_csv(settings: RunSettings, records: Sequence[SequenceRecord]) -> str:
    """``scores.csv``: one row per object (DAVIS, SegTrack v2) or per transfer (JumpCut)."""
    if settings.dataset in ("davis2016", "davis2017"):
        header: tuple[str, ...] = ("Sequence", "Object", *DAVIS_ROW_COLUMNS)
        keys: tuple[str, ...] = ("object", *DAVIS_ROW_COLUMNS)
    elif settings.dataset == "segtrackv2":
        header, keys = ("Sequence", "Object", *SEGTRACK_ROW_COLUMNS), ("object", *SEGTRACK_ROW_COLUMNS)
    else:
        header, keys = ("Sequence", "Key", "d", "Error"), ("key", "d", "error")
    rows = [[rec.sequence, *(row[k] for k in keys)] for rec in records for row in rec.rows]
    return csv_text(header, rows)


def sequence_csv(records: Sequence[SequenceRecord]) -> str:
    """``sequences.csv``: frames, seconds and seconds per frame of each sequence."""
    rows = [[r.sequence, r.frames, float(r.seconds), r.seconds / r.frames if r.frames else math.nan] for r in records]
    return csv_text(("Sequence", "Frames", "Seconds", "Seconds-per-frame"), rows)


def summary_csv(summaries: Sequence[RunSummary]) -> str:
    """``summary.csv``: one row per run with its settings and dataset-level numbers."""
    metric_names: list[str] = []
    for s in summaries:
        metric_names += [m for m in s.metrics if m not in metric_names]
    header = ("Dataset", "Variant", "Label", *metric_names, "Sequences", "Frames", "Seconds-per-frame", "Signature")
    rows = [
        [s.settings.dataset, s.settings.variant, s.settings.label(), *(float(s.metrics.get(m, math.nan)) for m in
         metric_names), s.sequences, s.frames, s.seconds_per_frame, s.settings.signature()]
        for s in summaries
    ]  # fmt: skip
    return csv_text(header, rows)
