"""Named outputs: every handler answers with a dataclass whose fields are named after the page's components.

Gradio takes an event's outputs as a list of components and the handler's values in that order; :func:`names`
gives the list's names for a dataclass and :func:`in_order` turns a handler into one that returns (or yields) the
values in that order. A field left at :func:`skip` leaves its component as it is.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from dataclasses import field, fields
from typing import Any

import gradio as gr

Update = Any
"""A component's new value, or ``gr.update(...)`` / ``gr.skip()``."""


def skip() -> Any:
    """A dataclass field that leaves its component as it is unless given."""
    return field(default_factory=gr.skip)


def names(kind: type) -> list[str]:
    """The outputs of a dataclass of outputs, in order."""
    return [f.name for f in fields(kind)]


def values(outputs: Any) -> tuple[Update, ...]:
    """The values of a dataclass of outputs, in the order of :func:`names`."""
    return tuple(getattr(outputs, f.name) for f in fields(outputs))


def in_order(handler: Callable[..., Any]) -> Callable[..., Any]:
    """``handler`` returning (or yielding) its values in the order of :func:`names`; its signature is kept, which
    is where Gradio looks for a ``gr.Progress`` parameter."""
    if inspect.isgeneratorfunction(handler):

        @functools.wraps(handler)
        def stream(*args: Any) -> Iterator[tuple[Update, ...]]:
            for outputs in handler(*args):
                yield values(outputs)

        return stream

    @functools.wraps(handler)
    def call(*args: Any) -> tuple[Update, ...]:
        return values(handler(*args))

    return call
