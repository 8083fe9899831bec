"""CUDA graphs: a network pass recorded once per clip and replayed on every frame.

On a GPU the network's kernels are short, so launching them one by one from Python costs more than running them
(paper model, bf16, 480p on an H100: 5.6 ms a pass launched eagerly, 2.2 ms replayed). A clip keeps one frame size,
so its passes can be recorded once and replayed with new inputs copied into the recorded buffers.

cuDNN's autotuning (``torch.backends.cudnn.benchmark``) is left as the caller set it: before a recording it gained
nothing measurable on an H100 (paper model bf16: 4.8 ms a frame without, 5.3 with) and in fp32 it tried workspaces
of 34 GB.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


class GraphedPass:
    """``fn`` recorded in a CUDA graph with inputs shaped like ``example``; calling it copies the inputs into the
    recorded buffers, replays the graph and returns the recorded output buffer.

    The returned tensor is overwritten by the next call: use it (or copy it) before calling again. Tensors that
    ``fn`` reads besides its arguments (weights, a clip's reference features) must stay alive and in place.

    Example:
        >>> graphed = GraphedPass(lambda x, m: network(x, m, reference), frame, masks)
        >>> logits = graphed(next_frame, next_masks)

    Args:
        fn: the work to record; it must not synchronise with the host (no ``.item()``, no data-dependent shapes).
        example: one input of each argument, on the GPU; replays take inputs of the same shapes and dtypes.
        pool: a memory pool to share with graphs that never run at the same time (``other.pool``).
    """

    def __init__(self, fn: Callable[..., Tensor], *example: Tensor, pool: tuple | None = None) -> None:
        self.inputs = [x.clone() for x in example]
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm-up runs (cuDNN and cuBLAS set-up) stay out of the recording
            for _ in range(2):
                fn(*self.inputs)
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph, pool=pool):
            self.output = fn(*self.inputs)
        self.pool = self.graph.pool()

    def __call__(self, *inputs: Tensor) -> Tensor:
        for buffer, x in zip(self.inputs, inputs, strict=True):
            buffer.copy_(x)
        self.graph.replay()
        return self.output
