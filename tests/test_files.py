"""Atomic writes: all or nothing."""

from __future__ import annotations

import os
import stat

import pytest

from rgmp.io.files import atomic_path, write_text_atomic


def test_write_text_atomic_creates_folders_with_normal_permissions(tmp_path):
    target = tmp_path / "a" / "b.csv"
    write_text_atomic(target, "x,y\r\n1,2\n")
    assert target.read_bytes() == b"x,y\r\n1,2\n"
    assert stat.S_IMODE(os.stat(target).st_mode) & 0o044  # readable by others, unlike mkstemp's 0600
    assert [p.name for p in target.parent.iterdir()] == ["b.csv"]


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "t.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash while writing")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["t.txt"]
