"""The contract between a method and the training engine.

A method is an ``nn.Module`` that owns its networks and computes its losses. It never builds
optimizers, moves itself between devices, wraps DDP or writes files: the engine does all that.

One training iteration is a list of *phases* (``method.phases(step)``); each phase names the
network group whose optimizer it steps. The engine calls ``training_step(batch, phase, cache)`` for
each phase in order, backpropagates the returned loss into that group, and steps its optimizer.
``cache`` is a dict that lives for one iteration, so phases can share work (a generated image, an
encoder feature) instead of recomputing it; the engine starts it as ``{"step": step}``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor, nn


@contextmanager
def frozen(*modules: nn.Module) -> Iterator[None]:
    """No weight gradients for ``modules`` while inside; their inputs still get theirs.

    Used in a generator phase so that backpropagating through a discriminator computes only what
    the generator needs.
    """
    params = [p for m in modules for p in m.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


@dataclass
class LossOut:
    """What one phase returns: the scalar to backpropagate and its named, unweighted parts."""

    loss: Tensor
    terms: dict[str, Tensor] = field(default_factory=dict)


class Method(nn.Module):
    """Base class of every published method genfer implements.

    Subclasses set ``Config`` (their registered dataclass), build their networks in ``__init__``
    and implement ``groups``, ``phases`` and ``training_step``; recognisers also implement
    ``evaluate``. ``best_metric`` names the evaluation figure whose maximum keeps the best
    checkpoint.
    """

    Config: ClassVar[type]
    data_kind: ClassVar[str] = "expressions"
    """What the engine feeds ``training_step``: ``pairs`` (face + expression), ``expressions``."""
    best_metric: ClassVar[str | None] = None

    def __init__(self, cfg: Any) -> None:
        super().__init__()
        self.cfg = cfg

    # --- training -------------------------------------------------------------------------
    def groups(self) -> dict[str, list[nn.Module]]:
        """Network groups, one optimizer each: ``{"G": [enc, dec], "D": [disc]}``."""
        raise NotImplementedError

    def phases(self, step: int) -> list[str]:
        """Group names to update at iteration ``step`` (0-based), in order."""
        raise NotImplementedError

    def to_input(self, images: Tensor) -> Tensor:
        """uint8 images ``[B, C, H, W]`` to the paper's input range (default: float in [0, 1])."""
        return images.float().div_(255)

    def prepare(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Convert every uint8 image tensor of a batch (already on the device) with ``to_input``."""
        return {k: self.to_input(v) if v.dtype == torch.uint8 else v for k, v in batch.items()}

    def training_step(self, batch: dict[str, Tensor], phase: str, cache: dict[str, Any]) -> LossOut:
        raise NotImplementedError

    # --- evaluation and samples -------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, batches: Iterable[dict[str, Tensor]]) -> dict[str, Any]:
        """Figures on held-out data; the default has none."""
        return {}

    @torch.no_grad()
    def samples(self, batch: dict[str, Tensor]) -> tuple[Tensor, int]:
        """A grid of images in [0, 1], ``[N, C, H, W]``, and its number of columns."""
        raise NotImplementedError

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device
