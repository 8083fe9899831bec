"""SegTrack v2 IoU and JumpCut error on hand-computed masks; sharding across ranks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rgmp.bench import BenchmarkError
from rgmp.bench.measures import frame_mean_iou, intersection_union, jumpcut_error, segtrack_iou
from rgmp.bench.runner import wait_until
from rgmp.distributed import rank_and_world, shard


def box(top, left, bottom, right, shape=(6, 8)):
    mask = np.zeros(shape, bool)
    mask[top:bottom, left:right] = True
    return mask


def test_intersection_union_counts_pixels():
    truth = box(0, 0, 2, 4)  # 8 pixels
    prediction = box(1, 2, 3, 6)  # 8 pixels, overlapping 1 x 2
    assert intersection_union(truth, prediction) == (2, 14)
    assert intersection_union(truth, np.zeros_like(truth)) == (0, 8)
    with pytest.raises(ValueError, match="shapes differ"):
        intersection_union(truth, truth[:-1])


def test_segtrack_iou_accumulates_over_frames_not_mean_of_frames():
    # frame 1: 2 of 14; frame 2: perfect 4 of 4; frame 3: nothing anywhere
    inters, unions = [2, 4, 0], [14, 4, 0]
    assert segtrack_iou(inters, unions) == pytest.approx(6 / 18)
    assert frame_mean_iou(inters, unions) == pytest.approx((2 / 14 + 1 + 1) / 3)
    assert segtrack_iou([0, 0], [0, 0]) == 1.0  # object absent and never predicted


def test_jumpcut_error_is_wrong_area_over_object_area():
    truth = box(0, 0, 2, 4)  # 8 object pixels
    prediction = box(0, 2, 2, 6)  # 4 right, 4 missed, 4 false alarms
    assert jumpcut_error(truth, prediction) == pytest.approx(8 / 8)
    assert jumpcut_error(truth, truth) == 0.0
    assert jumpcut_error(truth, box(0, 0, 1, 4)) == pytest.approx(4 / 8)  # half missed
    assert jumpcut_error(truth, np.ones_like(truth)) == pytest.approx(40 / 8)  # can exceed 1
    assert math.isnan(jumpcut_error(np.zeros_like(truth), truth))


@pytest.mark.parametrize("world", [1, 2, 3, 7])
def test_ranks_cover_every_sequence_exactly_once_and_balance_frames(world):
    rng = np.random.default_rng(world)
    costs = [int(c) for c in rng.integers(20, 120, 23)]
    shares = [shard(costs, rank, world) for rank in range(world)]
    flat = sorted(i for share in shares for i in share)
    assert flat == list(range(len(costs)))
    assert all(share == sorted(share) for share in shares)
    loads = [sum(costs[i] for i in share) for share in shares]
    assert max(loads) - min(loads) <= max(costs)  # greedy longest-first bound
    assert shard(costs, 0, world) == shares[0]  # deterministic


def test_more_ranks_than_sequences_leaves_some_idle():
    shares = [shard([5, 9], rank, 4) for rank in range(4)]
    assert shares == [[1], [0], [], []]


def test_rank_and_world_from_environment():
    assert rank_and_world({}) == (0, 1)
    assert rank_and_world({"RANK": "3", "WORLD_SIZE": "4"}) == (3, 4)
    with pytest.raises(ValueError, match="outside a world"):
        rank_and_world({"RANK": "4", "WORLD_SIZE": "4"})
    with pytest.raises(ValueError, match="must be integers"):
        rank_and_world({"RANK": "a"})
    with pytest.raises(ValueError, match="outside a world"):
        shard([1, 2], 0, 0)


def test_file_barrier_times_out_or_stops_on_failure():
    with pytest.raises(BenchmarkError, match="--gather"):
        wait_until(lambda: False, timeout=0.05, poll=0.01)
    with pytest.raises(BenchmarkError, match="rank 1 failed"):
        wait_until(lambda: False, timeout=10, poll=0.01, failed=lambda: "rank 1 failed on x")
    calls = []
    wait_until(lambda: calls.append(1) or len(calls) > 2, timeout=10, poll=0.01)
    assert len(calls) == 3
