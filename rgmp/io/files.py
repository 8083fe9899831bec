"""Atomic outputs: a reader never sees a half-written file or folder, and a failed write leaves nothing behind."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

STAGING = "partial"
"""What names a staging folder: ``.<out>.partial-XXXXXXXX`` beside ``out``."""


def temporary_name(path: str | os.PathLike[str]) -> Path:
    """A hidden, unique name beside ``path`` (same folder, so same file system: ``os.replace`` is atomic)."""
    path = Path(path)
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a hidden temporary path beside ``path``; it replaces ``path`` only if the block succeeds.

    The temporary file is deleted when the block raises. Files get the usual permissions (``tempfile.mkstemp``
    would make them 0600). Parent folders are created.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8, newlines as given) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8", newline="")


@contextmanager
def staged_folder(out: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a hidden staging folder beside ``out``; what the block writes there is published into ``out`` only
    if it succeeds, and the staging folder is always removed.

    Publishing renames the staging folder to ``out`` when ``out`` does not exist (atomic: ``out`` appears whole),
    else moves its entries into ``out``, each replacing the file or folder of the same name.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.{STAGING}-", dir=out.parent))
    try:
        yield staging
        if not out.exists():
            staging.rename(out)
            return
        for entry in sorted(staging.iterdir()):
            target = out / entry.name
            if entry.is_dir() and target.is_dir():
                shutil.rmtree(target)
            entry.replace(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def remove_stale_staging(out: str | os.PathLike[str]) -> None:
    """Remove the staging folders a killed run left beside ``out``."""
    out = Path(out)
    for stale in out.parent.glob(f".{out.name}.{STAGING}-*"):
        shutil.rmtree(stale, ignore_errors=True)
