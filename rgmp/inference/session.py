"""Streaming inference: encode the reference once, then yield one result per frame as soon as it is computed.

Memory does not grow with the clip: frames are pulled lazily from an iterator and the only per-frame state kept
is the previous frame's soft output, which is the next frame's guidance.
"""

from __future__ import annotations

import contextlib
import copy
import io
import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from rgmp.errors import InputError
from rgmp.inference.geometry import Canvas, resize
from rgmp.inference.graphs import GraphedPass
from rgmp.inference.merge import MERGE_MODES, MergeMode, merge, pass_masks
from rgmp.inference.network import Precision, PreparedNetwork
from rgmp.io.masks import VOID
from rgmp.model import RGMP

Direction = Literal["forward", "backward", "both"]
DIRECTIONS: tuple[str, ...] = ("forward", "backward", "both")
"""Which way a clip is propagated from its annotated frame (see :meth:`Session.propagate`)."""
MAX_OBJECTS = 254
"""Object ids 1..254 fit the DAVIS palette; :data:`~rgmp.io.masks.VOID` is ignored in a reference mask."""


Adapter = Callable[[RGMP, np.ndarray, np.ndarray], RGMP]
"""Online learning: (a copy of the network, the annotated frame (H, W, 3) uint8, its label map) → the adapted copy."""


class SessionError(InputError):
    """Bad input to a session (empty mask, size mismatch, too many objects, no frames...)."""


@dataclass(frozen=True)
class SessionOptions:
    """How a clip is segmented.

    Attributes:
        scales: inference scales whose outputs are averaged; None = the model's default (0.5, 0.75, 1.0 for
            the paper model, as released).
        merge: several-object merge: "soft" (paper eq. 1 with a background pass, as released),
            "soft-product" (eq. 1 with the background estimated as the product of (1 - p) over objects: one
            network pass fewer), "naive" or "wta" (winner-take-all), the alternatives the paper compares.
        size: process frames resized so that their short side is ``size`` pixels (outputs are resized back);
            frames are never enlarged: a smaller clip runs at its own size. 0 = the frames' own size; None = the
            model's default (``config.default_size``: 240 for the light model, the frames' own size for the
            paper model).
        no_reference: ablation −Ref: the decoder sees zeros instead of the reference features.
        no_previous: ablation −Prev: the guidance mask is all zeros on every target frame.
        pass_batch: how many of a frame's network passes (one per object, plus the background pass) run in one
            batch; None = all of them on a GPU and one at a time on a CPU, where a batch's activations
            outgrow the caches (4 objects of the light model at 480p: 339 ms batched, 249 ms one by one).
        adapt: online learning (paper §4.3): called with a copy of the network, the annotated frame ((H, W, 3)
            uint8) and its label map, both at the processing size (``size``), before the clip is propagated, it
            returns the copy adapted to the clip (``train.online.OnlineLearning`` is one); None = off. It runs
            under bf16 autocast when the session's precision is bf16. The session's own network is never changed.
        flip: also run every pass on the mirrored frame (with the mirrored reference and guidance) and average
            the two probabilities, as the scales are averaged: twice the passes.
        zoom: process each frame in a window around the objects instead of the whole frame (:func:`zoom_window`:
            the box of the previous frame's objects grown twice, at least half the frame's height, with the
            frame's aspect ratio), resized to the processing size; the reference likewise around the annotated
            objects. Small objects are seen larger, at the same cost. None = on for a light model, off for the
            paper model (whose outputs stay the release's) and for models with the visual memory (whose hidden
            state is laid out on the canvas).
        cuda_graphs: on a CUDA device, record each network pass of a clip in a CUDA graph on its first target
            frame and replay it on the others (paper model, bf16, 480p, H100: 5.6 → 2.2 ms a pass, since launching
            the short kernels one by one costs more than running them). Models with the visual memory run as
            they are.
    """

    scales: tuple[float, ...] | None = None
    merge: MergeMode = "soft"
    size: int | None = None
    no_reference: bool = False
    no_previous: bool = False
    pass_batch: int | None = None
    adapt: Adapter | None = None
    flip: bool = False
    zoom: bool | None = None
    cuda_graphs: bool = True

    def __post_init__(self) -> None:
        if self.merge not in MERGE_MODES:
            raise SessionError(f"unknown merge mode {self.merge!r}; choose one of {', '.join(MERGE_MODES)}")
        if self.scales is not None and (not self.scales or any(not 0 < s <= 4 for s in self.scales)):
            raise SessionError(f"scales must be a non-empty list of numbers in (0, 4], got {self.scales}")
        if self.size is not None and self.size != 0 and self.size < 32:
            raise SessionError(f"processing size must be 0 (the frames' own) or at least 32 pixels, got {self.size}")
        if self.pass_batch is not None and self.pass_batch < 1:
            raise SessionError(f"pass_batch must be at least 1, got {self.pass_batch}")


@dataclass
class FrameResult:
    """The segmentation of one frame.

    Attributes:
        index: position of the frame in the input sequence.
        probs: (K+1, H, W) float32 soft probabilities; channel 0 is background, channel k is ``object_ids[k-1]``.
        labels: (H, W) uint8 label map holding the object ids (0 = background).
        object_ids: the ids of the K objects, in channel order.
        frame: (H, W, 3) uint8 RGB frame the result is for (for drawing; in a backward pass, the frames before
            the annotated one come back through JPEG at quality 95).
    """

    index: int
    probs: np.ndarray
    labels: np.ndarray
    object_ids: list[int]
    frame: np.ndarray


View = tuple[float, bool]
"""One way of looking at a frame: (scale, mirrored). Their probabilities are averaged."""


@dataclass
class _ClipState:
    """What the session keeps between frames: the cached reference and the last soft output."""

    model: RGMP
    """The network for this clip: the session's own, or a copy adapted to the clip by online learning."""
    object_ids: list[int]
    canvas: Canvas
    source_size: tuple[int, int]
    reference: dict[View, Tensor] = field(default_factory=dict)
    """Reference r5 per view (scale, mirrored), (B, C5, h/32, w/32), one entry per network pass."""
    guidance: Tensor | None = None
    """(B, padded_h, padded_w), or (B, H, W) when the session zooms: the mask each pass sees on the next frame."""
    memory: dict[View, Tensor | None] = field(default_factory=dict)
    """Visual-memory state per view (models with ``config.memory``); absent before the first target frame."""
    graphs: dict[tuple[View, int], GraphedPass] = field(default_factory=dict)
    """Recorded network passes per (view, first pass of the chunk), with ``SessionOptions.cuda_graphs``."""


def object_ids_of(mask: np.ndarray) -> list[int]:
    """Sorted object ids of a label map (0 = background and 255 = void excluded)."""
    ids = [int(v) for v in np.unique(mask) if v not in (0, VOID)]
    if not ids:
        raise SessionError("the reference mask is empty: paint or give at least one object")
    if len(ids) > MAX_OBJECTS or max(ids) > MAX_OBJECTS:
        raise SessionError(
            f"the reference mask has {len(ids)} objects with ids up to {max(ids)}; at most {MAX_OBJECTS} objects "
            f"with ids 1..{MAX_OBJECTS} fit the DAVIS palette"
        )
    return ids


class Session:
    """Propagates the objects of one annotated frame through a clip.

    Example:
        >>> session = Session(model, "cpu", dtype="auto")
        >>> for result in session.propagate(frames, first_mask):
        ...     save(result.index, result.labels)

    Args:
        model: the network, or a :class:`PreparedNetwork` kept from an earlier session (then ``device`` and
            ``dtype`` are its own).
        device: where it runs.
        options: how clips are segmented.
        dtype: the autocast precision for a network prepared here: torch.bfloat16, torch.float16, None (float32)
            or "auto" (bfloat16 for a light model on a CPU with native bf16).
    """

    def __init__(
        self,
        model: RGMP | PreparedNetwork,
        device: torch.device | str = "cpu",
        options: SessionOptions | None = None,
        *,
        dtype: Precision = None,
    ):
        self.prepared = (
            model if isinstance(model, PreparedNetwork) else PreparedNetwork.build(model, device, dtype=dtype)
        )
        self.device, self.dtype = self.prepared.device, self.prepared.dtype
        self.model, self.network = self.prepared.model, self.prepared.network
        """``model`` is the network as given (what online learning starts from); ``network`` is what runs."""
        self.options = options or SessionOptions()
        model = self.model
        self.scales = self.options.scales or model.config.default_scales
        self.views: list[View] = [
            (s, mirrored) for s in self.scales for mirrored in (False, True)[: 1 + self.options.flip]
        ]
        self.pass_batch = self.options.pass_batch or (1 if self.device.type == "cpu" else MAX_OBJECTS + 1)
        zoom_by_default = model.config.family == "lite" and not model.config.memory
        self.zoom = zoom_by_default if self.options.zoom is None else self.options.zoom
        """Whether frames are processed in a window around the objects (``SessionOptions.zoom``)."""
        self.uses_graphs = self.options.cuda_graphs and self.device.type == "cuda" and not model.config.memory
        """Whether network passes are replayed from CUDA graphs (see :class:`SessionOptions`)."""
        self.reference_encodings = 0
        """How many times a reference has been encoded (once per scale and clip), for tests and logs."""

    # ----------------------------------------------------------------------------------------------------------
    def propagate(
        self,
        frames: Iterable[np.ndarray] | str | Path,
        mask: np.ndarray,
        *,
        start: int = 0,
        direction: Direction = "forward",
    ) -> Iterator[FrameResult]:
        """Segment the clip from the annotated frame, one result per frame, lazily.

        Args:
            frames: (H, W, 3) uint8 RGB frames, or a video file / frame folder path (read lazily, once).
            mask: (H, W) integer label map of the annotated frame (0 = background, 255 = void/ignored).
            start: index of the annotated frame in ``frames``.
            direction: "forward": frames ``start``, ``start + 1``, ... to the last; "backward": frames ``start``,
                ``start - 1``, ... 0 (the frames before ``start`` are read first and kept JPEG-compressed in
                memory, about 80 kB a 480p frame); "both": the backward pass, then the forward one.

        Yields:
            :class:`FrameResult` in processing order: the annotated frame first (the given mask itself), then each
            frame of the pass; with "both", indices ``start, start - 1, ..., 0, start + 1, ...``.
        """
        if direction not in DIRECTIONS:
            raise SessionError(f"unknown direction {direction!r}; choose one of {', '.join(DIRECTIONS)}")
        frames = _frame_iterator(frames)
        mask = np.asarray(mask)
        if mask.ndim != 2:
            raise SessionError(f"the mask must be a 2-D label map, got shape {mask.shape}")
        object_ids = object_ids_of(mask)
        if direction == "forward":
            yield from self._pass(itertools.islice(enumerate(frames), start, None), mask, object_ids, start)
            return
        earlier: list[bytes] = []
        annotated = None
        for index, frame in enumerate(frames):
            if index == start:
                annotated = frame
                break
            earlier.append(_compress(frame))
        if annotated is None:
            raise SessionError(f"the clip has no frame {start}: nothing to segment")
        backward = ((i, _decompress(earlier[i]) if i < start else annotated) for i in range(start, -1, -1))
        yield from self._pass(backward, mask, object_ids, start)
        if direction == "both":
            forward = self._pass(itertools.chain([(start, annotated)], enumerate(frames, start + 1)), mask, object_ids)
            next(forward)  # the annotated frame, already given
            yield from forward

    def _pass(
        self, frames: Iterable[tuple[int, np.ndarray]], mask: np.ndarray, object_ids: list[int], start: int = 0
    ) -> Iterator[FrameResult]:
        """One pass over (index, frame) pairs, the first being the annotated frame."""
        state: _ClipState | None = None
        for index, frame in frames:
            frame = _check_frame(frame, mask.shape if state is None else state.source_size, index)
            with torch.inference_mode():
                if state is None:
                    state = self._start(frame, mask, object_ids)
                    distribution = self._reference_distribution(mask, object_ids)
                else:
                    distribution = self._step(state, frame)
                yield self._result(index, frame, distribution, state)
        if state is None:
            raise SessionError(f"the clip has no frame {start}: nothing to segment")

    # ----------------------------------------------------------------------------------------------------------
    def _autocast(self):
        if self.dtype is None:
            return contextlib.nullcontext()
        # A graph must not record autocast's weight cache, which is emptied when the context exits.
        return torch.autocast(self.device.type, dtype=self.dtype, cache_enabled=not self.uses_graphs)

    def _to_canvas(self, frame: np.ndarray, canvas: Canvas, window: Window | None = None) -> Tensor:
        """(H, W, 3) uint8 (its ``window`` only, if given) → (1, 3, padded_h, padded_w) float in [0, 1], resized to
        the processing size."""
        x = torch.from_numpy(frame).to(self.device).permute(2, 0, 1)[None]
        x = (x if window is None else _crop(x, window)).float() / 255  # the window only: uint8 cropped first
        if tuple(x.shape[-2:]) != (canvas.height, canvas.width):
            x = F.interpolate(x, size=(canvas.height, canvas.width), mode="bilinear", antialias=True)
        x = canvas.pad(x)
        return x.contiguous(memory_format=torch.channels_last) if self.prepared.channels_last else x

    def _start(self, frame: np.ndarray, mask: np.ndarray, object_ids: list[int]) -> _ClipState:
        height, width = mask.shape
        size = self.model.config.processing_size(self.options.size)
        processing = _processing_size(height, width, size)
        canvas = Canvas.for_frame(*processing, self.model.config.pad_mode)
        state = _ClipState(self._clip_model(frame, mask, processing), object_ids, canvas, (height, width))
        onehot = torch.from_numpy(np.stack([mask == i for i in object_ids])).to(self.device).float()
        window = zoom_window(onehot, (height, width)) if self.zoom else None
        objects = resize((onehot if window is None else _crop(onehot, window))[None], (canvas.height, canvas.width))[0]
        masks = canvas.pad(pass_masks(self.options.merge, objects))  # (B, padded_h, padded_w)
        image = self._to_canvas(frame, canvas, window)
        with self._autocast():
            for view in self.views:
                size = canvas.scaled_size(view[0], self.model.config.pad_mode)
                scaled_image, scaled_masks = (
                    _mirror(resize(image, size), view),
                    _mirror(resize(masks[:, None], size), view),
                )
                r5 = torch.cat([state.model.encode_reference(scaled_image, chunk)
                                for chunk in scaled_masks.split(self.pass_batch)])  # fmt: skip
                state.reference[view] = torch.zeros_like(r5) if self.options.no_reference else r5
                self.reference_encodings += 1
        state.guidance = masks if window is None else pass_masks(self.options.merge, onehot)
        return state

    def _clip_model(self, frame: np.ndarray, mask: np.ndarray, processing: tuple[int, int]) -> RGMP:
        """The session's network, or with ``adapt`` a copy of it adapted to the clip on the annotated frame, at the
        ``processing`` size (height, width), not stretched to the canvas (dev J&F 0.726 against 0.721, mean of 3
        seeds)."""
        if self.options.adapt is None:
            return self.network
        if frame.shape[:2] != processing:
            size = processing[::-1]
            frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
            mask = cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
        # bf16 speeds online learning up as it does inference (fp16 would need a gradient scaler). No weight cache:
        # it would keep serving the weights of before each optimiser step.
        precision = (
            torch.autocast(self.device.type, dtype=self.dtype, cache_enabled=False)
            if self.dtype == torch.bfloat16
            else contextlib.nullcontext()
        )
        with torch.inference_mode(False), torch.enable_grad(), precision:
            tuned = self.options.adapt(copy.deepcopy(self.model), frame, mask)
        return self.prepared.with_model(tuned).network

    def _step(self, state: _ClipState, frame: np.ndarray) -> Tensor:
        """One target frame → (K+1, padded_h, padded_w) distribution, or (K+1, H, W) when zooming; updates the
        guidance."""
        canvas = state.canvas
        window = zoom_window(state.guidance, state.source_size) if self.zoom else None
        image = self._to_canvas(frame, canvas, window)
        guidance = (
            state.guidance
            if window is None
            else canvas.pad(resize(_crop(state.guidance, window)[None], (canvas.height, canvas.width))[0])
        )
        if self.options.no_previous:
            guidance = torch.zeros_like(guidance)
        full = (canvas.padded_height, canvas.padded_width)
        outputs = torch.zeros_like(guidance)
        for view in self.views:
            size = canvas.scaled_size(view[0], self.model.config.pad_mode)
            frame_view, masks_view = _mirror(resize(image, size), view), _mirror(resize(guidance[:, None], size), view)
            with self._autocast():
                logits = self._passes(state, view, frame_view, masks_view)
            outputs += resize(_mirror(torch.softmax(logits.float(), dim=1)[:, 1:], view), full)[:, 0]
        distribution, guidance = merge(self.options.merge, outputs / len(self.views))
        if window is None:
            state.guidance = guidance
            return distribution
        state.guidance = _paste(canvas.crop(guidance), window, state.source_size)
        objects = _paste(canvas.crop(distribution[1:]), window, state.source_size)
        return torch.cat([(1 - objects.sum(dim=0, keepdim=True)).clamp_min(0), objects])

    def _passes(self, state: _ClipState, view: View, frame: Tensor, masks: Tensor) -> Tensor:
        """The B network passes of one frame in one view, ``pass_batch`` at a time.

        Args:
            frame: (1, 3, h, w) scaled target frame; masks: (B, 1, h, w) scaled guidance.

        Returns:
            Logits (B, 2, h, w).
        """
        model, reference = state.model, state.reference[view]
        chunks = [slice(i, i + self.pass_batch) for i in range(0, masks.shape[0], self.pass_batch)]
        if self.uses_graphs:  # torch.cat copies each graph's output before its next replay overwrites it
            return torch.cat([self._graphed(state, (view, c.start), frame, masks[c], reference[c]) for c in chunks])
        if not model.config.memory:
            return torch.cat([model(frame, masks[c], reference[c]) for c in chunks])
        # The visual memory carries a hidden state (B, width, h/32, w/32) across frames.
        hidden = state.memory.get(view)
        steps = [model.step(frame, masks[c], reference[c], None if hidden is None else hidden[c]) for c in chunks]
        state.memory[view] = torch.cat([h for _, h in steps])
        return torch.cat([logits for logits, _ in steps])

    def _graphed(self, state: _ClipState, key: tuple[View, int], frame: Tensor, masks: Tensor, reference: Tensor):
        """One chunk of passes replayed from its CUDA graph, recorded on first use; all the clip's graphs share
        one memory pool, since they run one after another."""
        graphed = state.graphs.get(key)
        if graphed is None:
            pool = next(iter(state.graphs.values())).pool if state.graphs else None
            graphed = GraphedPass(lambda x, m: state.model(x, m, reference), frame, masks, pool=pool)
            state.graphs[key] = graphed
        return graphed(frame, masks)

    def _reference_distribution(self, mask: np.ndarray, object_ids: list[int]) -> Tensor:
        """The annotated frame's own one-hot distribution, (K+1, H, W), at the source size."""
        labels = np.zeros(mask.shape, dtype=np.int64)
        for slot, object_id in enumerate(object_ids, start=1):
            labels[mask == object_id] = slot
        return F.one_hot(torch.from_numpy(labels), len(object_ids) + 1).permute(2, 0, 1).float()

    def _result(self, index: int, frame: np.ndarray, distribution: Tensor, state: _ClipState) -> FrameResult:
        if distribution.shape[-2:] != state.source_size:  # a network output on the padded canvas
            distribution = state.canvas.crop(distribution)
            if distribution.shape[-2:] != state.source_size:
                distribution = resize(distribution[None], state.source_size)[0]
        probs = distribution.float().cpu().numpy()
        if distribution.is_cuda:  # on a GPU, where it takes microseconds instead of milliseconds on the host
            slots = distribution.argmax(dim=0).to(torch.uint8).cpu().numpy()
        else:  # NumPy: 8x faster than torch's argmax over the leading dimension on a CPU
            slots = probs.argmax(axis=0)
        ids = np.array([0, *state.object_ids], dtype=np.uint8)
        return FrameResult(index, probs, ids[slots], list(state.object_ids), frame)


Window = tuple[int, int, int, int]
"""(top, left, bottom, right) of a part of the frame, in source pixels."""
ZOOM_MARGIN = 2.0
"""A zoomed window is the objects' box grown this many times (chosen on the dev split, over 2.5 and 3.5)."""
ZOOM_MIN_HEIGHT = 0.5
"""...and at least this fraction of the frame's height (a 2× zoom at most)."""


def zoom_window(masks: Tensor, size: tuple[int, int]) -> Window:
    """Where a zoomed session looks next: around the pixels where any of ``masks`` (B, H, W) exceeds one half.

    The box of those pixels grown :data:`ZOOM_MARGIN` times about its centre, at least :data:`ZOOM_MIN_HEIGHT` of
    the frame's height, with the frame's aspect ratio and moved inside the frame; the whole frame when that is not
    smaller, or when no object is left.
    """
    height, width = size
    rows, cols = torch.nonzero(masks.amax(dim=0) > 0.5, as_tuple=True)
    if rows.numel() == 0:
        return 0, 0, height, width
    top, bottom, left, right = int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1
    aspect = width / height
    h = max((bottom - top) * ZOOM_MARGIN, (right - left) * ZOOM_MARGIN / aspect, height * ZOOM_MIN_HEIGHT)
    if h >= height:
        return 0, 0, height, width
    h, w = round(h), min(width, round(h * aspect))
    y = min(max(round((top + bottom - h) / 2), 0), height - h)
    x = min(max(round((left + right - w) / 2), 0), width - w)
    return y, x, y + h, x + w


def _crop(x: Tensor, window: Window) -> Tensor:
    """``x`` (..., H, W) → (..., window height, window width)."""
    top, left, bottom, right = window
    return x[..., top:bottom, left:right]


def _paste(x: Tensor, window: Window, size: tuple[int, int]) -> Tensor:
    """(C, h, w) values of a window (at any resolution) → (C, H, W) at the source size, zeros outside it."""
    top, left, bottom, right = window
    out = x.new_zeros((x.shape[0], *size))
    out[:, top:bottom, left:right] = resize(x[None], (bottom - top, right - left))[0]
    return out


def _mirror(x: Tensor, view: View) -> Tensor:
    """``x`` (..., H, W) flipped left-right in a mirrored view, unchanged otherwise (flipping is its own inverse)."""
    return x.flip(-1) if view[1] else x


def parse_scales(text: str) -> tuple[float, ...]:
    """ "0.5,0.75,1.0" → (0.5, 0.75, 1.0); spaces and empty parts ("0.5, 1,") are ignored.

    Raises:
        SessionError: a part is not a number, or there is none.
    """
    try:
        scales = tuple(float(part) for part in text.replace(" ", "").split(",") if part)
    except ValueError:
        scales = ()
    if not scales:
        raise SessionError(f"scales must be comma-separated numbers such as 0.5,0.75,1.0, got {text!r}")
    return scales


def _processing_size(height: int, width: int, size: int | None) -> tuple[int, int]:
    """Frame size after scaling the short side down to ``size`` (unchanged when ``size`` is None or not smaller
    than the short side: frames are never enlarged)."""
    if size is None or min(height, width) <= size:
        return height, width
    factor = size / min(height, width)
    return max(1, round(height * factor)), max(1, round(width * factor))


def _check_frame(frame: np.ndarray, size: tuple[int, int], index: int) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise SessionError(f"frame {index}: expected an (H, W, 3) uint8 RGB array, got {frame.shape} {frame.dtype}")
    if frame.shape[:2] != tuple(size):
        raise SessionError(
            f"frame {index} is {frame.shape[1]}x{frame.shape[0]} but the mask/first frame is {size[1]}x{size[0]}"
        )
    if not frame.flags.writeable or not frame.flags.c_contiguous:
        frame = np.array(frame, order="C")  # torch.from_numpy needs a writable, contiguous array
    return frame


def _compress(frame: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def _decompress(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def _frame_iterator(frames: Iterable[np.ndarray] | str | Path) -> Iterator[np.ndarray]:
    if isinstance(frames, (str, Path)):
        from rgmp.io.video import iter_frame_folder, iter_video

        path = Path(frames)
        if path.is_dir():
            return (frame for _, frame in iter_frame_folder(path))
        return iter_video(path)
    return iter(frames)
