"""Segmenting a whole dataset with the streaming session, scoring it, sharded over ranks, and gathering.

A run folder holds ``run.json`` (settings, signature, sequences), ``results/`` (the masks), ``scores/<sequence>.json``
(one :class:`SequenceRecord`, written by whichever rank segmented the sequence), ``parts/`` (each rank's status) and,
once gathered, ``scores.csv``, ``sequences.csv``, ``summary.json``, ``summary.csv``, ``table.md`` and, for
DAVIS-2016, ``figure.png``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
from tqdm import tqdm

from rgmp.bench import BenchmarkError
from rgmp.bench.datasets import Sequence as Clip
from rgmp.bench.datasets import read_dataset, read_frame, read_labels, read_object_masks
from rgmp.bench.figure import speed_accuracy_figure
from rgmp.bench.measures import frame_mean_iou, intersection_union, jumpcut_error, segtrack_iou
from rgmp.bench.records import (
    DAVIS_ROW_COLUMNS,
    RunSettings,
    RunSummary,
    SequenceRecord,
    read_json,
    score_csv,
    sequence_csv,
    summarize,
    summary_csv,
    write_json,
)
from rgmp.bench.tables import report
from rgmp.distributed import shard
from rgmp.evaluation import evaluate_davis
from rgmp.inference import FrameResult, Session
from rgmp.io.files import write_text_atomic
from rgmp.io.masks import write_mask

RUN_FORMAT = "rgmp-benchmark-run"
Rows = list[dict[str, float]]


def run_share(
    settings: RunSettings,
    out: Path,
    session: Session,
    *,
    rank: int = 0,
    world: int = 1,
    wait: float = 86400.0,
    poll: float = 2.0,
    progress: bool = True,
) -> RunSummary | None:
    """Segment and score this rank's share of the run; rank 0 then waits for every record and gathers.

    A sequence that already has a record with these settings is skipped, so an interrupted run resumes.

    Args:
        settings: the run (its ``device`` and ``precision`` must be the session's).
        out: run folder, shared by all ranks (a network file system across machines).
        rank, world: this process and the number of processes.
        wait, poll: seconds rank 0 waits for the other ranks' records at most, and between checks.

    Returns:
        The run's summary on rank 0, None on the other ranks.
    """
    sequences = read_dataset(settings.dataset, settings.root, subset=settings.subset,  # type: ignore[arg-type]
                             sequences=settings.sequences, resolution=settings.resolution)  # fmt: skip
    names, signature = [s.name for s in sequences], settings.signature()
    _claim(out, settings, names)
    mine = [sequences[i] for i in shard([len(s) for s in sequences], rank, world)]
    marker = out / "parts" / f"rank-{rank:05d}-of-{world:05d}.json"
    marker.unlink(missing_ok=True)
    for sequence in tqdm(mine, desc=f"rank {rank}/{world}", unit="seq", disable=not progress):
        if _record(out, sequence.name, signature) is None:
            try:
                record = score_sequence(settings, sequence, session, out)
            except Exception as err:
                message = f"rank {rank} failed on {sequence.name}: {' '.join(str(err).split())}"
                write_json(marker, {"signature": signature, "status": "failed", "error": message})
                raise
            write_json(out / "scores" / f"{sequence.name}.json", asdict(record))
    write_json(marker, {"signature": signature, "status": "done", "sequences": [s.name for s in mine]})
    if rank != 0:
        return None
    wait_until(lambda: not _missing(out, names, signature), timeout=wait, poll=poll,
               failed=lambda: _failure(out, signature))  # fmt: skip
    return gather(out)


def wait_until(
    ready: Callable[[], bool], *, timeout: float, poll: float = 2.0, failed: Callable[[], str | None] = lambda: None
) -> None:
    """Block until ``ready()`` (the file barrier of the ranks' records), checking every ``poll`` seconds.

    Raises:
        BenchmarkError: after ``timeout`` seconds, or when ``failed()`` returns a message (another rank failed).
    """
    deadline = time.monotonic() + timeout
    while not ready():
        message = failed()
        if message:
            raise BenchmarkError(message)
        if time.monotonic() >= deadline:
            raise BenchmarkError(
                f"gave up waiting after {timeout:.0f} s for the other ranks; when they finish, combine with --gather"
            )
        time.sleep(poll)


def gather(out: Path) -> RunSummary:
    """Combine the records of a run folder into its CSVs, summary, table and figure.

    Raises:
        BenchmarkError: no ``run.json``, or sequences without a record (named in the message).
    """
    run = read_json(out / "run.json")
    if run.get("format") != RUN_FORMAT:
        raise BenchmarkError(f"{out / 'run.json'} is not a benchmark run description")
    settings = RunSettings.from_dict(run["settings"])
    names: list[str] = run["sequences"]
    missing = _missing(out, names, settings.signature())
    if missing:
        shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise BenchmarkError(
            f"{len(missing)} of {len(names)} sequences have no scores yet in {out / 'scores'}: {shown}"
        )
    records = [r for name in names if (r := _record(out, name, settings.signature())) is not None]
    summary = summarize(settings, records)
    write_text_atomic(out / "scores.csv", score_csv(settings, records))
    write_text_atomic(out / "sequences.csv", sequence_csv(records))
    write_json(out / "summary.json", summary.to_dict())
    _write_report([summary], out / "table.md")
    return summary


def write_report(run_dirs: Sequence[Path], out: Path) -> list[RunSummary]:
    """Combine gathered runs (e.g. RGMP, −Ref, −Prev, other scales) into ``out/tables.md``, ``out/summary.csv``
    and, with a DAVIS-2016 run among them, ``out/figure.png``."""
    summaries = [RunSummary.from_dict(read_json(Path(d) / "summary.json")) for d in run_dirs]
    if not summaries:
        raise BenchmarkError("no runs to report: give --runs with at least one gathered run folder")
    _write_report(summaries, out / "tables.md")
    return summaries


def _write_report(summaries: Sequence[RunSummary], tables: Path) -> None:
    write_text_atomic(tables, report(summaries))
    write_text_atomic(tables.parent / "summary.csv", summary_csv(summaries))
    if any(s.settings.dataset == "davis2016" for s in summaries):
        speed_accuracy_figure(summaries, tables.parent / "figure.png")


# ----------------------------------------------------------------------------------------------------------------
# one sequence


def score_sequence(settings: RunSettings, sequence: Clip, session: Session, out: Path) -> SequenceRecord:
    """Segment one sequence as its dataset's protocol says, write its masks under ``out/results``, score it."""
    if settings.dataset in ("davis2016", "davis2017"):
        rows, frames, seconds = _davis(settings, sequence, session, out)
    elif settings.dataset == "segtrackv2":
        rows, frames, seconds = _segtrack(sequence, session, out)
    else:
        rows, frames, seconds = _jumpcut(settings, sequence, session, out)
    return SequenceRecord(sequence.name, frames, seconds, rows, settings.signature())


def _timed(session: Session, frames: Sequence[Path], mask: np.ndarray) -> Iterator[tuple[FrameResult, float]]:
    """The session's results on these frame files, each with the seconds it took (reading the frame included)."""
    results = session.propagate((read_frame(p) for p in frames), mask)
    while True:
        start = time.perf_counter()
        result = next(results, None)
        if result is None:
            return
        yield result, time.perf_counter() - start


def _davis(settings: RunSettings, sequence: Clip, session: Session, out: Path) -> tuple[Rows, int, float]:
    seconds = 0.0
    for result, elapsed in _timed(session, sequence.frames, read_labels(sequence, 0)):
        seconds += elapsed
        write_mask(out / "results" / sequence.name / f"{sequence.frames[result.index].stem}.png", result.labels)
    evaluation = evaluate_davis(out / "results", settings.root, year=settings.dataset.removeprefix("davis"),
                                subset=settings.subset, sequences=[sequence.name], resolution=settings.resolution,
                                progress=False)  # fmt: skip
    rows = [{"object": o.object_id, **dict(zip(DAVIS_ROW_COLUMNS, (o.j_mean, o.j_recall, o.j_decay, o.f_mean,
                                                                   o.f_recall, o.f_decay), strict=True))}
            for o in evaluation.objects]  # fmt: skip
    return rows, len(sequence) - 1, seconds


def _segtrack(sequence: Clip, session: Session, out: Path) -> tuple[Rows, int, float]:
    """Every frame after the first is scored, each object on its own ground-truth mask file."""
    counts: list[list[tuple[int, int]]] = []  # per scored frame, per object: (intersection, union)
    seconds = 0.0
    for result, elapsed in _timed(session, sequence.frames, read_labels(sequence, 0)):
        seconds += elapsed
        if result.index > 0:
            write_mask(out / "results" / sequence.name / f"{sequence.frames[result.index].stem}.png", result.labels)
            masks = read_object_masks(sequence, result.index)
            counts.append([intersection_union(mask, result.labels == k) for k, mask in enumerate(masks, start=1)])
    rows: Rows = []
    for k, per_frame in enumerate(zip(*counts, strict=True), start=1):
        inter, union = zip(*per_frame, strict=True)
        rows.append({"object": k, "IoU": segtrack_iou(inter, union), "IoU-frame-mean": frame_mean_iou(inter, union)})
    return rows, len(sequence) - 1, seconds


def _jumpcut(settings: RunSettings, sequence: Clip, session: Session, out: Path) -> tuple[Rows, int, float]:
    """From each key frame, propagate its ground truth; score the frames ``key + d`` (the ends of the transfers).

    One propagation to the farthest end serves every d: the session is causal and deterministic, so its output
    ``d`` frames after the key is the output a propagation of exactly ``d`` frames ends with.
    """
    rows: Rows = []
    seconds, frames = 0.0, 0
    last = len(sequence) - 1
    for key in settings.keys:
        if key >= last or sequence.labels[key] is None:
            continue
        ends = {key + d: d for d in settings.distances if key + d <= last and sequence.labels[key + d] is not None}
        start_mask = read_labels(sequence, key)
        if not ends or not start_mask.any():
            continue
        folder = out / "results" / sequence.name / f"from_{sequence.frames[key].stem}"
        for result, elapsed in _timed(session, sequence.frames[key : max(ends) + 1], start_mask):
            seconds += elapsed
            frames += result.index > 0
            index = key + result.index
            if index in ends:
                write_mask(folder / f"{sequence.frames[index].stem}.png", result.labels)
                error = jumpcut_error(read_labels(sequence, index) > 0, result.labels > 0)
                rows.append({"key": key, "d": ends[index], "error": error})
    if not rows:
        raise BenchmarkError(
            f"{sequence.name}: no transfer fits ({len(sequence)} frames; keys {list(settings.keys)}, "
            f"distances {list(settings.distances)}, annotated key and end frames needed)"
        )
    return rows, frames, seconds


# ----------------------------------------------------------------------------------------------------------------
# the run folder


def _claim(out: Path, settings: RunSettings, names: list[str]) -> None:
    """Write ``out/run.json``, or check that the one there describes the same run."""
    path = out / "run.json"
    if not path.exists():
        write_json(path, {"format": RUN_FORMAT, "version": 1, "signature": settings.signature(),
                          "settings": settings.to_dict(), "sequences": names})  # fmt: skip
        return
    existing = read_json(path)
    if existing.get("signature") != settings.signature():
        old = existing.get("settings", {})
        changed = ", ".join(sorted(k for k, v in settings.to_dict().items() if old.get(k) != v)) or "format"
        raise BenchmarkError(f"{out} holds a run with other settings (differs in: {changed}); choose another --out")


def _record(out: Path, name: str, signature: str) -> SequenceRecord | None:
    """The sequence's record when it exists and was made with the settings of this signature."""
    path = out / "scores" / f"{name}.json"
    data = read_json(path) if path.is_file() else None
    return SequenceRecord(**data) if data is not None and data.get("signature") == signature else None


def _missing(out: Path, names: Sequence[str], signature: str) -> list[str]:
    return [n for n in names if _record(out, n, signature) is None]


def _failure(out: Path, signature: str) -> str | None:
    """The message of a rank that reported a failure for this run, if any."""
    for marker in sorted((out / "parts").glob("rank-*.json")):
        try:
            data = read_json(marker)
        except BenchmarkError:
            continue  # removed meanwhile by a rank starting again
        if data.get("signature") == signature and data.get("status") == "failed":
            return str(data.get("error"))
    return None
