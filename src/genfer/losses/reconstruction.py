"""Pixel reconstruction losses: L1 and L2 (mean squared error), optionally over a mask only."""

from __future__ import annotations

from torch import Tensor


def _masked_mean(d: Tensor, mask: Tensor | None) -> Tensor:
    if mask is None:
        return d.mean()
    w = mask.to(d.dtype).expand_as(d)
    return (d * w).sum() / w.sum().clamp_min(1e-12)  # an empty mask gives 0, not NaN


def l1_loss(x: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean absolute difference; with ``mask``, the mean over masked elements (weighted by ``mask``).

    Args:
        x: ``[B, C, H, W]`` (any shape).
        target: same shape as ``x``.
        mask: weights broadcastable to ``x`` (e.g. ``[B, 1, H, W]`` in [0, 1]); None = everywhere.

    Returns:
        scalar ``sum(mask * |x - target|) / sum(mask)`` (``mask`` expanded to ``x``'s shape).
    """
    return _masked_mean((x - target).abs(), mask)


def l2_loss(x: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean squared difference (the papers' "L2"), with an optional mask as in :func:`l1_loss`."""
    return _masked_mean((x - target).square(), mask)


__all__ = ["l1_loss", "l2_loss"]
