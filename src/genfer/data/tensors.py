"""Decoded images in memory: :class:`TensorSet` and the two uint8 conversions every source goes through."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass
class TensorSet:
    """A decoded image set and its per-image labels.

    Attributes:
        images: uint8 ``[N, C, H, W]``.
        expressions: long ``[N]``, canonical expression or -1 (unknown).
        identities: long ``[N]``, identity class or -1 (none).
        aus: float32 ``[N, 17]`` AU intensities in ``AU_NAMES`` order, or None when the source has none.
        name: where the set came from (for messages).
        skipped: the items left out under ``?on_error=skip`` (index problems and images that would
            not decode), one ``"FILE[:LINE]: problem"`` message each.
    """

    images: Tensor
    expressions: Tensor
    identities: Tensor
    aus: Tensor | None = None
    name: str = ""
    skipped: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return self.images.shape[0]

    def subset(self, idx: Tensor) -> TensorSet:
        return TensorSet(
            self.images[idx],
            self.expressions[idx],
            self.identities[idx],
            None if self.aus is None else self.aus[idx],
            self.name,
            list(self.skipped),
        )


def resize_uint8(images: Tensor, size: int) -> Tensor:
    """Antialiased bilinear resize of uint8 [N,C,H,W] images to ``size`` x ``size``."""
    if images.shape[-2:] == (size, size):
        return images
    out = F.interpolate(images.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return out.round_().clamp_(0, 255).to(torch.uint8)


def to_channels(images: Tensor, channels: int) -> Tensor:
    """uint8 [N,C,H,W] to 1 (ITU-R 601 luma) or 3 channels."""
    c = images.shape[1]
    if c == channels:
        return images
    if channels == 1 and c == 3:
        w = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        return (images.float() * w).sum(1, keepdim=True).round_().clamp_(0, 255).to(torch.uint8)
    if channels == 3 and c == 1:
        return images.expand(-1, 3, -1, -1).contiguous()
    raise ValueError(f"cannot convert {c}-channel images to {channels} channels")
