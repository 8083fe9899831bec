"""``python -m rgmp segment`` and ``evaluate`` end to end on real frames, and every bad input."""

from __future__ import annotations

import csv
import dataclasses
import subprocess
import sys

import av
import numpy as np
import pytest
import torch
from conftest import CLIPS, require
from PIL import Image

from rgmp.cli import build_parser, main
from rgmp.cli.options import adapter, session_options
from rgmp.config import LITE, PAPER
from rgmp.inference import parse_scales
from rgmp.io.masks import DAVIS_PALETTE, write_mask
from rgmp.io.video import probe_video
from rgmp.io.video_writer import VideoWriter
from train.online import ADAPT_SCHEDULE, THOROUGH_SCHEDULE


@pytest.fixture(scope="module")
def rollerblade():
    frames = require(CLIPS / "JPEGImages" / "480p" / "rollerblade")
    return frames, CLIPS / "Annotations" / "480p" / "rollerblade" / "00000.png"


def segment(*args: str) -> int:
    return main(["segment", "--device", "cpu", "--size", "120", "--adapt", "off", *args])


def test_segment_frames_then_evaluate(tmp_path, weights, rollerblade):
    frames, mask = rollerblade
    out = tmp_path / "results" / "rollerblade"
    code = segment(
        "--frames",
        str(frames),
        "--mask",
        str(mask),
        "--out",
        str(out),
        "--weights",
        str(weights),
        "--save-probs",
        "--overlay",
        str(tmp_path / "overlay.mp4"),
    )
    assert code == 0
    names = sorted(p.stem for p in frames.glob("*.jpg"))
    assert sorted(p.stem for p in out.glob("*.png")) == names
    first = Image.open(out / "00000.png")
    assert first.mode == "P" and first.size == (854, 480) and bytes(first.getpalette()) == DAVIS_PALETTE
    np.testing.assert_array_equal(np.array(first), np.array(Image.open(mask)))
    probs = np.load(out / "00010.npy")
    assert probs.shape == (2, 480, 854) and probs.dtype == np.float16
    agreement = np.array(Image.open(out / "00010.png")) == probs.astype(np.float32).argmax(0)
    assert agreement.mean() > 0.999  # float16 rounding may flip a tie
    info = probe_video(tmp_path / "overlay.mp4")
    assert (info.width, info.height, info.num_frames) == (854, 480, 35)
    assert not list(tmp_path.glob("results/.*"))  # staging folder removed

    for p in out.glob("*.npy"):
        p.unlink()
    assert (
        main(
            [
                "evaluate",
                "--results",
                str(tmp_path / "results"),
                "--davis",
                str(CLIPS),
                "--sequences",
                "rollerblade",
            ]
        )
        == 0
    )
    rows = list(csv.DictReader((tmp_path / "results" / "global_results-val.csv").open()))
    assert list(rows[0]) == ["J&F-Mean", "J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay"]
    assert 0 <= float(rows[0]["J-Mean"]) <= 1
    per_seq = list(csv.DictReader((tmp_path / "results" / "per-sequence_results-val.csv").open()))
    assert [r["Sequence"] for r in per_seq] == ["rollerblade_1"]


def test_segment_video_from_mask_frame(tmp_path, weights, rollerblade):
    frames, mask = rollerblade
    video = tmp_path / "clip.mp4"
    with VideoWriter(video, 12) as writer:
        for path in sorted(frames.glob("*.jpg"))[:6]:
            writer.write(np.array(Image.open(path).convert("RGB")))
    out = tmp_path / "out"
    assert (
        segment(
            "--video",
            str(video),
            "--mask",
            str(mask),
            "--mask-frame",
            "2",
            "--out",
            str(out),
            "--weights",
            str(weights),
        )
        == 0
    )
    assert sorted(p.name for p in out.iterdir()) == ["00002.png", "00003.png", "00004.png", "00005.png"]


def test_module_entry_point_reports_missing_file_without_traceback(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "rgmp",
            "segment",
            "--video",
            str(tmp_path / "none.mp4"),
            "--mask",
            str(tmp_path / "none.png"),
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error:") and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def _frames_dir(tmp_path, sizes):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, (h, w) in enumerate(sizes):
        Image.fromarray(np.full((h, w, 3), 40 * i, np.uint8)).save(folder / f"{i:05d}.png")
    return folder


def _mask(tmp_path, labels, name="mask.png"):
    write_mask(tmp_path / name, labels)
    return tmp_path / name


def _bad(capsys, *args) -> str:
    assert segment(*args) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and err.splitlines()[-1].startswith("error:")
    return err.splitlines()[-1]


def test_bad_inputs_exit_2_with_one_line(tmp_path, weights, capsys):
    frames = _frames_dir(tmp_path, [(32, 48)] * 3)
    good = np.zeros((32, 48), np.uint8)
    good[5:20, 5:20] = 1
    mask = _mask(tmp_path, good)
    out = str(tmp_path / "out")
    common = ["--weights", str(weights), "--out", out]
    assert "not found" in _bad(capsys, "--frames", str(frames), "--mask", str(tmp_path / "no.png"), *common)
    (tmp_path / "junk.png").write_text("not an image")
    assert "cannot read" in _bad(capsys, "--frames", str(frames), "--mask", str(tmp_path / "junk.png"), *common)
    small = _mask(tmp_path, good[:16], "small.png")
    assert "mask is 48x16 but the frames are 48x32" in _bad(
        capsys, "--frames", str(frames), "--mask", str(small), *common
    )
    empty = _mask(tmp_path, np.zeros_like(good), "empty.png")
    assert "empty" in _bad(capsys, "--frames", str(frames), "--mask", str(empty), *common)
    many = np.zeros((32, 48), np.uint16)
    many.flat[:300] = np.arange(1, 301)
    Image.fromarray(many).save(tmp_path / "many.png")
    assert "palette" in _bad(capsys, "--frames", str(frames), "--mask", str(tmp_path / "many.png"), *common)
    zero = tmp_path / "zero.avi"
    with av.open(str(zero), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 48, 32, "yuv420p"
        container.start_encoding()
    assert "zero" in _bad(capsys, "--video", str(zero), "--mask", str(mask), *common)
    (tmp_path / "text.mp4").write_text("hello")
    _bad(capsys, "--video", str(tmp_path / "text.mp4"), "--mask", str(mask), *common)
    assert "past the last frame" in _bad(
        capsys, "--frames", str(frames), "--mask", str(mask), "--mask-frame", "7", *common
    )
    (tmp_path / "bad.pt").write_bytes(b"\x00" * 10)
    assert "cannot read" in _bad(
        capsys,
        "--frames",
        str(frames),
        "--mask",
        str(mask),
        "--weights",
        str(tmp_path / "bad.pt"),
        "--out",
        out,
    )
    assert not (tmp_path / "out").exists()


def test_failure_mid_clip_leaves_nothing_that_looks_complete(tmp_path, weights, capsys):
    frames = _frames_dir(tmp_path, [(32, 48), (32, 48), (32, 48), (40, 48)])  # the last frame differs in size
    good = np.zeros((32, 48), np.uint8)
    good[5:20, 5:20] = 1
    mask = _mask(tmp_path, good)
    _bad(
        capsys,
        "--frames",
        str(frames),
        "--mask",
        str(mask),
        "--weights",
        str(weights),
        "--out",
        str(tmp_path / "out"),
        "--overlay",
        str(tmp_path / "o.mp4"),
    )
    assert not (tmp_path / "out").exists() and not (tmp_path / "o.mp4").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_missing_default_weights_explain_where_to_get_them(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("rgmp.weights.PACKAGE_WEIGHTS", tmp_path)
    monkeypatch.delenv("RGMP_WEIGHTS_DIR", raising=False)
    frames = _frames_dir(tmp_path, [(32, 48)])
    good = np.zeros((32, 48), np.uint8)
    good[5:20, 5:20] = 1
    mask = _mask(tmp_path, good)
    err = _bad(capsys, "--frames", str(frames), "--mask", str(mask), "--model", "paper", "--out", str(tmp_path / "o"))
    assert "weights.pth" in err and "github.com/seoungwugoh/RGMP" in err


def test_evaluate_bad_input(tmp_path, capsys):
    assert main(["evaluate", "--results", str(tmp_path), "--davis", str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err.startswith("error:")


def test_scales_are_parsed_once_for_every_command():
    assert parse_scales("0.5,0.75,1.0") == parse_scales(" 0.5, 0.75,1, ") == (0.5, 0.75, 1.0)
    for bad in ("big", "", ",", "0.5;1"):
        with pytest.raises(ValueError, match="scales must be comma-separated numbers"):
            parse_scales(bad)


def test_segment_and_benchmark_share_the_inference_options():
    parser = build_parser()
    segment_args = vars(parser.parse_args(["segment", "--frames", "f", "--mask", "m", "--out", "o"]))
    benchmark_args = vars(parser.parse_args(["benchmark", "davis2016", "--out", "o"]))
    shared = ["model", "weights", "scales", "merge", "size", "device", "no_ref", "no_prev"]
    shared += ["online_learning", "online_steps", "online_lr", "flip"]
    assert {k: segment_args[k] for k in shared} == {k: benchmark_args[k] for k in shared}
    assert (segment_args["precision"], benchmark_args["precision"]) == ("auto", "fp32")  # tables stay fp32
    assert (segment_args["adapt"], benchmark_args["adapt"]) == ("auto", "off")  # tables: no online learning
    assert segment_args["size"] is None and segment_args["merge"] == "soft" and segment_args["online_steps"] is None
    for command in (["segment", "--frames", "f", "--mask", "m"], ["benchmark", "davis2016"]):
        args = parser.parse_args([*command, "--out", "o", "--scales", "0.5, 1"])
        assert args.scales == (0.5, 1.0)


def test_bad_inference_options_exit_2_with_one_error_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["segment", "--frames", "f", "--mask", "m", "--out", "o", "--scales", "big"])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and err[-1].endswith("argument --scales: scales must be comma-separated "
                                                        "numbers such as 0.5,0.75,1.0, got 'big'")  # fmt: skip
    frames, mask = str(tmp_path / "frames"), str(tmp_path / "mask.png")  # checked before any file is read
    common = ["--frames", frames, "--mask", mask, "--out", str(tmp_path / "o")]
    assert "--size must be 0 (native) or at least 32, got 8" in _bad(capsys, *common, "--size", "8")
    assert "--online-steps must be >= 0" in _bad(capsys, *common, "--online-steps", "-1")
    if not torch.backends.mps.is_available():
        assert "MPS is not available" in _bad(capsys, *common, "--device", "mps")


def test_segment_backward_and_both_from_a_later_frame(tmp_path, weights, rollerblade):
    """--direction backward writes frames 0..N, both writes every frame, and the overlay video is in time order
    although the results come backward first (each frame of the clip is a different image)."""
    frames, mask = rollerblade
    common = ["--frames", str(frames), "--mask", str(mask), "--mask-frame", "3", "--weights", str(weights)]
    assert segment(*common, "--direction", "backward", "--out", str(tmp_path / "back")) == 0
    assert sorted(p.name for p in (tmp_path / "back").iterdir()) == [f"{i:05d}.png" for i in range(4)]
    np.testing.assert_array_equal(np.array(Image.open(tmp_path / "back" / "00003.png")), np.array(Image.open(mask)))
    overlay = tmp_path / "both.mp4"
    assert segment(*common, "--direction", "both", "--out", str(tmp_path / "both"), "--overlay", str(overlay)) == 0
    names = sorted(p.stem for p in frames.glob("*.jpg"))
    assert sorted(p.stem for p in (tmp_path / "both").glob("*.png")) == names
    with av.open(str(overlay)) as container:
        video = [f.to_ndarray(format="rgb24").astype(np.float32) for f in container.decode(video=0)]
    originals = [np.array(Image.open(frames / f"{n}.jpg").convert("RGB"), np.float32) for n in names]
    assert len(video) == len(originals)
    for index in (0, 2, 5, len(video) - 1):  # each video frame is closest to its own original frame
        gaps = [np.abs(video[index] - original).mean() for original in originals]
        assert int(np.argmin(gaps)) == index


def test_adapt_runs_online_learning_first(tmp_path, weights, rollerblade, capsys):
    frames, mask = rollerblade
    common = ["--frames", str(frames), "--mask", str(mask), "--weights", str(weights), "--precision", "fp32"]
    assert segment(*common, "--adapt", "off", "--out", str(tmp_path / "plain")) == 0
    assert "adapted" not in capsys.readouterr().err
    assert segment(*common, "--adapt", "on", "--out", str(tmp_path / "adapted")) == 0
    assert "adapted to the clip first" in capsys.readouterr().err
    plain, adapted = (np.array(Image.open(tmp_path / k / "00020.png")) for k in ("plain", "adapted"))
    assert plain.shape == adapted.shape == (480, 854) and not np.array_equal(plain, adapted)


def test_adapt_auto_is_on_except_for_the_paper_model_on_a_cpu():
    parser = build_parser()

    def schedule(device: str, config, *flags: str):
        args = parser.parse_args(["segment", "--frames", "f", "--mask", "m", "--out", "o", *flags])
        return adapter(args, torch.device(device), config)

    assert schedule("cpu", LITE) == dataclasses.replace(ADAPT_SCHEDULE, progress=True)
    assert schedule("cuda", PAPER) == dataclasses.replace(THOROUGH_SCHEDULE, progress=True)  # the best one there
    assert schedule("cpu", PAPER) is None
    assert schedule("cpu", PAPER, "--adapt", "on") is not None
    assert schedule("cuda", LITE, "--adapt", "off") is None
    assert schedule("cpu", PAPER, "--adapt", "thorough") == dataclasses.replace(THOROUGH_SCHEDULE, progress=True)
    assert schedule("cpu", LITE, "--online-steps", "5").steps == 5  # an explicit schedule wins


def test_flip_auto_is_on_on_a_gpu_only(monkeypatch):
    parser = build_parser()

    def flip(device: str, *flags: str) -> bool:
        monkeypatch.setattr("rgmp.cli.options.pick_device", lambda name: torch.device(device))
        args = parser.parse_args(["segment", "--frames", "f", "--mask", "m", "--out", "o", *flags])
        return session_options(args, LITE)[0].flip

    assert (flip("cpu"), flip("cuda")) == (False, True)
    assert (flip("cpu", "--flip"), flip("cuda", "--flip", "off"), flip("cpu", "--flip", "on")) == (True, False, True)


def test_zoom_auto_leaves_it_to_the_session_which_zooms_for_the_light_model_only():
    def zoom(*flags: str) -> bool | None:
        args = build_parser().parse_args(["segment", "--frames", "f", "--mask", "m", "--out", "o", *flags])
        return session_options(args, LITE)[0].zoom

    assert (zoom(), zoom("--zoom", "on"), zoom("--zoom", "off")) == (None, True, False)
