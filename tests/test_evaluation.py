"""rgmp.evaluation on tiny DAVIS-2017 / DAVIS-2016 folders built from the oracle's whole sequences."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import SHARED_DATA
from PIL import Image

from rgmp.evaluation import (
    GLOBAL_COLUMNS,
    EvaluationError,
    EvaluationResult,
    evaluate_davis,
    format_table,
    write_csvs,
)

TOL = 1e-9


DATA = SHARED_DATA
ORACLE_DIR = DATA / "davis-oracle"
HAVE_ORACLE = (ORACLE_DIR / "oracle_cases.json").is_file() and (ORACLE_DIR / "oracle_cases.npz").is_file()
needs_oracle = pytest.mark.skipif(
    not HAVE_ORACLE,
    reason=f"DAVIS oracle not found in {ORACLE_DIR} (shared data absent; set RGMP_SHARED_DATA)",
)
CLIP_DIR = DATA / "clips"
# single-object sequences whose GT has no void: usable as DAVIS-2016 (anything > 0 is the object)
BINARY_SEQUENCES = ("syn-single-drift", "syn-three-frames")


@pytest.fixture(scope="module")
def oracle() -> dict[str, Any]:
    if not HAVE_ORACLE:
        pytest.skip("DAVIS oracle absent")
    return json.loads((ORACLE_DIR / "oracle_cases.json").read_text())


@pytest.fixture(scope="module")
def arrays() -> dict[str, np.ndarray]:
    if not HAVE_ORACLE:
        pytest.skip("DAVIS oracle absent")
    with np.load(ORACLE_DIR / "oracle_cases.npz") as npz:
        return {k: npz[k] for k in npz.files}


def _palette_png(path: Path, labels: np.ndarray) -> None:
    im = Image.frombytes("P", (labels.shape[1], labels.shape[0]), np.ascontiguousarray(labels, np.uint8).tobytes())
    palette = [0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0] + [255, 255, 255] * 252
    im.putpalette(palette[: 256 * 3])
    im.save(path)


def _gray_png(path: Path, mask: np.ndarray) -> None:
    Image.fromarray(np.where(mask > 0, 255, 0).astype(np.uint8)).save(path)


def _write_sequence(root: Path, results: Path, seq: str, gt: np.ndarray, pred: np.ndarray, year: str) -> None:
    (root / "Annotations" / "480p" / seq).mkdir(parents=True)
    (results / seq).mkdir(parents=True)
    write = _palette_png if year == "2017" else _gray_png
    for t in range(gt.shape[0]):
        write(root / "Annotations" / "480p" / seq / f"{t:05d}.png", gt[t])
        write(results / seq / f"{t:05d}.png", pred[t])


def _build_2017(tmp: Path, section: dict[str, Any], arrays: dict[str, np.ndarray]) -> tuple[Path, Path]:
    root, results = tmp / "DAVIS", tmp / "results"
    for seq, keys in section["sequence_keys"].items():
        _write_sequence(root, results, seq, arrays[keys["gt_key"]], arrays[keys["pred_key"]], "2017")
    (root / "ImageSets" / "2017").mkdir(parents=True)
    (root / "ImageSets" / "2017" / "val.txt").write_text("\n".join(section["sequence_keys"]) + "\n")
    return root, results


def _close(actual: float, expected: float | None) -> bool:
    if expected is None:
        return math.isnan(actual)
    return abs(actual - expected) <= TOL


def _check_against_oracle(result: EvaluationResult, section: dict[str, Any], sequences: list[str]) -> None:
    expected_objects = [
        (seq, k + 1, section["sequences"][seq])
        for seq in sequences
        for k in range(section["sequences"][seq]["num_objects"])
    ]
    assert [o.name for o in result.objects] == [f"{s}_{k}" for s, k, _ in expected_objects]
    for obj, (_, k, info) in zip(result.objects, expected_objects, strict=True):
        assert list(obj.frame_ids) == info["evaluated_frame_ids"]
        assert np.allclose(obj.j, info["J_per_frame"][k - 1], rtol=0, atol=TOL)
        assert np.allclose(obj.f, info["F_per_frame"][k - 1], rtol=0, atol=TOL)
        stats = info["objects"][obj.name]
        got = {"J": (obj.j_mean, obj.j_recall, obj.j_decay), "F": (obj.f_mean, obj.f_recall, obj.f_decay)}
        for measure in "JF":
            for value, key in zip(got[measure], "MRD", strict=True):
                assert _close(value, stats[measure][key]), (obj.name, measure, key)


@needs_oracle
@pytest.mark.parametrize("group", ["main", "long"])
def test_davis2017_matches_oracle(
    tmp_path: Path, oracle: dict[str, Any], arrays: dict[str, np.ndarray], group: str
) -> None:
    section = oracle["sequences"][group]
    root, results = _build_2017(tmp_path, section, arrays)
    result = evaluate_davis(results, root, year="2017", subset="val", progress=False)
    assert list(result.global_row) == list(GLOBAL_COLUMNS)
    for column in GLOBAL_COLUMNS:
        assert _close(result.global_row[column], section["global"][column]), column
    _check_against_oracle(result, section, list(section["sequence_keys"]))


@needs_oracle
def test_exact_decay_option(tmp_path: Path, oracle: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    section = oracle["sequences"]["long"]
    root, results = _build_2017(tmp_path, section, arrays)
    official = evaluate_davis(results, root, progress=False)
    exact = evaluate_davis(results, root, progress=False, exact_decay=True)
    assert math.isnan(official.global_row["J-Decay"]) and math.isfinite(exact.global_row["J-Decay"])
    assert exact.global_row["J-Mean"] == official.global_row["J-Mean"]


@needs_oracle
def test_davis2016_matches_oracle(tmp_path: Path, oracle: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    section = oracle["sequences"]["main"]
    root, results = tmp_path / "DAVIS", tmp_path / "results"
    lines = []
    for seq in BINARY_SEQUENCES:
        keys = section["sequence_keys"][seq]
        gt, pred = arrays[keys["gt_key"]], arrays[keys["pred_key"]]
        assert set(np.unique(gt)) <= {0, 1} and set(np.unique(pred)) <= {0, 1}
        _write_sequence(root, results, seq, gt, pred, "2016")
        lines += [f"/JPEGImages/480p/{seq}/{t:05d}.jpg /Annotations/480p/{seq}/{t:05d}.png" for t in range(len(gt))]
    (root / "ImageSets" / "480p").mkdir(parents=True)
    (root / "ImageSets" / "480p" / "val.txt").write_text("\n".join(lines) + "\n")

    result = evaluate_davis(results, root, year="2016", subset="val", progress=False)
    _check_against_oracle(result, section, list(BINARY_SEQUENCES))
    objects = [section["sequences"][s]["objects"][f"{s}_1"] for s in BINARY_SEQUENCES]
    for measure in "JF":
        for key, column in (("M", "Mean"), ("R", "Recall"), ("D", "Decay")):
            expected = float(np.mean([o[measure][key] for o in objects]))
            assert _close(result.global_row[f"{measure}-{column}"], expected)
    jm, fm = result.global_row["J-Mean"], result.global_row["F-Mean"]
    assert _close(result.global_row["J&F-Mean"], (jm + fm) / 2)


@needs_oracle
def test_csvs_round_trip(tmp_path: Path, oracle: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    section = oracle["sequences"]["main"]
    root, results = _build_2017(tmp_path, section, arrays)
    result = evaluate_davis(results, root, progress=False)
    global_path, seq_path = write_csvs(result, results, "val")
    assert global_path == results / "global_results-val.csv"
    assert seq_path == results / "per-sequence_results-val.csv"
    with global_path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["J&F-Mean", "J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay"]
    assert len(rows) == 2
    for column, text in zip(rows[0], rows[1], strict=True):
        assert abs(float(text) - section["global"][column]) < 1e-6
    with seq_path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["Sequence", "J-Mean", "F-Mean"]
    assert [r[0] for r in rows[1:]] == list(section["J_M_per_object"])
    for name, j_text, f_text in rows[1:]:
        assert abs(float(j_text) - section["J_M_per_object"][name]) < 1e-6
        assert abs(float(f_text) - section["F_M_per_object"][name]) < 1e-6
    assert not [p for p in results.iterdir() if p.name.endswith(".tmp")]  # temp files replaced, none left

    write_csvs(result, results, "val")  # overwriting works
    table = format_table(result)
    assert "Global results for val" in table and "Per sequence results for val" in table
    assert f"{section['global']['J&F-Mean']:.3f}" in table
    for name, value in section["J_M_per_object"].items():
        assert any(line.split()[:2] == [name, f"{value:.3f}"] for line in table.splitlines())


def _tiny_dataset(tmp_path: Path) -> tuple[Path, Path]:
    gt = np.zeros((4, 12, 16), np.uint8)
    gt[:, 3:8, 4:10] = 1
    gt[:, 9:11, 1:3] = 2
    root, results = tmp_path / "DAVIS", tmp_path / "results"
    _write_sequence(root, results, "tiny", gt, gt, "2017")
    (root / "ImageSets" / "2017").mkdir(parents=True)
    (root / "ImageSets" / "2017" / "val.txt").write_text("tiny\n")
    return root, results


def test_missing_result_frame_raises(tmp_path: Path) -> None:
    root, results = _tiny_dataset(tmp_path)
    (results / "tiny" / "00000.png").unlink()  # first frame is not scored, not read: fine
    (results / "tiny" / "00003.png").unlink()  # last frame neither
    result = evaluate_davis(results, root, progress=False)
    assert result.global_row["J&F-Mean"] == 1.0 and [o.name for o in result.objects] == ["tiny_1", "tiny_2"]
    missing = results / "tiny" / "00002.png"
    missing.unlink()
    with pytest.raises(EvaluationError) as info:
        evaluate_davis(results, root, progress=False)
    assert isinstance(info.value, ValueError)
    assert str(missing) in str(info.value) and "\n" not in str(info.value)


def test_missing_sequence_folder_and_image_set(tmp_path: Path) -> None:
    root, results = _tiny_dataset(tmp_path)
    with pytest.raises(EvaluationError, match="missing results folder"):
        evaluate_davis(tmp_path / "elsewhere", root, progress=False)
    with pytest.raises(EvaluationError, match="missing DAVIS image set"):
        evaluate_davis(results, root, subset="test-dev", progress=False)
    with pytest.raises(EvaluationError, match="missing results folder"):
        evaluate_davis(results, root, sequences=["nope"], progress=False)
    (results / "nope").mkdir()
    with pytest.raises(EvaluationError, match="annotated frames"):
        evaluate_davis(results, root, sequences=["nope"], progress=False)


def test_too_many_object_ids_raise(tmp_path: Path) -> None:
    root, results = _tiny_dataset(tmp_path)
    bad = np.zeros((12, 16), np.uint8)
    bad[0, 0] = 3
    _palette_png(results / "tiny" / "00001.png", bad)
    with pytest.raises(EvaluationError, match="object id 3"):
        evaluate_davis(results, root, progress=False)


def test_sequences_override_image_set(tmp_path: Path) -> None:
    root, results = _tiny_dataset(tmp_path)
    (root / "ImageSets" / "2017" / "val.txt").write_text("tiny\nnot-there\n")
    result = evaluate_davis(results, root, sequences=["tiny"], progress=False)
    assert [o.sequence for o in result.objects] == ["tiny", "tiny"]


@pytest.mark.skipif(
    not (CLIP_DIR / "Annotations" / "480p" / "rollerblade").is_dir(),
    reason=f"real clip not found in {CLIP_DIR} (shared data absent; set RGMP_SHARED_DATA)",
)
def test_real_clip_gt_as_results() -> None:
    annotations = CLIP_DIR / "Annotations" / "480p"
    result = evaluate_davis(annotations, CLIP_DIR, sequences=["rollerblade"], progress=False)
    assert [o.name for o in result.objects] == ["rollerblade_1"]
    obj = result.objects[0]
    assert len(obj.frame_ids) == len(list((annotations / "rollerblade").glob("*.png"))) - 2
    assert np.all(obj.j == 1.0) and np.all(obj.f == 1.0)
    assert result.global_row["J&F-Mean"] == 1.0 and result.global_row["J-Decay"] == 0.0
