"""Segmenting a whole dataset with the streaming session, scoring it, sharded over ranks, and gathering.

One call of :func:`run_share` per process: it segments this rank's share of the sequences (skipping those that
already have a score record with the same settings, so an interrupted run resumes), writes one record per sequence,
and on rank 0 waits for every record (a file barrier) and calls :func:`gather`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from tqdm import tqdm

from rgmp.bench import BenchmarkError
from rgmp.bench.datasets import Sequence as Clip
from rgmp.bench.datasets import read_dataset, read_frame, read_labels, read_object_masks
from rgmp.bench.figure import speed_accuracy_figure
from rgmp.bench.measures import frame_mean_iou, intersection_union, jumpcut_error, segtrack_iou
from rgmp.bench.records import (
    DAVIS_ROW_COLUMNS,
    RUN_FORMAT,
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


def read_sequences(settings: RunSettings) -> list[Clip]:
    """The run's sequences, read from the dataset folder."""
    return read_dataset(
        settings.dataset, settings.root, subset=settings.subset, sequences=settings.sequences,  # type: ignore[arg-type]
        resolution=settings.resolution,
    )  # fmt: skip


def claim_folder(out: Path, settings: RunSettings, sequences: Sequence[Clip]) -> None:
    """Write ``out/run.json``, or check that the one there describes the same run.

    Raises:
        BenchmarkError: ``out`` holds a run with other settings.
    """
    path = out / "run.json"
    if path.exists():
        existing = read_json(path)
        if existing.get("signature") != settings.signature():
            old = existing.get("settings", {})
            changed = sorted(k for k, v in settings.to_dict().items() if old.get(k) != v)
            raise BenchmarkError(
                f"{out} holds a run with other settings (differs in: {', '.join(changed) or 'format'}); "
                "choose another --out"
            )
        return
    names = [s.name for s in sequences]
    write_json(path, {"format": RUN_FORMAT, "version": 1, "signature": settings.signature(),
                      "settings": settings.to_dict(), "sequences": names})  # fmt: skip


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
    """Segment and score this rank's share of the run; rank 0 then gathers everything.

    Args:
        settings: the run (its ``device`` and ``precision`` must match the session's).
        out: run folder, shared by all ranks (a network file system across machines).
        session: the inference session (model, device, options) of this process.
        rank, world: this process and the number of processes.
        wait: seconds rank 0 waits for the other ranks' records.
        poll: seconds between checks while waiting.
        progress: show a progress bar over this rank's sequences.

    Returns:
        The run's summary on rank 0 (None on the other ranks).
    """
    sequences = read_sequences(settings)
    claim_folder(out, settings, sequences)
    mine = [sequences[i] for i in shard([len(s) for s in sequences], rank, world)]
    marker = out / "parts" / f"rank-{rank:05d}-of-{world:05d}.json"
    marker.unlink(missing_ok=True)
    done: list[str] = []
    for sequence in tqdm(mine, desc=f"rank {rank}/{world}", unit="seq", disable=not progress):
        if _load_record(out, sequence.name, settings) is None:
            try:
                record = score_sequence(settings, sequence, session, out)
            except Exception as err:
                message = f"rank {rank} failed on {sequence.name}: {' '.join(str(err).split())}"
                write_json(marker, {"signature": settings.signature(), "status": "failed", "error": message})
                raise
            write_json(_record_path(out, sequence.name), record.to_dict())
        done.append(sequence.name)
    write_json(marker, {"signature": settings.signature(), "status": "done", "sequences": done})
    if rank != 0:
        return None
    names = [s.name for s in sequences]
    wait_until(
        lambda: not _missing(out, names, settings), timeout=wait, poll=poll, failed=lambda: _failure(out, settings)
    )
    return gather(out)


def wait_until(
    ready: Callable[[], bool], *, timeout: float, poll: float = 2.0, failed: Callable[[], str | None] = lambda: None
) -> None:
    """Block until ``ready()`` is true: the file barrier of the ranks' score files.

    Args:
        ready: checks whether everything awaited is there.
        timeout: seconds to wait at most.
        poll: seconds between checks.
        failed: returns a message when waiting is pointless (another rank reported a failure), else None.

    Raises:
        BenchmarkError: on timeout or when ``failed()`` returns a message.
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
    """Combine the score records of a run folder into ``scores.csv``, ``sequences.csv``, ``summary.json``,
    ``summary.csv``, ``table.md`` and (DAVIS-2016) ``figure.png``.

    Raises:
        BenchmarkError: no ``run.json``, or sequences without a record (named in the message).
    """
    run = read_json(out / "run.json")
    if run.get("format") != RUN_FORMAT:
        raise BenchmarkError(f"{out / 'run.json'} is not a benchmark run description")
    settings = RunSettings.from_dict(run["settings"])
    names: list[str] = run["sequences"]
    missing = _missing(out, names, settings)
    if missing:
        shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise BenchmarkError(
            f"{len(missing)} of {len(names)} sequences have no scores yet in {out / 'scores'}: {shown}"
        )
    records = [r for r in (_load_record(out, name, settings) for name in names) if r is not None]
    summary = summarize(settings, records)
    write_text_atomic(out / "scores.csv", score_csv(settings, records))
    write_text_atomic(out / "sequences.csv", sequence_csv(records))
    write_json(out / "summary.json", summary.to_dict())
    write_text_atomic(out / "summary.csv", summary_csv([summary]))
    write_text_atomic(out / "table.md", report([summary]))
    if settings.dataset == "davis2016":
        speed_accuracy_figure([summary], out / "figure.png")
    return summary


def write_report(run_dirs: Sequence[Path], out: Path) -> list[RunSummary]:
    """Combine several gathered runs (e.g. RGMP, −Ref, −Prev, other scales) into one set of tables and figure.

    Writes ``out/tables.md``, ``out/summary.csv`` and, when a DAVIS-2016 run is among them, ``out/figure.png``.
    """
    summaries = [RunSummary.from_dict(read_json(Path(d) / "summary.json")) for d in run_dirs]
    if not summaries:
        raise BenchmarkError("no runs to report: give --runs with at least one gathered run folder")
    write_text_atomic(out / "tables.md", report(summaries))
    write_text_atomic(out / "summary.csv", summary_csv(summaries))
    if any(s.settings.dataset == "davis2016" for s in summaries):
        speed_accuracy_figure(summaries, out / "figure.png")
    return summaries


# ----------------------------------------------------------------------------------------------------------------
# one sequence


def score_sequence(settings: RunSettings, sequence: Clip, session: Session, out: Path) -> SequenceRecord:
    """Segment one sequence as its dataset's protocol says, write its masks under ``out/results``, score it."""
    if settings.dataset in ("davis2016", "davis2017"):
        return _davis(settings, sequence, session, out)
    if settings.dataset == "segtrackv2":
        return _segtrack(settings, sequence, session, out)
    return _jumpcut(settings, sequence, session, out)


def _timed(session: Session, frames: Sequence[Path], mask) -> Iterator[tuple[FrameResult, float]]:
    """The session's results, each with the seconds it took (frame reading included)."""
    results = session.propagate((read_frame(p) for p in frames), mask)
    while True:
        start = time.perf_counter()
        try:
            result = next(results)
        except StopIteration:
            return
        yield result, time.perf_counter() - start


def _davis(settings: RunSettings, sequence: Clip, session: Session, out: Path) -> SequenceRecord:
    folder = out / "results" / sequence.name
    seconds = 0.0
    for result, elapsed in _timed(session, sequence.frames, read_labels(sequence, 0)):
        seconds += elapsed
        write_mask(folder / f"{sequence.frames[result.index].stem}.png", result.labels)
    evaluation = evaluate_davis(
        out / "results",
        settings.root,
        year=settings.dataset.removeprefix("davis"),
        subset=settings.subset,
        sequences=[sequence.name],
        resolution=settings.resolution,
        progress=False,
    )
    rows = [
        {"object": o.object_id, **dict(zip(DAVIS_ROW_COLUMNS, (o.j_mean, o.j_recall, o.j_decay, o.f_mean,
                                                               o.f_recall, o.f_decay), strict=True))}
        for o in evaluation.objects
    ]  # fmt: skip
    return SequenceRecord(sequence.name, len(sequence) - 1, seconds, rows, settings.signature())


def _segtrack(settings: RunSettings, sequence: Clip, session: Session, out: Path) -> SequenceRecord:
    """Every frame after the first is scored, each object on its own ground-truth mask file."""
    folder = out / "results" / sequence.name
    num_objects = len(sequence.labels[0] or ())
    intersections: list[list[int]] = [[] for _ in range(num_objects)]
    unions: list[list[int]] = [[] for _ in range(num_objects)]
    seconds = 0.0
    for result, elapsed in _timed(session, sequence.frames, read_labels(sequence, 0)):
        seconds += elapsed
        if result.index == 0:
            continue
        write_mask(folder / f"{sequence.frames[result.index].stem}.png", result.labels)
        for k, mask in enumerate(read_object_masks(sequence, result.index)):
            i, u = intersection_union(mask, result.labels == k + 1)
            intersections[k].append(i)
            unions[k].append(u)
    rows = [
        {"object": k + 1, "IoU": segtrack_iou(intersections[k], unions[k]),
         "IoU-frame-mean": frame_mean_iou(intersections[k], unions[k])}
        for k in range(num_objects)
    ]  # fmt: skip
    return SequenceRecord(sequence.name, len(sequence) - 1, seconds, rows, settings.signature())


def _jumpcut(settings: RunSettings, sequence: Clip, session: Session, out: Path) -> SequenceRecord:
    """From each key frame, propagate its ground truth; score the frames ``key + d`` (the ends of the transfers).

    One propagation to the farthest end serves every d: the session is causal and deterministic, so its output
    ``d`` frames after the key is the output a propagation of exactly ``d`` frames ends with.
    """
    rows: list[dict[str, float]] = []
    seconds, frames = 0.0, 0
    last_index = len(sequence) - 1
    for key in settings.keys:
        if key >= last_index or sequence.labels[key] is None:
            continue
        ends = {
            key + d: d for d in settings.distances if key + d <= last_index and sequence.labels[key + d] is not None
        }
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
    return SequenceRecord(sequence.name, frames, seconds, rows, settings.signature())


# ----------------------------------------------------------------------------------------------------------------
# records on disk


def _record_path(out: Path, name: str) -> Path:
    return out / "scores" / f"{name}.json"


def _load_record(out: Path, name: str, settings: RunSettings) -> SequenceRecord | None:
    """The sequence's record when it exists and was made with these settings."""
    path = _record_path(out, name)
    if not path.is_file():
        return None
    data = read_json(path)
    if data.get("signature") != settings.signature():
        return None
    return SequenceRecord(**data)


def _missing(out: Path, names: Sequence[str], settings: RunSettings) -> list[str]:
    return [n for n in names if _load_record(out, n, settings) is None]


def _failure(out: Path, settings: RunSettings) -> str | None:
    """The message of a rank that reported a failure for this run, if any."""
    for marker in sorted((out / "parts").glob("rank-*.json")):
        try:
            data = read_json(marker)
        except BenchmarkError:
            continue  # being written
        if data.get("signature") == settings.signature() and data.get("status") == "failed":
            return str(data.get("error"))
    return None
