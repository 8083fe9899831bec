"""rgmp.metrics against the oracle computed with the official davis2017-evaluation code."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from conftest import SHARED_DATA
from scipy import ndimage

from rgmp import metrics
from rgmp.metrics import (
    GLOBAL_COLUMNS,
    db_eval_boundary,
    db_eval_iou,
    db_statistics,
    evaluate_semisupervised,
    global_statistics,
)

TOL = 1e-9


ORACLE_DIR = SHARED_DATA / "davis-oracle"
HAVE_ORACLE = (ORACLE_DIR / "oracle_cases.json").is_file() and (ORACLE_DIR / "oracle_cases.npz").is_file()
SKIP_REASON = f"DAVIS oracle not found in {ORACLE_DIR} (shared data absent; set RGMP_SHARED_DATA to its folder)"
ORACLE: dict[str, Any] = json.loads((ORACLE_DIR / "oracle_cases.json").read_text()) if HAVE_ORACLE else {}


@pytest.fixture(scope="module")
def arrays() -> Any:
    if not HAVE_ORACLE:
        pytest.skip(SKIP_REASON)
    with np.load(ORACLE_DIR / "oracle_cases.npz") as npz:
        return {k: npz[k] for k in npz.files}


def _params(cases: list[tuple[str, Any]]) -> list[Any]:
    """One pytest param per oracle case (id = case name), or one skipped param when the oracle is absent."""
    if not HAVE_ORACLE:
        return [pytest.param(None, id="no-oracle", marks=pytest.mark.skip(reason=SKIP_REASON))]
    return [pytest.param(case, id=name) for name, case in cases]


def _section(name: str) -> list[tuple[str, Any]]:
    return [(case["name"], case) for case in ORACLE.get(name, [])]


def _sequence_cases() -> list[tuple[str, Any]]:
    out = []
    for group, section in ORACLE.get("sequences", {}).items():
        for seq, info in section["sequences"].items():
            out.append((f"{group}-{seq}", (seq, info, section["sequence_keys"][seq])))
    return out


def _rgmp_rows() -> list[tuple[str, Any]]:
    return [
        (f"{split}-{row['seq']}_{row['obj']}-{row['measure']}", row)
        for split, section in ORACLE.get("rgmp_yaml", {}).items()
        for row in section["rows"]
    ]


def _close(actual: float, expected: float | None) -> bool:
    """Equal within TOL; ``None`` (JSON for NaN) matches NaN."""
    if expected is None:
        return math.isnan(actual)
    return abs(actual - expected) <= TOL


# ---------------------------------------------------------------------------------------------- oracle cases


@pytest.mark.parametrize("case", _params(_section("pairs")))
def test_pair(case: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    gt, pred = arrays[case["gt_key"]], arrays[case["pred_key"]]
    assert _close(db_eval_iou(gt, pred), case["J"])
    assert _close(db_eval_boundary(gt, pred), case["F"])
    assert int(metrics._seg2bmap(gt).sum()) == case["n_boundary_gt"]
    assert int(metrics._seg2bmap(pred).sum()) == case["n_boundary_pred"]
    assert math.ceil(0.008 * math.hypot(*gt.shape)) == case["bound_pix"]
    if case["void_key"] is not None:
        void = arrays[case["void_key"]]
        assert _close(db_eval_iou(gt, pred, void), case["J_with_void"])
        assert _close(db_eval_boundary(gt, pred, void), case["F_with_void"])
    # a (T, H, W) stack gives the same per-frame values
    stack_j = db_eval_iou(np.stack([gt, gt]), np.stack([pred, pred]))
    stack_f = db_eval_boundary(np.stack([gt, gt]), np.stack([pred, pred]))
    assert stack_j.shape == stack_f.shape == (2,)
    assert all(_close(v, case["J"]) for v in stack_j) and all(_close(v, case["F"]) for v in stack_f)


@pytest.mark.parametrize("case", _params(_section("multi_object")))
def test_multi_object(case: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    gt, pred = arrays[case["gt_key"]], arrays[case["pred_key"]]
    n = case["num_objects"]
    for k in range(1, n + 1):
        assert _close(db_eval_iou(gt == k, pred == k), case["J_per_object"][k - 1])
        assert _close(db_eval_boundary(gt == k, pred == k), case["F_per_object"][k - 1])
    # the same frame as the middle frame of a 3-frame sequence
    gt3, pred3 = np.stack([gt, gt, gt]), np.stack([pred, pred, pred])
    if pred.max() > n:  # the official evaluate() exits
        with pytest.raises(ValueError, match="object id"):
            evaluate_semisupervised(gt3, pred3)
        return
    j, f = evaluate_semisupervised(gt3, pred3)
    assert j.shape == f.shape == (n, 1)
    assert np.allclose(j[:, 0], case["J_per_object"], rtol=0, atol=TOL)
    assert np.allclose(f[:, 0], case["F_per_object"], rtol=0, atol=TOL)


@pytest.mark.parametrize("case", _params(_section("statistics")))
def test_statistics(case: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    values = arrays[case["values_key"]]
    assert len(values) == case["n"]
    mean, recall, decay = db_statistics(values)
    assert _close(mean, case["M"]) and _close(recall, case["R"]) and _close(decay, case["D"])
    exact = db_statistics(values, exact_decay=True)
    if len(values) <= 255:
        assert exact == (mean, recall, decay)
    else:
        assert exact[:2] == (mean, recall)
        assert _close(exact[2], _reference_decay(values))
    if case["name"] == "n=256":  # the oracle note: what the official code gave under numpy 1 (int promotion)
        assert _close(exact[2], 0.4687483131714636)


@pytest.mark.parametrize("case", _params(_sequence_cases()))
def test_sequence(case: tuple[str, dict[str, Any], dict[str, str]], arrays: dict[str, np.ndarray]) -> None:
    seq, info, keys = case
    j, f = evaluate_semisupervised(arrays[keys["gt_key"]], arrays[keys["pred_key"]])
    assert j.shape == (info["num_objects"], len(info["evaluated_frame_ids"]))
    assert np.allclose(j, info["J_per_frame"], rtol=0, atol=TOL)
    assert np.allclose(f, info["F_per_frame"], rtol=0, atol=TOL)
    for k in range(info["num_objects"]):
        expected = info["objects"][f"{seq}_{k + 1}"]
        for measure, values in (("J", j[k]), ("F", f[k])):
            stats = db_statistics(values)
            for got, key in zip(stats, "MRD", strict=True):
                assert _close(got, expected[measure][key]), (measure, key)


@pytest.mark.parametrize("group", _params([(g, g) for g in ORACLE.get("sequences", {})]))
def test_sequences_global_table(group: str, arrays: dict[str, np.ndarray]) -> None:
    section = ORACLE["sequences"][group]
    j_stats, f_stats, names = [], [], []
    for seq, keys in section["sequence_keys"].items():
        j, f = evaluate_semisupervised(arrays[keys["gt_key"]], arrays[keys["pred_key"]])
        for k in range(j.shape[0]):
            j_stats.append(db_statistics(j[k]))
            f_stats.append(db_statistics(f[k]))
            names.append(f"{seq}_{k + 1}")
    row = global_statistics(j_stats, f_stats)
    assert list(row) == list(GLOBAL_COLUMNS)
    for column in GLOBAL_COLUMNS:
        assert _close(row[column], section["global"][column]), column
    assert names == list(section["J_M_per_object"]) == list(section["F_M_per_object"])
    for name, js, fs in zip(names, j_stats, f_stats, strict=True):
        assert _close(js[0], section["J_M_per_object"][name]) and _close(fs[0], section["F_M_per_object"][name])


@pytest.mark.parametrize("row", _params(_rgmp_rows()))
def test_rgmp_yaml_row(row: dict[str, Any]) -> None:
    # The yaml's mean and decay are the official ones; its "recall" is the fraction of values > 0, not > 0.5.
    assert _close(row["yaml_mean"], row["official_M"])
    assert _close(row["yaml_decay"], row["official_D"])
    assert _close(row["yaml_recall"], row["recall_gt0"])
    assert row["official_R_gt0.5"] <= row["recall_gt0"] + TOL


@pytest.mark.parametrize("split", _params([(s, s) for s in ORACLE.get("rgmp_yaml", {})]))
def test_rgmp_yaml_dataset(split: str) -> None:
    section = ORACLE["rgmp_yaml"][split]
    rows = section["rows"]

    def stats(measure: str, prefix: str, keys: tuple[str, str, str]) -> list[tuple[float, float, float]]:
        return [tuple(r[f"{prefix}{k}"] for k in keys) for r in rows if r["measure"] == measure]

    official_keys = ("M", "R_gt0.5", "D")
    official = global_statistics(stats("J", "official_", official_keys), stats("F", "official_", official_keys))
    assert _close(official["J-Mean"], section["official_dataset"]["J"])
    assert _close(official["F-Mean"], section["official_dataset"]["F"])
    assert _close(official["J&F-Mean"], section["official_JF_mean"])
    yaml_keys = ("mean", "recall", "decay")
    yaml = global_statistics(stats("J", "yaml_", yaml_keys), stats("F", "yaml_", yaml_keys))
    for measure in "JF":
        for key, column in (("mean", "Mean"), ("recall", "Recall"), ("decay", "Decay")):
            assert _close(yaml[f"{measure}-{column}"], section["yaml_dataset"][measure][key])


# ------------------------------------------------------------------------------------- data-free unit tests


def _reference_decay(values: np.ndarray) -> float:
    """Decay with plain integer bin indices (what the official code means to compute)."""
    ids = [int(i) for i in np.round(np.linspace(1, len(values), 5) + 1e-10) - 1]
    first, last = values[ids[0] : ids[1] + 1], values[ids[3] : ids[4] + 1]
    return float(np.nanmean(first) - np.nanmean(last))


def test_decay_uint8_quirk_past_255_frames() -> None:
    values = np.linspace(1.0, 0.0, 300)
    assert math.isnan(db_statistics(values[:256])[2])  # last bin empty: 255 + 1 wraps to 0
    assert math.isnan(db_statistics(values)[2])  # 299 -> 43 < 224: empty last bin
    wrong = db_statistics(np.linspace(1.0, 0.0, 600))[2]  # 599 % 256 = 87, 449 % 256 = 193: empty
    assert math.isnan(wrong)
    for n in (256, 300, 600):
        v = np.linspace(1.0, 0.0, n)
        exact = db_statistics(v, exact_decay=True)[2]
        assert _close(exact, _reference_decay(v)) and 0.7 < exact < 0.8
    for n in (1, 2, 3, 10, 255):
        v = np.random.default_rng(n).random(n)
        assert db_statistics(v) == db_statistics(v, exact_decay=True)
        assert _close(db_statistics(v)[2], _reference_decay(v))


def test_recall_counts_nan_as_miss_and_is_strict() -> None:
    mean, recall, _ = db_statistics(np.array([0.5, 0.51, np.nan, 1.0]))
    assert _close(mean, (0.5 + 0.51 + 1.0) / 3)
    assert _close(recall, 0.5)


def test_iou_empty_union_is_one() -> None:
    empty = np.zeros((3, 4, 5), bool)
    full = np.ones((3, 4, 5), bool)
    assert db_eval_iou(empty[0], empty[0]) == 1.0
    assert np.array_equal(db_eval_iou(empty, np.stack([empty[0], full[0], empty[0]])), [1.0, 0.0, 1.0])
    assert db_eval_iou(full[0], empty[0], void_pixels=full[0]) == 1.0


def test_shape_errors() -> None:
    with pytest.raises(ValueError):
        db_eval_iou(np.zeros((4, 4)), np.zeros((4, 5)))
    with pytest.raises(ValueError):
        db_eval_boundary(np.zeros((2, 2, 4, 4)), np.zeros((2, 2, 4, 4)))
    with pytest.raises(ValueError, match="3 frames"):
        evaluate_semisupervised(np.zeros((2, 4, 4), np.uint8), np.zeros((2, 4, 4), np.uint8))


def test_disk_matches_skimage_definition() -> None:
    assert metrics._disk(1).astype(int).tolist() == [[0, 1, 0], [1, 1, 1], [0, 1, 0]]
    assert metrics._disk(8).shape == (17, 17) and metrics._disk(8).sum() == 197
    assert metrics._disk(2.5).shape == (6, 6)  # bound_th >= 1 is used as is, even-sized kernel


@pytest.mark.parametrize("radius", [0, 1, 2, 2.5, 3, 8])
def test_dilation_matches_cv2_semantics(radius: float) -> None:
    rng = np.random.default_rng(int(radius * 10))
    src = rng.random((23, 31)) > 0.97
    kernel = metrics._disk(radius)
    kh, kw = kernel.shape
    # brute-force cv2.dilate: out[y, x] = any(src[y + i - kh // 2, x + j - kw // 2] for kernel[i, j]),
    # pixels outside the image ignored
    expected = np.zeros_like(src)
    for i, j in zip(*np.nonzero(kernel), strict=True):
        dy, dx = i - kh // 2, j - kw // 2
        shifted = np.zeros_like(src)
        ys, xs = slice(max(0, -dy), min(23, 23 - dy)), slice(max(0, -dx), min(31, 31 - dx))
        shifted[ys, xs] = src[max(0, dy) : min(23, 23 + dy), max(0, dx) : min(31, 31 + dx)]
        expected |= shifted
    ys, xs = np.indices(src.shape)
    assert np.array_equal(metrics._dilated_at(src, kernel, ys, xs), expected)
    if kh % 2:  # odd, symmetric kernel: plain morphological dilation
        assert np.array_equal(ndimage.binary_dilation(src, structure=kernel), expected)
