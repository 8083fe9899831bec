"""Many clips in one run (``python -m rgmp segment-batch``): resumable, shared between the ranks of ``torchrun``.

Each clip is segmented into a hidden staging folder beside its output folder and moved into place, whole, when
it is done; an output folder that exists is a finished clip and is skipped, so a stopped run resumes, and the
staging folder a killed run left is removed before its clip is done again. The results form the DAVIS /
YouTube-VOS results layout, ``<out>/<clip>/<frame>.png``, which ``python -m rgmp evaluate`` reads. A clip that
fails is reported with its one-line reason; the others go on.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tqdm import tqdm

from rgmp.device import local_device
from rgmp.distributed import gather_to_first, process_group, shard
from rgmp.errors import InputError
from rgmp.inference import Session, SessionOptions
from rgmp.inference.network import Precision
from rgmp.io.files import remove_stale_staging, staged_folder
from rgmp.io.masks import read_mask
from rgmp.io.pipeline import Priority
from rgmp.io.video import VIDEO_EXTENSIONS, list_frame_folder
from rgmp.model import RGMP
from rgmp.segment import ClipSource, open_source, segment_into

MANIFEST_COLUMNS = ("video", "mask", "frame", "output")
"""A manifest's columns; ``frame`` (the annotated frame, default 0) and ``output`` (default: the video's stem)
may be left out."""


class BatchError(InputError):
    """A folder or manifest that lists no clips, or lists them wrongly. The message is one line."""


@dataclass(frozen=True)
class ClipJob:
    """One clip to segment.

    Attributes:
        name: how the summary names it (its output folder, relative to the results folder).
        video: the video file or frame folder.
        mask: the label map of the annotated frame.
        frame: the annotated frame's index.
        output: the clip's output folder.
        problem: why the clip cannot be segmented, found while listing it (reported as its failure).
    """

    name: str
    video: Path
    mask: Path
    frame: int
    output: Path
    problem: str | None = None


@dataclass(frozen=True)
class ClipReport:
    """What became of one clip: "done", "skipped" (its output folder was there) or "failed" (with the reason)."""

    name: str
    status: Literal["done", "skipped", "failed"]
    frames: int = 0
    seconds: float = 0.0
    reason: str = ""


# --------------------------------------------------------------------------------------------------------------
# Listing the clips


def clips_in_folder(folder: Path, out: Path) -> list[ClipJob]:
    """The clips of a folder, in name order, each with its output folder ``<out>/<clip>``.

    Two layouts: DAVIS / YouTube-VOS (``JPEGImages[/480p]/<clip>/`` frames, ``Annotations[/480p]/<clip>/`` label
    maps: the first one is the annotated frame), or videos each beside a ``<stem>.png`` label map of its frame 0.

    Raises:
        BatchError: no such folder, or no clip in it.
    """
    if not folder.is_dir():
        raise BatchError(f"clip folder not found: {folder}")
    frames_root, masks_root = folder / "JPEGImages", folder / "Annotations"
    if frames_root.is_dir():
        if (frames_root / "480p").is_dir():
            frames_root, masks_root = frames_root / "480p", masks_root / "480p"
        jobs = [
            _annotated_clip(clip, masks_root / clip.name, out / clip.name)
            for clip in sorted(p for p in frames_root.iterdir() if p.is_dir() and not p.name.startswith("."))
        ]
    else:
        videos = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)
        jobs = [
            ClipJob(
                video.stem,
                video,
                video.with_suffix(".png"),
                0,
                out / video.stem,
                None if video.with_suffix(".png").is_file() else f"no mask {video.stem}.png beside {video.name}",
            )
            for video in videos
            if not video.name.startswith(".")
        ]
    if not jobs:
        raise BatchError(
            f"no clips in {folder}: expected JPEGImages/ and Annotations/ (DAVIS, YouTube-VOS), or videos "
            f"({', '.join(VIDEO_EXTENSIONS)}) each with a <stem>.png mask"
        )
    return jobs


def _annotated_clip(frames: Path, masks: Path, output: Path) -> ClipJob:
    """A DAVIS / YouTube-VOS clip: its first annotation is the annotated frame."""
    pngs = sorted(masks.glob("*.png")) if masks.is_dir() else []
    if not pngs:
        return ClipJob(frames.name, frames, masks, 0, output, f"no annotation PNG in {masks}")
    try:
        stems = [p.stem for p in list_frame_folder(frames)]
    except ValueError as err:
        return ClipJob(frames.name, frames, pngs[0], 0, output, str(err))
    if pngs[0].stem not in stems:
        return ClipJob(frames.name, frames, pngs[0], 0, output, f"annotation {pngs[0].name} matches no frame")
    return ClipJob(frames.name, frames, pngs[0], stems.index(pngs[0].stem), output)


def read_manifest(path: Path, out: Path) -> list[ClipJob]:
    """The clips of a CSV manifest with a header row (:data:`MANIFEST_COLUMNS`).

    ``video`` (a video file or a frame folder) and ``mask`` are relative to the manifest's folder, ``output`` to
    ``out``.

    Raises:
        BatchError: a missing file or column, a frame that is not a number >= 0, two clips with one output, or no
            clip.
    """
    if not path.is_file():
        raise BatchError(f"manifest not found: {path}")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = [name.strip() for name in reader.fieldnames or []]
        missing = [name for name in ("video", "mask") if name not in header]
        unknown = [name for name in header if name not in MANIFEST_COLUMNS]
        if missing or unknown:
            raise BatchError(
                f"{path.name}: the header must name the columns {', '.join(MANIFEST_COLUMNS)} (frame and output "
                f"optional); got {', '.join(header) or 'nothing'}"
            )
        reader.fieldnames = header
        jobs, outputs = [], {}
        for line, row in enumerate(reader, start=2):
            video, mask = (row.get("video") or "").strip(), (row.get("mask") or "").strip()
            if not video or not mask:
                raise BatchError(f"{path.name}, line {line}: video and mask are required")
            frame = (row.get("frame") or "0").strip()
            if not frame.isdigit():
                raise BatchError(f"{path.name}, line {line}: frame must be a number >= 0, got {frame!r}")
            name = (row.get("output") or "").strip() or Path(video).stem
            output = out / name
            if output.resolve() in outputs:
                raise BatchError(f"{path.name}, line {line}: output {name} is also line {outputs[output.resolve()]}'s")
            outputs[output.resolve()] = line
            jobs.append(ClipJob(name, path.parent / video, path.parent / mask, int(frame), output))
    if not jobs:
        raise BatchError(f"{path.name} lists no clips")
    return jobs


# --------------------------------------------------------------------------------------------------------------
# Segmenting them


@dataclass(frozen=True)
class BatchResult:
    """Every clip's report in the listed order, and the number of processes that made them."""

    reports: list[ClipReport]
    world: int

    @property
    def failed(self) -> int:
        return sum(report.status == "failed" for report in self.reports)


def run_batch(
    jobs: Sequence[ClipJob],
    load_model: Callable[[], RGMP],
    options: SessionOptions,
    *,
    device: str = "auto",
    precision: Precision = "auto",
    formats: Collection[str] = ("png",),
    fps: float = 24.0,
    progress: bool = True,
    priority: Priority = "normal",
) -> BatchResult | None:
    """Segment the clips, shared between the ranks of the ``torchrun`` group (one process without it).

    Args:
        jobs: the clips (:func:`clips_in_folder`, :func:`read_manifest`); every rank lists the same.
        load_model: builds the network (each rank loads its own).
        options: the session's options.
        device: "auto", "cpu", "cuda"... ("cuda" is this process's GPU, ``cuda:$LOCAL_RANK``).
        precision: the autocast dtype, None (float32) or "auto" (the session decides from the model and device).
        formats: mask formats (:data:`rgmp.io.exports.FORMATS`).
        fps: frame rate of frame folders.
        progress: one progress bar per rank over its clips' frames.
        priority: CPU priority of the reading and writing threads (:data:`rgmp.io.pipeline.Priority`).

    Returns:
        On rank 0, every clip's report; None on the other ranks.

    Raises:
        BatchError: an unknown device.
    """
    with process_group() as (rank, world):
        try:
            target = local_device(device)
        except ValueError as err:
            raise BatchError(str(err)) from None
        session = Session(load_model(), target, options, dtype=precision)
        mine = shard([_cost(job) for job in jobs], rank, world)
        reports = segment_jobs(
            [jobs[i] for i in mine],
            session,
            formats=formats,
            fps=fps,
            progress=progress,
            desc="segment-batch" if world == 1 else f"rank {rank}/{world}",
            position=rank,
            priority=priority,
        )
        gathered = gather_to_first(list(zip(mine, reports, strict=True)), world)
    if gathered is None:
        return None
    ordered = sorted((index, report) for share in gathered for index, report in share)
    return BatchResult([report for _, report in ordered], world)


def segment_jobs(
    jobs: Sequence[ClipJob],
    session: Session,
    *,
    formats: Collection[str] = ("png",),
    fps: float = 24.0,
    progress: bool = True,
    desc: str = "segment-batch",
    position: int = 0,
    priority: Priority = "normal",
) -> list[ClipReport]:
    """Segment the clips one after the other, with one progress bar over their frames; returns their reports
    (``priority``: of the reading and writing threads)."""
    reports: dict[int, ClipReport] = {}
    sources: dict[int, ClipSource] = {}
    for index, job in enumerate(jobs):
        if job.output.exists():
            reports[index] = ClipReport(job.name, "skipped", reason="already done: its output folder exists")
        elif job.problem:
            reports[index] = ClipReport(job.name, "failed", reason=job.problem)
        else:
            try:
                sources[index] = open_source(job.video, fps)
            except Exception as err:  # a bad clip is reported, and the others go on
                reports[index] = ClipReport(job.name, "failed", reason=_one_line(err))
    expected = {i: (s.frames - jobs[i].frame if s.frames is not None else 0) for i, s in sources.items()}
    with tqdm(total=sum(expected.values()), unit="frame", desc=desc, disable=not progress, position=position) as bar:
        for count, (index, source) in enumerate(sources.items(), start=1):
            bar.set_postfix_str(f"clip {count}/{len(sources)}: {jobs[index].name}")
            done = [0]

            def step(done: list[int] = done) -> None:
                done[0] += 1
                bar.update()

            report = segment_job(jobs[index], source, session, formats=formats, on_frame=step, priority=priority)
            reports[index] = report
            if done[0] != expected[index]:  # a clip cut short, or of unknown length: the bar's total follows
                bar.total += done[0] - expected[index]
                bar.refresh()
    return [reports[i] for i in range(len(jobs))]


def segment_job(
    job: ClipJob,
    source: ClipSource,
    session: Session,
    *,
    formats: Collection[str] = ("png",),
    on_frame: Callable[[], object] = lambda: None,
    priority: Priority = "normal",
) -> ClipReport:
    """Segment one clip into a staging folder, then move it to ``job.output`` whole; a failure is reported
    (``priority``: of the reading and writing threads)."""
    began = time.perf_counter()
    remove_stale_staging(job.output)  # left by a killed run
    try:
        mask = read_mask(job.mask)
        with staged_folder(job.output) as staging:
            frames = segment_into(session, source, mask, staging, start=job.frame, formats=formats, on_frame=on_frame,
                                  priority=priority)  # fmt: skip
    except Exception as err:  # a bad clip is reported, and the others go on
        return ClipReport(job.name, "failed", seconds=time.perf_counter() - began, reason=_one_line(err))
    return ClipReport(job.name, "done", frames, time.perf_counter() - began)


def summary_table(reports: Sequence[ClipReport]) -> str:
    """A markdown table of the clips (frames, seconds, frames/s, reason) and a total line."""
    lines = ["| clip | status | frames | seconds | frames/s | reason |", "| --- | --- | ---: | ---: | ---: | --- |"]
    for r in reports:
        speed = f"{r.frames / r.seconds:.1f}" if r.status == "done" and r.seconds > 0 else ""
        seconds = f"{r.seconds:.1f}" if r.status != "skipped" else ""
        lines.append(f"| {r.name} | {r.status} | {r.frames} | {seconds} | {speed} | {r.reason.replace('|', '/')} |")
    count = {status: sum(r.status == status for r in reports) for status in ("done", "skipped", "failed")}
    frames, seconds = sum(r.frames for r in reports), sum(r.seconds for r in reports)
    lines.append(
        f"\n{len(reports)} clips: {count['done']} done, {count['skipped']} skipped, {count['failed']} failed; "
        f"{frames} frames in {seconds:.1f} s"
    )
    return "\n".join(lines)


def _cost(job: ClipJob) -> float:
    """How much work a clip is, to share the clips evenly: the bytes of its video or frames."""
    try:
        if job.video.is_dir():
            return float(sum(p.stat().st_size for p in job.video.iterdir() if p.is_file()))
        return float(job.video.stat().st_size)
    except OSError:
        return 0.0


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    if isinstance(err, (InputError, FileNotFoundError)):
        return text or type(err).__name__
    return f"{type(err).__name__}: {text}" if text else type(err).__name__
