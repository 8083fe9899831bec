"""DAVIS-2016 and DAVIS-2017 in their native layout: image sets, sequence folders and annotations.

Under a DAVIS root:

- ``JPEGImages/<resolution>/<sequence>/<frame>.jpg``: the frames.
- ``Annotations/<resolution>/<sequence>/<frame>.png``: DAVIS-2016 grayscale 0/255 masks, one object wherever the
  value is > 0; DAVIS-2017 indexed palette PNGs, 0 = background, k = object k, :data:`~rgmp.io.masks.VOID` = void.
- ``ImageSets/<resolution>/<set>.txt`` (DAVIS-2016: lines of frame and annotation paths,
  ``/JPEGImages/480p/bear/00000.jpg /Annotations/480p/bear/00000.png``) or ``ImageSets/2017/<set>.txt``
  (DAVIS-2017: one sequence a line).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image

from rgmp.errors import InputError

Year = Literal["2016", "2017"]
YEARS: tuple[str, ...] = ("2016", "2017")


class DavisError(InputError):
    """A DAVIS folder without the expected image set, or an unreadable annotation; the message names the path."""


def frames_root(root: str | os.PathLike[str], resolution: str = "480p") -> Path:
    """``<root>/JPEGImages/<resolution>``, one folder of frames per sequence."""
    return Path(root) / "JPEGImages" / resolution


def annotations_root(root: str | os.PathLike[str], resolution: str = "480p") -> Path:
    """``<root>/Annotations/<resolution>``, one folder of annotations per sequence."""
    return Path(root) / "Annotations" / resolution


def image_set_path(root: str | os.PathLike[str], year: Year, subset: str, resolution: str = "480p") -> Path:
    """``ImageSets/2017/<subset>.txt`` (DAVIS-2017) or ``ImageSets/<resolution>/<subset>.txt`` (DAVIS-2016)."""
    return Path(root) / "ImageSets" / ("2017" if year == "2017" else resolution) / f"{subset}.txt"


def read_image_set(path: Path) -> list[str]:
    """The sequence names of an image-set file, each once, in file order.

    A line's first field names its sequence: the field itself (DAVIS-2017), or the folder of the frame path it is
    (DAVIS-2016, ``/JPEGImages/480p/bear/00000.jpg ...`` → ``bear``).
    """
    names: dict[str, None] = {}
    for line in path.read_text().splitlines():
        if line.strip():
            first = line.split()[0]
            names.setdefault(Path(first).parent.name if "/" in first else first, None)
    return list(names)


def sequence_names(root: str | os.PathLike[str], year: Year, subset: str, resolution: str = "480p") -> list[str]:
    """The sequences of an image set (:func:`read_image_set` of :func:`image_set_path`).

    Raises:
        DavisError: the image-set file is missing.
    """
    path = image_set_path(root, year, subset, resolution)
    if not path.is_file():
        raise DavisError(f"missing DAVIS image set {path} (choose one with --set, e.g. val or train)")
    return read_image_set(path)


def read_annotation(path: str | os.PathLike[str], year: Year) -> np.ndarray:
    """One annotation (or result) PNG as an (H, W) uint8 label map.

    DAVIS-2017: the palette indices (or the values of a grayscale image) as stored, :data:`~rgmp.io.masks.VOID` =
    void. DAVIS-2016: 1 wherever that value is > 0, else 0 (colour images: wherever their grayscale is > 0).

    Raises:
        DavisError: the file cannot be read as an image, or (DAVIS-2017) is not single-channel.
    """
    try:
        with Image.open(path) as im:
            single = im.mode in ("P", "L", "1")
            if year == "2017" and not single:
                raise DavisError(f"{path} is not a single-channel (indexed or grayscale) PNG")
            labels = np.asarray(im if single else im.convert("L"), dtype=np.uint8)
    except OSError as err:
        raise DavisError(f"cannot read {path}: {' '.join(str(err).split())}") from None
    return (labels > 0).astype(np.uint8) if year == "2016" else labels.copy()
