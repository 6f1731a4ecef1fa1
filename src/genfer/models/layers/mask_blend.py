"""GANimation's output: a colour image and an attention mask, blended with the input image.

The generator predicts ``C + 1`` channels; the first ``C`` through tanh are a colour image, the last
through a sigmoid a mask ``A`` that says where to keep the input (Pumarola et al. 2018): the output
is ``A * x + (1 - A) * colour``, so the network only paints where the expression changes.
"""

from __future__ import annotations

import torch
from torch import Tensor


def colour_and_mask(z: Tensor) -> tuple[Tensor, Tensor]:
    """Raw outputs ``[B, C + 1, H, W]`` -> (colour ``[B, C, H, W]`` in [-1, 1], mask ``[B, 1, H, W]`` in [0, 1])."""
    return torch.tanh(z[:, :-1]), torch.sigmoid(z[:, -1:])


def mask_blend(x: Tensor, colour: Tensor, mask: Tensor) -> Tensor:
    """``mask * x + (1 - mask) * colour``: mask 1 keeps the input ``x``, 0 takes ``colour``.

    Args:
        x: the input image ``[B, C, H, W]``.
        colour: the generated colour image, same shape.
        mask: ``[B, 1, H, W]`` (or broadcastable) in [0, 1].
    """
    return mask * x + (1 - mask) * colour


__all__ = ["colour_and_mask", "mask_blend"]
