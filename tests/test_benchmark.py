"""``benchmark``: datasets read in their native layouts, whole runs scored, sharded ranks gathered, tables, figure.

Every dataset fixture is written by the tests in the layout docs/benchmarks.md describes: a few 48x64 frames of a
bright square drifting over noise, ground truth that follows the square.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import threading
from dataclasses import replace

import numpy as np
import pytest
from conftest import SHARED_DATA, TINY, require, seeded_model
from PIL import Image

from rgmp.bench import BenchmarkError
from rgmp.bench.datasets import num_objects, read_dataset, read_labels, read_object_masks
from rgmp.bench.paper import TABLE1_DAVIS2016
from rgmp.bench.records import RunSettings, RunSummary
from rgmp.bench.tables import report, table1, table3, table4, table5
from rgmp.cli.bench import add_bench_parser, add_benchmark_parser
from rgmp.inference import FrameResult
from rgmp.io.masks import DAVIS_PALETTE
from rgmp.weights import save_checkpoint

H, W = 48, 64


# ----------------------------------------------------------------------------------------------------------------
# fixtures in the native layouts


def scene(t: int, objects: int = 1, seed: int = 0) -> tuple[np.ndarray, list[np.ndarray]]:
    """Frame t and the objects' masks: squares 14 px wide moving right 2 px a frame, 20 px apart."""
    rng = np.random.default_rng(seed + t)
    frame = rng.integers(0, 60, (H, W, 3), dtype=np.uint8)
    masks = []
    for k in range(objects):
        mask = np.zeros((H, W), bool)
        left = 4 + 20 * k + 2 * t
        mask[10 + 6 * k : 30 + 6 * k, left : left + 14] = True
        frame[mask] = (220, 200 - 60 * k, 40 + 80 * k)
        masks.append(mask)
    return frame, masks


def save(path, array, mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(array) if mode is None else Image.fromarray(array, mode)
    if mode == "P":
        image.putpalette(DAVIS_PALETTE)
    image.save(path)


def write_davis2016(root, lengths):
    lines = []
    for name, length in lengths.items():
        for t in range(length):
            frame, (mask,) = scene(t, 1, seed=len(name))
            save(root / "JPEGImages" / "480p" / name / f"{t:05d}.jpg", frame)
            save(root / "Annotations" / "480p" / name / f"{t:05d}.png", mask.astype(np.uint8) * 255)
            lines.append(f"/JPEGImages/480p/{name}/{t:05d}.jpg /Annotations/480p/{name}/{t:05d}.png")
    (root / "ImageSets" / "480p").mkdir(parents=True)
    (root / "ImageSets" / "480p" / "val.txt").write_text("\n".join(lines) + "\n")
    return root


def write_davis2017(root, lengths):
    for name, length in lengths.items():
        for t in range(length):
            frame, masks = scene(t, 2, seed=len(name))
            labels = np.zeros((H, W), np.uint8)
            for k, mask in enumerate(masks, start=1):
                labels[mask] = k
            labels[-3:, :] = 255  # void strip
            save(root / "JPEGImages" / "480p" / name / f"{t:05d}.jpg", frame)
            save(root / "Annotations" / "480p" / name / f"{t:05d}.png", labels, "P")
    (root / "ImageSets" / "2017").mkdir(parents=True)
    (root / "ImageSets" / "2017" / "val.txt").write_text("\n".join(lengths) + "\n")
    return root


def write_segtrack(root, sequences):
    """SegTrack v2: frames named like the originals, masks as BMP (one object) or in GroundTruth/<seq>/<k>/."""
    for name, (length, objects) in sequences.items():
        for t in range(length):
            frame, masks = scene(t, objects, seed=len(name))
            save(root / "JPEGImages" / name / f"{name}_{t:05d}.png", frame)
            for k, mask in enumerate(masks, start=1):
                folder = root / "GroundTruth" / name / (str(k) if objects > 1 else "")
                save(folder / f"{name}_{t:05d}.bmp", mask.astype(np.uint8) * 255)
    (root / "ImageSets").mkdir(parents=True)
    (root / "ImageSets" / "all.txt").write_text("\n".join(f"*{n}" if i else n for i, n in enumerate(sequences)) + "\n")
    return root


def write_jumpcut(root, lengths, annotated_every=1):
    for name, length in lengths.items():
        for t in range(length):
            frame, (mask,) = scene(t, 1, seed=len(name))
            save(root / name / f"{t:05d}.jpg", frame)
            if t % annotated_every == 0:
                save(root / name / "gt" / f"{t:05d}.png", mask.astype(np.uint8) * 255)
    return root


class CopyFirstMask:
    """Stands in for the session: predicts the annotated mask unchanged on every frame, so that every score is
    computable by hand (a 20 x 14 square moving 2 px a frame: IoU with the first frame (14 - 2t) / (14 + 2t))."""

    def propagate(self, frames, mask):
        labels = np.where(mask == 255, 0, mask).astype(np.uint8)
        ids = [int(i) for i in np.unique(labels) if i]
        for index, frame in enumerate(frames):
            yield FrameResult(index, np.zeros((len(ids) + 1, *mask.shape), np.float32), labels, ids, frame)


def j_copy(t):
    return (14 - 2 * t) / (14 + 2 * t)


@pytest.fixture
def copy_session(monkeypatch):
    monkeypatch.setattr("rgmp.cli.bench.make_session", lambda model, device, settings, adapt: CopyFirstMask())


@pytest.fixture(scope="module")
def davis2016(tmp_path_factory):
    return write_davis2016(tmp_path_factory.mktemp("davis2016"), {"alpha": 5, "beta": 4, "gamma": 3})


def benchmark(*argv: str) -> None:
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(required=True)
    add_benchmark_parser(commands)
    add_bench_parser(commands)
    args = parser.parse_args(["benchmark", *argv])
    args.run(args)


def benchmark_parser_default(dataset: str, option: str):
    parser = argparse.ArgumentParser()
    add_benchmark_parser(parser.add_subparsers())
    return vars(parser.parse_args(["benchmark", dataset, "--out", "x"]))[option]


def run_args(dataset, root, out, weights, *extra):
    return [dataset, "--root", str(root), "--out", str(out), "--weights", str(weights), "--size", "0",
            "--device", "cpu", "--no-progress", *extra]  # fmt: skip


# ----------------------------------------------------------------------------------------------------------------
# readers


def test_davis_readers_follow_the_image_sets(tmp_path, davis2016):
    sequences = read_dataset("davis2016", davis2016)
    assert [s.name for s in sequences] == ["alpha", "beta", "gamma"]
    assert len(sequences[0]) == 5 and sequences[0].frames[0].name == "00000.jpg"
    labels = read_labels(sequences[0], 2)
    assert labels.dtype == np.uint8 and set(np.unique(labels)) == {0, 1}  # 0/255 → one object
    assert read_dataset("davis2016", davis2016, sequences=["gamma"])[0].name == "gamma"
    with pytest.raises(BenchmarkError, match="unknown sequence"):
        read_dataset("davis2016", davis2016, sequences=["nope"])
    with pytest.raises(BenchmarkError, match="missing DAVIS image set"):
        read_dataset("davis2016", davis2016, subset="test-dev")

    root = write_davis2017(tmp_path / "d17", {"duo": 4})
    (duo,) = read_dataset("davis2017", root)
    labels = read_labels(duo, 0)
    assert set(np.unique(labels)) == {0, 1, 2, 255} and num_objects(duo) == 2
    masks = read_object_masks(duo, 1)
    assert len(masks) == 2 and masks[1].sum() == 20 * 14


def test_segtrack_reader_pairs_masks_with_frames_by_order(tmp_path):
    root = write_segtrack(tmp_path / "st", {"frog": (4, 1), "penguin": (3, 2)})
    frog, penguin = read_dataset("segtrackv2", root)
    assert (frog.name, penguin.name) == ("frog", "penguin")  # "*penguin" in all.txt
    assert frog.labels[2] == (root / "GroundTruth" / "frog" / "frog_00002.bmp",)
    assert num_objects(penguin) == 2 and set(np.unique(read_labels(penguin, 0))) == {0, 1, 2}
    (root / "GroundTruth" / "frog" / "frog_00003.bmp").unlink()
    with pytest.raises(BenchmarkError, match="4 frames but 3 masks"):
        read_dataset("segtrackv2", root, sequences=["frog"])
    with pytest.raises(BenchmarkError, match="not a SegTrack v2 folder"):
        read_dataset("segtrackv2", tmp_path)


def test_jumpcut_reader_marks_unannotated_frames(tmp_path):
    root = write_jumpcut(tmp_path / "jc", {"bear": 9}, annotated_every=2)
    (bear,) = read_dataset("jumpcut", root)
    assert len(bear) == 9 and bear.labels[1] is None and bear.labels[2] is not None
    with pytest.raises(BenchmarkError, match="has no ground truth"):
        read_labels(bear, 1)
    with pytest.raises(BenchmarkError, match="dataset folder not found"):
        read_dataset("jumpcut", tmp_path / "missing")


# ----------------------------------------------------------------------------------------------------------------
# whole runs


def test_davis2016_scores_are_the_official_ones(tmp_path, davis2016, weights, copy_session):
    out = tmp_path / "run"
    benchmark(*run_args("davis2016", davis2016, out, weights))
    rows = {r["Sequence"]: r for r in csv.DictReader((out / "scores.csv").open())}
    expected = {  # first and last frames are not scored
        "alpha": np.mean([j_copy(1), j_copy(2), j_copy(3)]),
        "beta": np.mean([j_copy(1), j_copy(2)]),
        "gamma": j_copy(1),
    }
    for name, j in expected.items():
        assert float(rows[name]["J-Mean"]) == pytest.approx(j, abs=1e-6)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["metrics"]["J-Mean"] == pytest.approx(np.mean(list(expected.values())), abs=1e-6)
    ours = [line for line in (out / "table.md").read_text().splitlines() if line.startswith("| **RGMP (ours")]
    assert ours[0].split(" | ")[3] == "65.7"  # J Mean in percent, Table 1


def test_davis2016_run_with_the_network_writes_every_output(tmp_path, davis2016, weights):
    out = tmp_path / "run"
    benchmark(*run_args("davis2016", davis2016, out, weights))
    assert sorted(p.name for p in (out / "results").iterdir()) == ["alpha", "beta", "gamma"]
    assert len(list((out / "results" / "alpha").glob("*.png"))) == 5
    rows = list(csv.DictReader((out / "scores.csv").open()))
    assert [(r["Sequence"], r["Object"]) for r in rows] == [("alpha", "1"), ("beta", "1"), ("gamma", "1")]
    summary = RunSummary.from_dict(json.loads((out / "summary.json").read_text()))
    # the global J equals the mean of the objects' J, as in the official table
    assert summary.metrics["J-Mean"] == pytest.approx(np.mean([float(r["J-Mean"]) for r in rows]))
    assert summary.frames == 4 + 3 + 2 and summary.seconds > 0
    sequences = list(csv.DictReader((out / "sequences.csv").open()))
    assert [int(r["Frames"]) for r in sequences] == [4, 3, 2]
    table = (out / "table.md").read_text()
    assert "## Table 1 — DAVIS-2016 validation" in table and "| RGMP |  |  | 81.5 | 82.0 | 0.13 |" in table
    assert "## Table 5 — Ablations" in table and "## Table 6 — Add-ons" in table
    assert (out / "figure.png").stat().st_size > 10_000
    with Image.open(out / "figure.png") as im:
        assert im.format == "PNG" and im.size[0] > 600

    # a second run in the same folder with other settings is refused; the same settings resume (nothing redone)
    with pytest.raises(BenchmarkError, match="other settings .*no_reference"):
        benchmark(*run_args("davis2016", davis2016, out, weights, "--no-ref"))
    before = {p: p.stat().st_mtime_ns for p in (out / "scores").iterdir()}
    benchmark(*run_args("davis2016", davis2016, out, weights))
    assert {p: p.stat().st_mtime_ns for p in (out / "scores").iterdir()} == before


def test_ranks_share_the_sequences_and_rank_0_gathers(tmp_path, davis2016, weights, monkeypatch, copy_session):
    out = tmp_path / "run"
    monkeypatch.setenv("WORLD_SIZE", "2")
    errors = []

    def rank(r):
        try:
            benchmark(*run_args("davis2016", davis2016, out, weights, "--rank", str(r), "--wait", "120"))
        except Exception as err:  # reported below
            errors.append(err)

    zero = threading.Thread(target=rank, args=(0,))
    zero.start()  # rank 0 finishes its share first and waits at the file barrier for rank 1
    rank(1)
    zero.join(timeout=120)
    assert not errors and not zero.is_alive()
    parts = {p.name: json.loads(p.read_text()) for p in (out / "parts").iterdir()}
    shares = [set(parts[f"rank-{r:05d}-of-00002.json"]["sequences"]) for r in (0, 1)]
    assert shares[0] | shares[1] == {"alpha", "beta", "gamma"} and not shares[0] & shares[1]
    assert shares[0] == {"alpha"}  # longest first: alpha (5) to rank 0, beta (4) and gamma (3) to rank 1
    single = tmp_path / "single"
    benchmark(*run_args("davis2016", davis2016, single, weights, "--world-size", "1"))
    assert (out / "scores.csv").read_text() == (single / "scores.csv").read_text()


def test_gather_step_after_separate_jobs_and_missing_sequences(tmp_path, davis2016, weights, copy_session):
    out = tmp_path / "run"
    with pytest.raises(BenchmarkError, match="gave up waiting .* --gather"):
        benchmark(*run_args("davis2016", davis2016, out, weights, "--rank", "0", "--world-size", "2", "--wait", "0"))
    with pytest.raises(BenchmarkError, match="2 of 3 sequences have no scores yet .*: beta, gamma"):
        benchmark("davis2016", "--out", str(out), "--gather")
    benchmark(*run_args("davis2016", davis2016, out, weights, "--rank", "1", "--world-size", "2"))  # a later job
    assert not (out / "summary.json").exists()  # only rank 0 gathers
    benchmark("davis2016", "--out", str(out), "--gather")
    assert [r["Sequence"] for r in csv.DictReader((out / "scores.csv").open())] == ["alpha", "beta", "gamma"]


def addon_rows(table: str) -> list[str]:
    """The first cell of each row of Table 6 (the add-ons), below its header and rule."""
    addons = table[table.index("## Table 6") : table.index("## Runs")].splitlines()
    return [line.split(" | ")[0] for line in addons if line.startswith("| ")][2:]


def test_online_learning_runs_fill_the_add_on_table(tmp_path, davis2016, weights):
    out = tmp_path / "run"
    benchmark(*run_args("davis2016", davis2016, out, weights, "--online-steps", "2", "--sequences", "gamma"))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"]["online_steps"] == 2 and summary["settings"]["online_lr"] == 1e-7
    table = (out / "table.md").read_text()
    ours = [line for line in table.splitlines() if line.startswith("| **+OL (ours")]
    assert len(ours) == 1 and "OL 2 steps lr 1e-07" in ours[0] and ours[0].split(" | ")[1] == "✓"  # Table 1 OL
    assert addon_rows(table) == [
        "| RGMP",
        "| +OL (lite, tiny.pt, scales 1, soft, fp32, cpu, OL 2 steps lr 1e-07, 1 seq.)",
        "| +CRF",
        "| +GRU",
    ]
    assert benchmark_parser_default("davis2016", "online_steps") is None  # off unless asked for


def test_convgru_runs_fill_the_gru_row(tmp_path, davis2016):
    out = tmp_path / "run"
    benchmark("davis2016", "--root", str(davis2016), "--out", str(out), "--random-init", "--convgru", "--size", "0",
              "--device", "cpu", "--no-progress", "--sequences", "gamma")  # fmt: skip
    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"]["memory"] is True and summary["frames"] == 2
    table = (out / "table.md").read_text()
    assert len([line for line in table.splitlines() if line.startswith("| **+GRU (ours: lite, random init")]) == 1
    assert addon_rows(table) == [
        "| RGMP",
        "| +OL",
        "| +CRF",
        "| +GRU (lite, random init, scales 1, soft, fp32, cpu, 1 seq.)",
    ]
    ablations = table[table.index("## Table 5") : table.index("## Table 6")]
    assert "+GRU" not in ablations  # an add-on, not an ablation


def test_weights_with_memory_make_a_gru_run_with_or_without_the_flag(tmp_path, davis2016):
    path = tmp_path / "memory.pt"
    save_checkpoint(path, seeded_model(replace(TINY, memory=True)), {"purpose": "benchmark tests"})
    out = tmp_path / "run"
    benchmark(*run_args("davis2016", davis2016, out, path, "--sequences", "gamma"))
    settings = RunSettings.from_dict(json.loads((out / "run.json").read_text())["settings"])
    assert settings.memory and settings.variant == "+GRU"
    benchmark(*run_args("davis2016", davis2016, out, path, "--sequences", "gamma", "--convgru"))  # the same run


def test_runs_without_memory_keep_their_signature():
    settings = RunSettings(dataset="davis2016", root="/data")
    data = settings.to_dict()
    assert data.pop("memory") is False  # recorded, but left out of the signature: older run folders resume
    assert settings.signature() == hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]
    assert replace(settings, memory=True).signature() != settings.signature()


def test_davis2017_scores_every_object(tmp_path, weights, copy_session):
    root = write_davis2017(tmp_path / "d17", {"duo": 5, "pair": 4})
    out = tmp_path / "run"
    benchmark(*run_args("davis2017", root, out, weights, "--merge", "wta", "--scales", "0.75,1.0"))
    rows = list(csv.DictReader((out / "scores.csv").open()))
    assert [(r["Sequence"], r["Object"]) for r in rows] == [("duo", "1"), ("duo", "2"), ("pair", "1"), ("pair", "2")]
    duo, pair = np.mean([j_copy(1), j_copy(2), j_copy(3)]), np.mean([j_copy(1), j_copy(2)])
    assert [float(r["J-Mean"]) for r in rows] == pytest.approx([duo, duo, pair, pair], abs=1e-6)
    table = (out / "table.md").read_text()
    assert "## Table 2 — DAVIS-2017" in table and "scales 0.75,1, wta" in table
    assert not (out / "figure.png").exists()


def test_segtrack_iou_accumulates_over_the_frames_after_the_first(tmp_path, weights, copy_session):
    root = write_segtrack(tmp_path / "st", {"frog": (4, 1), "penguin": (4, 2)})
    out = tmp_path / "run"
    benchmark(*run_args("segtrackv2", root, out, weights))
    rows = list(csv.DictReader((out / "scores.csv").open()))
    assert [(r["Sequence"], r["Object"]) for r in rows] == [("frog", "1"), ("penguin", "1"), ("penguin", "2")]
    accumulated = (12 + 10 + 8) / (16 + 18 + 20)  # 20-pixel-high squares: the heights cancel
    assert [float(r["IoU"]) for r in rows] == pytest.approx([accumulated] * 3, abs=1e-6)
    frame_mean = np.mean([j_copy(1), j_copy(2), j_copy(3)])
    assert [float(r["IoU-frame-mean"]) for r in rows] == pytest.approx([frame_mean] * 3, abs=1e-6)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["metrics"]["IoU"] == pytest.approx(accumulated, abs=1e-6)
    assert "## Table 3 — SegTrack v2" in (out / "table.md").read_text()


def test_segtrack_network_runs_at_the_requested_short_side_default_the_models(tmp_path, weights):
    root = write_segtrack(tmp_path / "st", {"frog": (3, 1)})
    out = tmp_path / "run"
    benchmark(*run_args("segtrackv2", root, out, weights, "--size", "32"))  # the last --size wins
    with Image.open(out / "results" / "frog" / "frog_00001.png") as im:
        assert im.size == (W, H)  # processed at 32 px, written at the frames' size
    assert json.loads((out / "summary.json").read_text())["settings"]["size"] == 32
    assert benchmark_parser_default("segtrackv2", "size") is None  # the model's (config.default_size)


def test_jumpcut_transfers_from_key_frames(tmp_path, weights, copy_session):
    root = write_jumpcut(tmp_path / "jc", {"bear": 11, "cat": 7})
    out = tmp_path / "run"
    benchmark(*run_args("jumpcut", root, out, weights, "--keys", "0,4,8", "--distances", "2,4"))
    rows = list(csv.DictReader((out / "scores.csv").open()))
    transfers = [(r["Sequence"], int(r["Key"]), int(r["d"])) for r in rows]
    # bear: keys 0, 4 (8 + 2 = 10 fits, 8 + 4 does not); cat (7 frames): key 0 and 4 + 2
    assert transfers == [
        ("bear", 0, 2), ("bear", 0, 4), ("bear", 4, 2), ("bear", 4, 4), ("bear", 8, 2),
        ("cat", 0, 2), ("cat", 0, 4), ("cat", 4, 2),
    ]  # fmt: skip
    assert (out / "results" / "bear" / "from_00004" / "00008.png").is_file()
    # the mask copied from the key frame is 2d px off: 2 strips of 20 x 2d wrong, over a 20 x 14 object
    assert [float(r["Error"]) for r in rows] == pytest.approx([4 * int(r["d"]) / 14 for r in rows], abs=1e-6)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["metrics"] == pytest.approx({"d=2": 8 / 14, "d=4": 16 / 14})
    assert "| Method | d=8 | d=16 | d=32 | d=2 | d=4 |" in (out / "table.md").read_text()


def test_bad_input_is_one_clear_error(tmp_path, davis2016, weights, copy_session):
    out = str(tmp_path / "run")
    with pytest.raises(BenchmarkError, match="--online-steps must be >= 0"):
        benchmark(*run_args("davis2016", davis2016, out, weights, "--online-steps", "-1"))
    with pytest.raises(BenchmarkError, match="--convgru needs weights with the visual memory.*python -m train memory"):
        benchmark(*run_args("davis2016", davis2016, out, weights, "--convgru"))
    with pytest.raises(BenchmarkError, match="--root is required"):
        benchmark("davis2016", "--out", out)
    with pytest.raises(BenchmarkError, match="either --weights or --random-init"):
        benchmark(*run_args("davis2016", davis2016, out, weights, "--random-init"))
    with pytest.raises(BenchmarkError, match="missing file .*run.json"):
        benchmark("davis2016", "--out", out, "--gather")
    short = write_jumpcut(tmp_path / "jc", {"tiny": 3})
    with pytest.raises(BenchmarkError, match="no transfer fits"):
        benchmark(*run_args("jumpcut", short, tmp_path / "jrun", weights))
    failed = json.loads((tmp_path / "jrun" / "parts" / "rank-00000-of-00001.json").read_text())
    assert failed["status"] == "failed" and "tiny" in failed["error"]


# ----------------------------------------------------------------------------------------------------------------
# tables and the report


def summary(dataset="davis2016", j=0.7, f=0.75, seconds=2.0, **settings) -> RunSummary:
    metrics = {"J&F-Mean": (j + f) / 2, "J-Mean": j, "J-Recall": 0.8, "J-Decay": 0.1, "F-Mean": f}
    if dataset == "jumpcut":
        metrics = {"d=8": 0.05, "d=16": 0.07, "d=32": 0.1}
    return RunSummary(RunSettings(dataset=dataset, root="/data", **settings), metrics, 3, 20, seconds)


def test_table1_lists_the_paper_methods_then_our_runs():
    text = table1([summary(), summary(no_reference=True), summary(online_steps=1000)])
    lines = text.splitlines()
    assert lines[2] == "| Method | OL | PP | J Mean | F Mean | Time (s/frame) |"
    assert lines[3] == "| --- | --- | --- | ---: | ---: | ---: |"
    assert lines[4] == "| OnAVOS | ✓ | ✓ | 86.1 | 84.9 | 13 † |"  # J, F checked (DAVIS results); time recalled
    assert lines[4 + len(TABLE1_DAVIS2016) - 1] == "| RGMP |  |  | 81.5 | 82.0 | 0.13 |"
    ours = lines[4 + len(TABLE1_DAVIS2016) :]
    assert ours == [
        "| **RGMP (ours: lite, random init, scales 1, soft, fp32, cpu)** ‡ |  |  | 70.0 | 75.0 | 0.1 |",
        "| **−Ref (ours: lite, random init, scales 1, soft, fp32, cpu)** ‡ |  |  | 70.0 | 75.0 | 0.1 |",
        "| **+OL (ours: lite, random init, scales 1, soft, fp32, cpu, OL 1000 steps lr 1e-07)** ‡ | ✓ |  | 70.0 | 75.0 "
        "| 0.1 |",
    ]


def test_table5_puts_paper_and_ours_side_by_side():
    lines = table5([summary(j=0.6, no_reference=True), summary(j=0.65, no_reference=True, no_previous=True)])
    rows = lines.splitlines()[4:]
    assert rows[0] == "| RGMP | 81.5 | – | 82.0 | – |  |"
    assert rows[1].startswith("| −Ref | 68.3 | 60.0 | – | 75.0 | lite, random init")
    assert rows[2] == "| −Prev | 73.5 | – | – | – |  |"
    assert rows[3].startswith("| −Ref −Prev | – | 65.0 | – | 75.0 |")


def test_only_recalled_paper_numbers_carry_the_dagger():
    text = table1([]) + table3([]) + table5([])
    assert "| PLM | ✓ |  | 70.2 | 62.5 | 0.3 † |" in text  # corrected from the DAVIS benchmark's results
    assert "| RGMP | 81.5 | – | 82.0 | – |  |" in text  # Table 5, checked
    assert "| RGMP | 71.1 † | – | – |" in text  # Table 3, recalled
    assert all(row.recalled in ((), ("seconds",)) for row in TABLE1_DAVIS2016)


def test_table4_shows_errors_in_percent():
    lines = table4([summary("jumpcut", weights="/w/starter.pt")]).splitlines()
    assert lines[2] == "| Method | d=8 | d=16 | d=32 |"
    assert lines[4] == "| RGMP | – | – | – |"
    assert lines[5] == "| **RGMP (ours: lite, starter.pt, scales 1, soft, fp32, cpu)** | 5.0 | 7.0 | 10.0 |"


def test_report_combines_runs_with_footnotes_and_figure(tmp_path):
    text = report([summary(), summary("jumpcut")])
    assert text.index("Table 1") < text.index("Table 5") < text.index("Table 4") < text.index("Runs and their")
    assert "† recalled" in text and "‡ random weights" in text and "Table 2" not in text
    runs = []
    for i, s in enumerate([summary(), summary(j=0.5, no_previous=True), summary("jumpcut")]):
        folder = tmp_path / f"run{i}"
        folder.mkdir()
        (folder / "summary.json").write_text(json.dumps(s.to_dict()))
        runs.append(str(folder))
    benchmark("report", "--runs", *runs, "--out", str(tmp_path / "report"))
    tables = (tmp_path / "report" / "tables.md").read_text()
    assert "| −Prev | 73.5 | 50.0 |" in tables
    assert len(list(csv.DictReader((tmp_path / "report" / "summary.csv").open()))) == 3
    assert (tmp_path / "report" / "figure.png").stat().st_size > 10_000


# ----------------------------------------------------------------------------------------------------------------
# the shared DAVIS-2016 training data, read where it lies


def test_real_davis2016_sequence_runs_in_native_layout(tmp_path, weights):
    root = require(SHARED_DATA / "DAVIS2016-train")
    out = tmp_path / "run"
    benchmark(
        *run_args("davis2016", root, out, weights, "--set", "train", "--sequences", "dog-agility", "--size", "64")
    )
    rows = list(csv.DictReader((out / "scores.csv").open()))
    assert [r["Sequence"] for r in rows] == ["dog-agility"]
    assert 0.0 <= float(rows[0]["J-Mean"]) <= 1.0
    with Image.open(out / "results" / "dog-agility" / "00010.png") as im:
        assert im.size == (854, 480)
    assert (out / "figure.png").is_file()
    assert "cpu, 64px, train set, 1 seq.)**" in (out / "table.md").read_text()
    assert os.path.commonpath([out, root]) != str(root)  # nothing written into the dataset
