"""``python -m rgmp segment-batch``: listing clips (folders, manifests), one bad clip reported while the others are
done, nothing half-published, resuming, and the clips shared between the ranks of ``torchrun`` (gloo, on CPU)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rgmp.batch import BatchError, ClipReport, clips_in_folder, read_manifest, summary_table
from rgmp.cli import main
from rgmp.io.masks import read_mask, write_mask

pytestmark = pytest.mark.usefixtures("one_torch_thread")

REPO = Path(__file__).resolve().parents[1]
H, W = 48, 64


def write_clip(frames: Path, count: int, masks: Path | None = None, seed: int = 0) -> np.ndarray:
    """``count`` JPEG frames of a square drifting right; ground-truth label maps of every frame into ``masks``
    (when given); returns the label map of frame 0."""
    rng = np.random.default_rng(seed)
    frames.mkdir(parents=True)
    first = None
    for t in range(count):
        frame = (rng.random((H, W, 3)) * 50).astype(np.uint8)
        labels = np.zeros((H, W), np.uint8)
        left = 8 + (t % 20)
        frame[12:36, left : left + 20] = (220, 180, 40)
        labels[12:36, left : left + 20] = 1
        Image.fromarray(frame).save(frames / f"{t:05d}.jpg", quality=90)
        if masks is not None:
            write_mask(masks / f"{t:05d}.png", labels)
        first = labels if first is None else first
    return first


def davis_root(root: Path) -> Path:
    """A DAVIS-layout folder: clips ``a`` and ``b`` (4 frames, every frame annotated) and ``c``, whose third frame
    is not an image (it fails in the middle of the clip)."""
    for name in ("a", "b", "c"):
        write_clip(root / "JPEGImages" / "480p" / name, 4, root / "Annotations" / "480p" / name, seed=ord(name))
    (root / "JPEGImages" / "480p" / "c" / "00002.jpg").write_bytes(b"not a JPEG")
    return root


def batch(*args: str) -> int:
    return main(["segment-batch", "--device", "cpu", "--size", "0", "--adapt", "off", "--no-progress", *args])


def published(out: Path) -> dict[str, list[str]]:
    """Clip folder → its PNG names; hidden (staging) folders included, to catch half-published clips."""
    return {p.name: sorted(f.name for f in p.glob("*.png")) for p in out.iterdir() if p.is_dir()}


def test_folder_of_davis_clips_one_corrupt_then_evaluate_and_resume(tmp_path, weights, capsys):
    root, out = davis_root(tmp_path / "davis"), tmp_path / "results"
    assert batch("--folder", str(root), "--out", str(out), "--weights", str(weights), "--format", "png,coco") == 2
    captured = capsys.readouterr()
    assert "| a | done | 4 |" in captured.out and "| b | done | 4 |" in captured.out
    assert "| c | failed | 0 |" in captured.out and "cannot read frame image" in captured.out
    assert "3 clips: 2 done, 0 skipped, 1 failed; 8 frames" in captured.out
    assert captured.err.strip().splitlines()[-1].startswith("error: 1 of 3 clips failed")
    expected = [f"{t:05d}.png" for t in range(4)]
    assert published(out) == {"a": expected, "b": expected}  # c: nothing, not even its staging folder
    assert (out / "a" / "coco.json").is_file()
    np.testing.assert_array_equal(read_mask(out / "a" / "00000.png"), read_mask(root / "Annotations/480p/a/00000.png"))

    # The layout is what `evaluate` reads.
    assert main(["evaluate", "--results", str(out), "--davis", str(root), "--sequences", "a,b"]) == 0
    assert "J&F-Mean" in capsys.readouterr().out

    # Run again: the finished clips are skipped (their files untouched), the bad one is tried again.
    before = {p: p.stat().st_mtime_ns for p in out.glob("[ab]/*.png")}
    assert batch("--folder", str(root), "--out", str(out), "--weights", str(weights)) == 2
    rerun = capsys.readouterr().out
    assert "| a | skipped |" in rerun and "| b | skipped |" in rerun and "| c | failed |" in rerun
    assert {p: p.stat().st_mtime_ns for p in out.glob("[ab]/*.png")} == before


def test_manifest_rows_paths_and_errors(tmp_path):
    manifest = tmp_path / "lists" / "clips.csv"
    manifest.parent.mkdir()
    manifest.write_text("video,mask,frame,output\n../v/x.mp4,../m/x.png,,\nframes/y,y.png,3,sets/y2\n")
    jobs = read_manifest(manifest, tmp_path / "out")
    assert [(j.name, j.video, j.mask, j.frame, j.output) for j in jobs] == [
        ("x", manifest.parent / "../v/x.mp4", manifest.parent / "../m/x.png", 0, tmp_path / "out" / "x"),
        ("sets/y2", manifest.parent / "frames/y", manifest.parent / "y.png", 3, tmp_path / "out" / "sets" / "y2"),
    ]
    (tmp_path / "short.csv").write_text("video,mask\nclip.mp4,clip.png\n")
    assert read_manifest(tmp_path / "short.csv", tmp_path)[0].frame == 0
    bad = {
        "video,frames\nx.mp4,x.png\n": "the header must name the columns",
        "video,mask,frame\nx.mp4,x.png,-1\n": "line 2: frame must be a number",
        "video,mask\nx.mp4,\n": "line 2: video and mask are required",
        "video,mask\na/x.mp4,x.png\nb/x.mp4,y.png\n": "line 3: output x is also line 2's",
        "video,mask\n": "lists no clips",
    }
    for text, message in bad.items():
        (tmp_path / "bad.csv").write_text(text)
        with pytest.raises(BatchError, match=message):
            read_manifest(tmp_path / "bad.csv", tmp_path / "out")
    with pytest.raises(BatchError, match="manifest not found"):
        read_manifest(tmp_path / "none.csv", tmp_path)


def test_folder_layouts_and_clips_that_cannot_be_listed(tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    for name in ("b.mp4", "a.mov", "a.png", "notes.txt"):
        (videos / name).touch()
    jobs = clips_in_folder(videos, tmp_path / "out")
    assert [(j.name, j.mask.name, j.frame, j.problem) for j in jobs] == [
        ("a", "a.png", 0, None),
        ("b", "b.png", 0, "no mask b.png beside b.mp4"),
    ]
    youtube = tmp_path / "ytvos"  # YouTube-VOS: no resolution folder; the first annotation may be a later frame
    write_clip(youtube / "JPEGImages" / "late", 3)
    (youtube / "Annotations" / "late").mkdir(parents=True)
    write_mask(youtube / "Annotations" / "late" / "00001.png", np.ones((H, W), np.uint8))
    write_clip(youtube / "JPEGImages" / "unannotated", 2)
    jobs = clips_in_folder(youtube, tmp_path / "out")
    assert [(j.name, j.frame, j.problem) for j in jobs] == [
        ("late", 1, None),
        ("unannotated", 0, f"no annotation PNG in {youtube / 'Annotations' / 'unannotated'}"),
    ]
    (tmp_path / "empty").mkdir()
    with pytest.raises(BatchError, match="no clips in"):
        clips_in_folder(tmp_path / "empty", tmp_path / "out")


def test_summary_table_counts_and_keeps_reasons_on_one_row():
    table = summary_table(
        [ClipReport("a", "done", 10, 2.0), ClipReport("b", "skipped"), ClipReport("c", "failed", reason="x | y")]
    )
    assert "| a | done | 10 | 2.0 | 5.0 |  |" in table and "| c | failed | 0 | 0.0 |  | x / y |" in table
    assert table.splitlines()[-1] == "3 clips: 1 done, 1 skipped, 1 failed; 10 frames in 2.0 s"


def torchrun(manifest: Path, out: Path, weights: Path) -> subprocess.Popen:
    """``torchrun --nproc-per-node 2 -m rgmp segment-batch ...``."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    command += ["-m", "rgmp", "segment-batch", "--manifest", str(manifest), "--out", str(out)]
    command += ["--weights", str(weights), "--device", "cpu", "--size", "0", "--adapt", "off"]
    return subprocess.Popen(
        command,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def test_torchrun_shares_the_clips_survives_a_kill_and_resumes(tmp_path, weights):
    """Three clips under two ranks: ``long`` (rank 0) and ``short`` + a corrupt video (rank 1, by size). The first
    run is killed as soon as ``short`` is published, while ``long`` is being segmented; the second finishes."""
    clips = tmp_path / "clips"
    write_mask(clips / "long.png", write_clip(clips / "long", 240))
    write_mask(clips / "short.png", write_clip(clips / "short", 3, seed=1))
    (clips / "corrupt.mp4").write_bytes(os.urandom(2048))
    manifest = clips / "clips.csv"
    manifest.write_text("video,mask\nlong,long.png\nshort,short.png\ncorrupt.mp4,short.png\n")
    out = tmp_path / "out"

    first = torchrun(manifest, out, weights)
    deadline = time.monotonic() + 120
    while not (out / "short").exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    first.send_signal(signal.SIGTERM)  # torchrun passes it to its workers, which die without cleaning up
    first.communicate(timeout=60)
    assert (out / "short").is_dir(), "the first run published nothing before it was killed"
    assert not (out / "long").exists(), "long finished before the kill: make it longer"
    assert published(out)["short"] == [f"{t:05d}.png" for t in range(3)]  # a published clip is whole
    assert list(out.glob(".long.partial-*"))  # long was half-written, in its hidden staging folder only

    short_files = {p: p.stat().st_mtime_ns for p in (out / "short").iterdir()}
    second = torchrun(manifest, out, weights)
    stdout, stderr = second.communicate(timeout=300)
    assert second.returncode == 0, stderr[-2000:]  # under torchrun a failed clip is in the table, not the status
    assert "| long | done | 240 |" in stdout and "| short | skipped |" in stdout
    assert "| corrupt | failed | 0 |" in stdout and "corrupt.mp4 is not a readable video" in stdout
    assert stdout.count("| long |") == 1  # rank 0 prints the table once, for both ranks
    assert "warning: 1 of 3 clips failed" in stderr and "Traceback" not in stderr
    assert published(out) == {"long": [f"{t:05d}.png" for t in range(240)], "short": [f"{t:05d}.png" for t in range(3)]}
    assert {p: p.stat().st_mtime_ns for p in (out / "short").iterdir()} == short_files  # skipped, untouched
