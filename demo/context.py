"""What the page's handlers share: the prepared networks, the device, the limits and the users' folders."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from demo.limits import Limits
from demo.models import STARTER, ModelCache
from demo.workspace import Workspace, sweep
from rgmp.inference import PreparedNetwork


@dataclass
class DemoContext:
    """The page's shared set-up.

    Attributes:
        networks: prepared networks by model key (:func:`demo.models.prepared_networks`), kept between runs.
        device: where sessions run.
        limits: what is accepted.
        work_root: parent of the users' private folders.
        default_size: processing size (short side, px) of the API and of the page's default; None = the
            model's (``config.default_size``).
        default_model: the model key used when none is chosen, and by the API (:func:`demo.models.default_model`).
    """

    networks: ModelCache[PreparedNetwork]
    device: torch.device
    limits: Limits
    work_root: Path
    default_size: int | None = None
    default_model: str = STARTER

    def workspace(self, workspace: Workspace | None) -> Workspace:
        """The user's workspace, created on first use (old folders of gone users are swept then)."""
        if workspace is None:
            sweep(self.work_root, self.limits.file_age_s)
            workspace = Workspace(self.work_root)
        workspace.touch()
        return workspace
