"""The one base class of the errors a user can fix."""

from __future__ import annotations


class InputError(ValueError):
    """Bad input the user can fix: a missing or unreadable file, a mask that does not fit its clip, a wrong option.

    The message is one line meant for the user (no traceback, no temporary path): the command lines print it and
    exit with status 2, the demo shows it in the page. Each part of the project raises its own subclass
    (``VideoError``, ``MaskError``, ``SessionError``, ``WeightsError``, ...), so callers may also catch one kind.
    """
