"""The errors a training run reports: bad input (exit status 2) and a loss that is no longer a number (3)."""

from __future__ import annotations

from rgmp.errors import InputError


class TrainError(InputError):
    """A run cannot start or continue: bad data, bad checkpoint or option."""


class NonFiniteLoss(RuntimeError):
    """The loss became NaN or infinite; the update was not applied and the last good checkpoint is kept."""
