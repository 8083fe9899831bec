"""User-facing errors of the demo: bad uploads and missing input, shown in the page as one readable line.

:func:`user_message` turns any exception into that line; the page shows it (:func:`warning`) next to what caused
it, and the API raises it as ``gr.Error`` (an ``AppError`` for ``gradio_client``). No message names a path on the
server.
"""

from __future__ import annotations

import logging
import re

import torch

from rgmp.errors import InputError

log = logging.getLogger(__name__)

WARNING = "⚠"
"""Starts every message about a problem."""

_PATH = re.compile(r"(?<![\w:/.~-])(?:/[^\s/'\"]+)+/([^\s/'\"]+)")
"""An absolute POSIX path (not part of a URL): its last component is kept."""


class DemoError(InputError):
    """A problem the user can fix (no video yet, nothing painted, clip too long...); the message says how."""


def strip_paths(text: str) -> str:
    """``text`` with every absolute path replaced by its file name (``/tmp/gradio/ab12/clip.mp4`` → ``clip.mp4``)."""
    return _PATH.sub(r"\1", text)


def user_message(err: BaseException, what: str) -> str:
    """One readable line about ``err``, raised while ``what`` ("opening the video", ...), without server paths.

    Input errors (:class:`rgmp.errors.InputError`, the demo's and the library's) keep their message; a GPU
    out-of-memory says what to lower; anything else is logged with its traceback and reported as unexpected.
    """
    if isinstance(err, InputError):
        message = str(err)
    elif isinstance(err, torch.OutOfMemoryError):
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        message = (
            f"{what}: the GPU ran out of memory. Choose a smaller processing size, fewer scales or a shorter clip, "
            "and run again."
        )
    else:
        log.error("%s failed", what, exc_info=err)
        detail = " ".join(str(err).split()) or type(err).__name__
        message = f"{what} failed unexpectedly ({type(err).__name__}: {detail})"
    return strip_paths(message)


def warning(err: BaseException, what: str) -> str:
    """The page's line about ``err``: "⚠ " and :func:`user_message`."""
    return f"{WARNING} {user_message(err, what)}"
