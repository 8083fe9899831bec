"""``bench``: the case design, FLOP counts, the yardstick ratios, memory, the JSON records and the table."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import torch

from rgmp.bench import BenchmarkError
from rgmp.bench.memory import PeakMemory
from rgmp.bench.speed import (
    RECORD_KEYS,
    SIZES,
    build_cases,
    count_gflop,
    default_axes,
    parse_size,
    synthetic_clip,
    yardstick_gflop,
)
from rgmp.cli.bench import add_bench_parser
from rgmp.config import LITE, PAPER


def bench(*argv: str) -> None:
    parser = argparse.ArgumentParser()
    add_bench_parser(parser.add_subparsers(required=True))
    args = parser.parse_args(["bench", "--no-progress", *argv])
    args.run(args)


def test_default_design_sweeps_the_light_model_and_times_the_paper_model_per_precision(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    cases = build_cases(default_axes())
    described = [(c.model, c.scales, c.objects, c.dtype, c.device, (c.height, c.width)) for c in cases]
    p480, p720, one, three = SIZES["480p"], SIZES["720p"], (1.0,), (0.5, 0.75, 1.0)
    assert described == [
        ("lite", one, 1, "fp32", "cpu", p480),
        ("lite", one, 1, "bf16", "cpu", p480),
        ("lite", three, 1, "fp32", "cpu", p480),
        ("lite", one, 2, "fp32", "cpu", p480),
        ("lite", one, 4, "fp32", "cpu", p480),
        ("lite", one, 1, "fp32", "cpu", p720),
        ("paper", one, 1, "fp32", "cpu", p480),
        ("paper", one, 1, "bf16", "cpu", p480),
    ]
    full = build_cases(default_axes(full=True), full=True)
    assert len(full) == len(set(full)) == 2 * 2 * 3 * 2 * 2  # models, scale sets, objects, precisions, sizes


def test_cuda_joins_the_grid_with_half_precision_when_present(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    axes = default_axes()
    cases = build_cases(axes)
    assert axes.devices == ("cpu", "cuda")
    assert {(c.device, c.dtype) for c in cases} == {
        ("cpu", "fp32"),
        ("cpu", "bf16"),
        ("cuda", "fp32"),
        ("cuda", "fp16"),
    }
    assert {c.dtype for c in build_cases(default_axes(full=True), full=True) if c.device == "cuda"} == {
        "fp32",
        "fp16",
        "bf16",
    }


def test_flop_counts_match_the_known_costs():
    # RGMP_NOTES: 316 GFLOP per frame at scale 1.0 on 480x854 (padded to 512x864)
    frame, reference = count_gflop(PAPER, 480, 854, (1.0,), 1)
    assert frame == pytest.approx(315.8, abs=0.1)
    assert 60 < reference < frame / 3  # the encoder alone
    three_passes, _ = count_gflop(PAPER, 480, 854, (1.0,), 3)
    assert three_passes == pytest.approx(3 * frame, rel=0.01)  # two objects + background pass
    multi, _ = count_gflop(PAPER, 480, 854, (0.5, 0.75, 1.0), 1)
    areas = (288 * 448 + 416 * 672 + 512 * 864) / (512 * 864)  # the 0.5 and 0.75 canvases on top (1.92x)
    assert multi == pytest.approx(frame * areas, rel=0.02)
    lite, _ = count_gflop(LITE, 480, 854, (1.0,), 1)
    assert 10 < lite < 25
    assert yardstick_gflop(224, 224) == pytest.approx(8.18, abs=0.05)  # ResNet-50: 4.09 GMAC


def test_peak_memory_sees_an_allocation():
    with PeakMemory(torch.device("cpu")) as memory:
        block = torch.ones(64 * 2**20 // 4)  # 64 MiB, touched
        del block
    assert memory.kind == "rss-sampled" and 48 <= memory.megabytes < 200


def test_synthetic_clip_has_the_objects():
    frames, mask = synthetic_clip(64, 96, 3, 4)
    assert len(frames) == 4 and frames[0].shape == (64, 96, 3) and frames[0].dtype == np.uint8
    assert sorted(np.unique(mask)) == [0, 1, 2, 3]
    assert not np.array_equal(frames[0], frames[3])


def test_bench_prints_the_table_and_writes_the_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    bench("--models", "lite", "--sizes", "64x96", "--objects", "1,2", "--dtypes", "fp32", "--num-scales", "1",
          "--devices", "cpu", "--warmup", "1", "--repeats", "2", "--json", str(out))  # fmt: skip
    records = json.loads(out.read_text())
    assert len(records) == 2
    for record in records:
        assert list(record) == list(RECORD_KEYS)
        assert record["model"] == "lite" and record["weights"] == "random-init"
        assert (record["height"], record["width"], record["device"], record["dtype"]) == (64, 96, "cpu", "fp32")
        assert len(record["ms_samples"]) == 2 and record["ms_min"] <= record["ms_per_frame"] <= record["ms_max"]
        assert record["fps"] == pytest.approx(1000 / record["ms_per_frame"])
        assert record["ratio"] > 0 and record["yardstick_ms"] > 0
        assert record["gflop_ratio"] == pytest.approx(record["gflop_per_frame"] / record["yardstick_gflop"])
    assert [r["objects"] for r in records] == [1, 2]
    assert records[1]["gflop_per_frame"] > 2.5 * records[0]["gflop_per_frame"]  # 3 passes with the background
    printed = capsys.readouterr().out
    assert "weights: random initialisation for lite" in printed
    table = [line for line in printed.splitlines() if line.startswith("|")]
    assert table[0].startswith("| model | scales | obj | dtype | device | size | ms/frame [min–max] | ×R50 |")
    assert len(table) == 2 + 2 and table[2].startswith("| lite | 1 | 1 | fp32 | cpu | 64x96 | ")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--sizes", "10x10"], "too small"),
        (["--sizes", "big"], "neither 480p nor 720p nor HxW"),
        (["--num-scales", "2"], "--num-scales takes 1 or 3"),
        (["--objects", "0"], "at least 1"),
        (["--models", "huge", "--sizes", "64x96"], "unknown model 'huge'"),
        (["--dtypes", "fp8", "--sizes", "64x96"], "unknown precision 'fp8'"),
        (["--models", "lite", "--sizes", "64x96", "--warmup", "0"], "--warmup >= 1"),
    ],
)
def test_bad_bench_input_is_one_clear_error(argv, message):
    with pytest.raises(BenchmarkError, match=message):
        bench(*argv)


def test_cuda_asked_without_cuda_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(BenchmarkError, match="CUDA is not available"):
        bench("--devices", "cuda", "--sizes", "64x96")


def test_parse_size():
    assert parse_size("480p") == (480, 854) and parse_size("720p") == (720, 1280) and parse_size("96x128") == (96, 128)
