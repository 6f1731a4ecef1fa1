"""Total variation: a smoothness regulariser on images and masks."""

from __future__ import annotations

from torch import Tensor


def total_variation(m: Tensor) -> Tensor:
    """GANimation's mask smoothness: squared neighbour differences summed per image, batch mean.

    Args:
        m: ``[B, ..., H, W]`` (e.g. masks ``[B, 1, H, W]``).

    Returns:
        scalar ``mean_b sum (m[y+1, x] - m[y, x])^2 + (m[y, x+1] - m[y, x])^2``.
    """
    dy = (m[..., 1:, :] - m[..., :-1, :]).square().flatten(1).sum(1)
    dx = (m[..., :, 1:] - m[..., :, :-1]).square().flatten(1).sum(1)
    return (dy + dx).mean()


def total_variation_l1(x: Tensor) -> Tensor:
    """Mean absolute neighbour difference (anisotropic TV), as JESRL weights it.

    Args:
        x: ``[B, C, H, W]``.

    Returns:
        scalar ``mean|x[y+1, x] - x[y, x]| + mean|x[y, x+1] - x[y, x]|``.
    """
    return (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean()


__all__ = ["total_variation", "total_variation_l1"]
