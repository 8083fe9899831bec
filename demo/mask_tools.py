"""The editor's mask tools: what the user's latest strokes mean, and the label map that results.

The image editor only paints and erases; the page's tool choice says what a stroke means:

* ``box``: a stroke in an object's colour, dragged across the object from corner to corner (or around it), gives
  that object's mask from the stroke's bounding box (:func:`demo.grabcut.box_mask`); it replaces the object's
  earlier mask and wins where it overlaps other objects.
* ``strokes``: painting marks pixels of an object, erasing marks pixels that are not; after each stroke the
  object's mask is refitted to the frame's edges (:func:`demo.grabcut.stroke_mask`), all of the object's strokes
  on this frame counting.
* ``paint``: strokes are the mask, pixel for pixel.

The editor sends its whole value after every stroke, and again after the server puts a mask into it. A
:class:`Sketch` remembers what it last showed and last received on the frame, so that an echo of its own mask is
ignored and a stroke made before the mask arrived is read against what the user saw then.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from demo.grabcut import bounding_box, box_mask, stroke_mask
from rgmp.io.masks import VOID

Tool = Literal["box", "strokes", "paint"]
TOOLS: tuple[tuple[str, Tool], ...] = (
    ("Box", "box"),
    ("Strokes", "strokes"),
    ("Paint", "paint"),
)
"""(label, value) of the page's tool choice."""


@dataclass
class Sketch:
    """The editor's mask on one frame, as the server knows it.

    Attributes:
        index: the frame.
        shown: (H, W) uint8 label map last put into the editor (or accepted from it).
        seen: (H, W) uint8 label map last received from the editor.
        hints: per object id, (H, W) int8 strokes of the ``strokes`` tool: +1 painted, -1 erased, 0 neither.
    """

    index: int
    shown: np.ndarray
    seen: np.ndarray
    hints: dict[int, np.ndarray] = field(default_factory=dict)

    @classmethod
    def of(cls, index: int, labels: np.ndarray) -> Sketch:
        """A sketch whose editor shows ``labels``."""
        return cls(index, labels.copy(), labels.copy())

    def shows(self, received: np.ndarray) -> bool:
        """Whether the editor's new value is what it already showed (an echo of the server's own mask, say)."""
        if np.array_equal(received, self.shown):
            self.seen = received
            return True
        return False

    def update(self, frame: np.ndarray, received: np.ndarray, tool: Tool) -> tuple[np.ndarray | None, str]:
        """Read the editor's new value.

        Args:
            frame: (H, W, 3) uint8 RGB, the frame in the editor.
            received: (H, W) uint8 label map read from the editor.
            tool: what strokes mean.

        Returns:
            (labels, note): the label map to put into the editor (None: leave it as it is) and one line for the
            user ("" when there is nothing to say).
        """
        if self.shows(received):
            return None, ""
        # the stroke was made on what the editor showed then: our last mask, or (if it had not arrived yet) the
        # value the editor sent before
        base = min((self.shown, self.seen), key=lambda labels: np.count_nonzero(labels != received))
        changed = received != base
        self.seen = received
        if tool == "paint":
            self.shown = received.copy()
            return None, ""
        added = changed & (received != 0)
        erased = changed & (received == 0)
        labels = self.shown.copy()
        labels[erased] = 0
        began = time.perf_counter()
        if tool == "box":
            labels, note = self._box(frame, labels, received, added)
        else:
            labels, note = self._strokes(frame, labels, received, base, added, erased)
        if note is None:
            note = f"cut in {time.perf_counter() - began:.1f} s"
        self.shown = labels
        return (None if np.array_equal(labels, received) else labels), note

    def _box(
        self, frame: np.ndarray, labels: np.ndarray, received: np.ndarray, added: np.ndarray
    ) -> tuple[np.ndarray, str | None]:
        if not added.any():
            return labels, ""
        ids, counts = np.unique(received[added], return_counts=True)
        object_id = int(ids[counts.argmax()])
        box = bounding_box(added & (received == object_id))
        try:
            cut = box_mask(frame, box)
        except ValueError as err:
            return labels, f"⚠ {err} (the Box tool cuts the object inside the stroke's box)"
        labels[labels == object_id] = 0
        labels[cut] = object_id
        self.hints.pop(object_id, None)
        if not cut.any():
            return labels, "⚠ nothing found in the box: draw it a little larger than the object"
        return labels, None

    def _strokes(
        self,
        frame: np.ndarray,
        labels: np.ndarray,
        received: np.ndarray,
        base: np.ndarray,
        added: np.ndarray,
        erased: np.ndarray,
    ) -> tuple[np.ndarray, str | None]:
        touched = set(np.unique(received[added]).tolist()) | set(np.unique(base[erased]).tolist())
        touched.discard(0)
        touched.discard(VOID)
        for object_id in sorted(touched):
            hints = self.hints.setdefault(object_id, np.zeros(labels.shape, np.int8))
            hints[added & (received == object_id)] = 1
            hints[erased & (base == object_id)] = -1
            cut = stroke_mask(frame, labels == object_id, hints > 0, hints < 0)
            labels[(labels == object_id) & ~cut] = 0
            labels[cut] = object_id
        return labels, (None if touched else "")
