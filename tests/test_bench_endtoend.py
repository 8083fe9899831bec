"""``bench --end-to-end``: blocks alone and with each writer set take turns in one session (tiny clip, model)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rgmp.bench.endtoend import WRITERS, end_to_end_table, run_end_to_end
from rgmp.cli import main
from rgmp.inference import Session
from rgmp.io.masks import read_mask, write_mask
from rgmp.io.video_writer import VideoWriter
from tests.conftest import TINY, seeded_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")

H, W = 64, 96


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A 5-frame clip of a square moving right, and its first frame's mask."""
    folder = tmp_path_factory.mktemp("clip")
    with VideoWriter(folder / "square.mp4", 12) as writer:
        for t in range(5):
            frame = np.full((H, W, 3), 30, np.uint8)
            frame[20:44, 10 + 6 * t : 34 + 6 * t] = (230, 200, 40)
            writer.write(frame)
    labels = np.zeros((H, W), np.uint8)
    labels[20:44, 10:34] = 1
    write_mask(folder / "square.png", labels)
    return folder / "square.mp4", folder / "square.png"


def test_each_writer_set_is_timed_against_the_blocks_alone_beside_it(clip) -> None:
    video, mask_path = clip
    session = Session(seeded_model(TINY), "cpu")
    propagate, segmented = session.propagate, []

    def counted(*args, **kwargs):
        for result in propagate(*args, **kwargs):
            segmented.append(result.index)
            yield result

    session.propagate = counted
    lines: list[str] = []
    mask = read_mask(mask_path)
    records = run_end_to_end(session, video, mask, tuple(WRITERS), pairs=2, block=7, warmup=1, progress=lines.append)
    assert [r["writers"] for r in records] == list(WRITERS) and len(lines) == 3 and lines[-1].startswith("I/O alone")
    # The first frame, the warm-up, a block alone, then per pair and writer set one block with I/O and one alone:
    # the blocks of the I/O alone run no network.
    assert len(segmented) == 1 + 1 + 7 * (1 + 2 * 2 * len(WRITERS))
    for r in records:
        assert r["pairs"] == 2 and r["block_frames"] == 7 and r["model"] == "lite" and r["host_cpu"]
        assert r["alone_fps"] > 0 and r["end_to_end_fps"] > 0 and r["io_alone_fps"] > 0
        assert 0 < r["ratio_q1"] <= r["ratio_median"] <= r["ratio_q3"] and r["ratio_of_sums"] > 0
    table = end_to_end_table(records)
    assert table.count("\n") == 1 + len(WRITERS) and "| demo-none |" in table and "| I/O alone fps |" in table
    with pytest.raises(ValueError, match="writers must be among"):
        run_end_to_end(session, video, mask, ("cli", "gif"))


def test_the_command_writes_json_and_refuses_bad_input(clip, weights, tmp_path, capsys) -> None:
    video, mask = clip
    out = tmp_path / "e2e.json"
    argv = ["bench", "--end-to-end", str(video), "--weights", str(weights), "--dtypes", "fp32", "--devices", "cpu"]
    assert (
        main([*argv, "--mask", str(mask), "--writers", "cli", "--pairs", "1", "--block", "3", "--json", str(out)]) == 0
    )
    [record] = json.loads(out.read_text())
    assert record["writers"] == "cli" and record["dtype"] == "float32" and record["pairs"] == 1
    assert "| cli | segment --overlay" in capsys.readouterr().out
    assert main(argv) == 2
    assert "--end-to-end needs --mask" in capsys.readouterr().err
    small = tmp_path / "small.png"
    write_mask(small, np.ones((32, 48), np.uint8))
    assert main([*argv, "--mask", str(small)]) == 2
    assert "the mask is 48x32 but the video is 96x64" in capsys.readouterr().err
