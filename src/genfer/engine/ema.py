"""Exponential moving averages of a method's networks (``train.ema``).

The average lives beside the live weights under the same state-dict keys as the method's
(``G.enc.0.weight``...), so a checkpoint stores it as a second file (``ema.safetensors``) that
inference loads over the trained weights. While training, ``applied()`` swaps the averaged
weights into the live networks for sample grids and evaluation and swaps them back afterwards,
so the optimizers never see them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn


class EMA:
    """Averages of the parameters of ``method``'s networks ``names``; buffers are copied.

    Args:
        method: the module owning the networks.
        names: attribute names of the averaged networks (``Method.ema_modules()``).
        decay: weight of the old average per update (e.g. 0.999).
        start: updates before averaging starts; until then the average copies the weights.
    """

    def __init__(self, method: nn.Module, names: list[str], decay: float, start: int = 0) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"train.ema must be in (0, 1) (0 = off); got {decay}")
        if not names:
            raise ValueError(f"{type(method).__name__} names no networks for EMA (ema_modules() is empty)")
        self.decay, self.start = decay, start
        self.params: dict[str, Tensor] = {}
        self.buffers: dict[str, Tensor] = {}
        for name in names:
            mod = getattr(method, name)
            self.params |= {f"{name}.{k}": p for k, p in mod.named_parameters()}
            self.buffers |= {f"{name}.{k}": b for k, b in mod.named_buffers()}
        self.shadow = {k: t.detach().clone() for k, t in (self.params | self.buffers).items()}

    @torch.no_grad()
    def update(self, step: int) -> None:
        """Fold in the weights after iteration ``step`` (1-based count of iterations done)."""
        copy = step <= self.start
        for k, p in self.params.items():
            if copy:
                self.shadow[k].copy_(p)
            else:
                self.shadow[k].lerp_(p.detach(), 1.0 - self.decay)
        for k, b in self.buffers.items():
            self.shadow[k].copy_(b)

    def state_dict(self) -> dict[str, Tensor]:
        return dict(self.shadow)

    @torch.no_grad()
    def load_state_dict(self, tensors: dict[str, Tensor]) -> None:
        missing = set(self.shadow) - set(tensors)
        if missing:
            raise KeyError(f"EMA weights lack {sorted(missing)[:5]}")
        for k, t in self.shadow.items():
            t.copy_(tensors[k])

    @torch.no_grad()
    def adopt(self) -> None:
        """The live networks take the averaged weights for good (a stage that starts from them)."""
        for k, t in (self.params | self.buffers).items():
            t.copy_(self.shadow[k])

    @contextmanager
    def applied(self) -> Iterator[None]:
        """Inside, the live networks hold the averaged weights; the trained ones come back after."""
        live = self.params | self.buffers
        saved = {k: t.detach().clone() for k, t in live.items()}
        self.adopt()
        try:
            yield
        finally:
            with torch.no_grad():
                for k, t in live.items():
                    t.copy_(saved[k])


__all__ = ["EMA"]
