"""Random whole-pixel translation of a batch, differentiable: DiffAugment's translation (Zhao et al.
2020), used to show a discriminator images wherever the face sits, so that a generator cannot
satisfy it with pixel-exact patterns."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def random_shift(x: Tensor, frac: float) -> Tensor:
    """Each image of ``x`` [B, C, H, W] moved by its own random (dx, dy), whole pixels, up to ``frac``
    of the side in each direction; the uncovered border repeats the edge pixels. Gradients flow to
    ``x``. ``frac == 0`` returns ``x`` itself.
    """
    if frac == 0:
        return x
    b, _, h, w = x.shape
    limit = torch.tensor([w * frac, h * frac], device=x.device)
    px = torch.round((torch.rand(b, 2, device=x.device) * 2 - 1) * limit)  # whole-pixel (dx, dy)
    theta = torch.zeros(b, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0] = theta[:, 1, 1] = 1
    theta[:, :, 2] = 2 * px / torch.tensor([w, h], device=x.device)  # pixels -> normalised units
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="nearest", padding_mode="border", align_corners=False)


__all__ = ["random_shift"]
