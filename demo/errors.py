"""User-facing errors of the demo: bad uploads and missing input, shown in the page as one readable line.

:func:`user_message` turns any exception into that line; the page shows it next to what caused it, and the
API raises it as ``gr.Error`` (an ``AppError`` for ``gradio_client``). No message names a path on the server.
"""

from __future__ import annotations

import logging
import re

import torch

from rgmp.errors import InputError

log = logging.getLogger(__name__)

_PATH = re.compile(r"(?<![\w:/.~-])(?:/[^\s/'\"]+)+/([^\s/'\"]+)")
"""An absolute POSIX path (not part of a URL): its last component is kept."""


class DemoError(InputError):
    """A problem the user can fix (no video yet, nothing painted, clip too long...); the message says how."""


def user_error_types() -> tuple[type[Exception], ...]:
    """Exceptions whose message is meant for the user: the demo's own and the library's input errors."""
    from rgmp.inference import SessionError
    from rgmp.io.masks import MaskError
    from rgmp.io.video import VideoError
    from rgmp.weights import WeightsError

    return DemoError, VideoError, MaskError, SessionError, WeightsError


def strip_paths(text: str) -> str:
    """``text`` with every absolute path replaced by its file name (``/tmp/gradio/ab12/clip.mp4`` → ``clip.mp4``)."""
    return _PATH.sub(r"\1", text)


def user_message(err: BaseException, what: str) -> str:
    """One readable line about ``err``, raised while ``what`` ("opening the video", ...), without server paths.

    User errors keep their message; a GPU out-of-memory says what to lower; anything else is logged with its
    traceback and reported as unexpected.
    """
    if isinstance(err, user_error_types()):
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
