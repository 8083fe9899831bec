"""User-facing errors of the demo: bad uploads and missing input, shown in the page as one readable line."""

from __future__ import annotations

from rgmp.errors import InputError


class DemoError(InputError):
    """A problem the user can fix (no video yet, nothing painted, clip too long...); the message says how."""


def user_error_types() -> tuple[type[Exception], ...]:
    """Exceptions whose message is meant for the user: the demo's own and the library's input errors."""
    from rgmp.inference import SessionError
    from rgmp.io.masks import MaskError
    from rgmp.io.video import VideoError
    from rgmp.weights import WeightsError

    return DemoError, VideoError, MaskError, SessionError, WeightsError
