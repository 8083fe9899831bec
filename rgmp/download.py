"""``python -m rgmp weights download paper``: the authors' ``weights.pth``, fetched into
:func:`rgmp.weights.download_dir`.

The only download in the project, and only on this command. The file arrives in a hidden staging folder beside
its place (``torch.hub.download_url_to_file``, with its progress bar), is loaded with the strict loader, and is
moved into place only when it loads; otherwise nothing is left behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.error
from pathlib import Path

import torch.hub

from rgmp.weights import OFFICIAL_FILENAME, WeightsError, download_dir, load_model

PAPER_WEIGHTS_URL = "https://www.dropbox.com/s/gt0kivrb2hlavi2/weights.pth?dl=1"
"""The authors' link (README of https://github.com/seoungwugoh/RGMP, "Download weights.pth"), with ``dl=1`` so that
Dropbox sends the file rather than its web page."""
LICENCE = (
    "The authors' RGMP weights (Oh, Lee, Sunkavalli, Kim, CVPR 2018; https://github.com/seoungwugoh/RGMP) are "
    "for non-commercial research purposes only. Downloading them, you accept these terms; cite the paper."
)
DOWNLOADS = {"paper": OFFICIAL_FILENAME}
"""Model → the file name its default weights have (:func:`rgmp.weights.default_weights`)."""


def download_weights(
    model: str, *, url: str = PAPER_WEIGHTS_URL, folder: Path | None = None, progress: bool = True
) -> Path:
    """Download ``model``'s weights into ``folder`` (default :func:`rgmp.weights.download_dir`), atomically.

    Args:
        model: "paper".
        url: where to fetch the file (http, https or file).
        folder: destination folder (created).
        progress: show a progress bar on stderr.

    Returns:
        The installed file.

    Raises:
        WeightsError: an unknown model, a failed download, or a file the strict loader refuses (truncated, or
            not the authors' weights); nothing is kept then.
    """
    if model not in DOWNLOADS:
        raise WeightsError(f"no download for model {model!r}; downloadable: {', '.join(DOWNLOADS)}")
    folder = download_dir() if folder is None else folder
    destination = folder / DOWNLOADS[model]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise WeightsError(f"cannot create the weights folder {folder}: {err.strerror}") from None
    for stale in folder.glob(f".{destination.name}.download-*"):  # left by a killed download
        shutil.rmtree(stale, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}.download-", dir=folder))
    try:
        part = staging / destination.name
        try:
            torch.hub.download_url_to_file(url, str(part), progress=progress)
        except urllib.error.HTTPError as err:
            raise WeightsError(f"cannot download {url}: HTTP {err.code} {err.reason}") from None
        except (urllib.error.URLError, OSError, ValueError) as err:
            reason = getattr(err, "reason", None) or err
            raise WeightsError(f"cannot download {url}: {' '.join(str(reason).split())}") from None
        try:
            load_model(part, expect=model)
        except WeightsError as err:
            size = part.stat().st_size
            detail = str(err).replace(str(part), destination.name).split(". ")[0].rstrip(".")
            raise WeightsError(
                f"refused the file from {url} ({size} bytes): {detail}; nothing was kept (a truncated download, or "
                "not the authors' weights: try again, or give the right --url)"
            ) from None
        os.replace(part, destination)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return destination
