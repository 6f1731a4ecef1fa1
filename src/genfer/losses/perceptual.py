"""Perceptual losses: distances between the features a network extracts from two images.

genfer ships no ImageNet weights, so the extractor is an argument: any module that maps images to
a feature tensor, or to a list/tuple/dict of them (one per layer), e.g. a discriminator's trunk
(TDGAN's face-perceptual loss), a pretrained face net, or a random-init network in tests.
LPIPS (:class:`genfer.metrics.lpips.LPIPS`, with its published weights) is a calibrated variant.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from torch import Tensor, nn

from genfer.losses.reconstruction import l1_loss, l2_loss

Features = Tensor | Sequence[Tensor] | dict[str, Tensor]


def _as_list(f: Features) -> list[Tensor]:
    if isinstance(f, Tensor):
        return [f]
    if isinstance(f, dict):
        return [f[k] for k in sorted(f)]
    return list(f)


def perceptual_loss(
    extractor: Callable[[Tensor], Features],
    x: Tensor,
    target: Tensor,
    distance: str = "l2",
    weights: Sequence[float] | None = None,
    detach_target: bool = True,
) -> Tensor:
    """``sum_l w_l * mean(dist(phi_l(x), phi_l(target)))`` over the extractor's layers.

    Args:
        extractor: images ``[B, C, H, W]`` -> features ``[B, ...]`` or a list/dict of them.
        x: generated images ``[B, C, H, W]``.
        target: reference images, same shape.
        distance: ``l2`` (mean squared difference) or ``l1``.
        weights: one per layer (default: 1 each).
        detach_target: the target's features are a fixed reference (no gradient through them).

    Returns:
        scalar loss; 0 when ``x`` equals ``target``.
    """
    dist = {"l1": l1_loss, "l2": l2_loss}.get(distance)
    if dist is None:
        raise ValueError(f"unknown distance {distance!r}; known: l1, l2")
    fx, ft = _as_list(extractor(x)), _as_list(extractor(target))
    if weights is not None and len(weights) != len(fx):
        raise ValueError(f"{len(weights)} weights for {len(fx)} feature layers")
    total = x.new_zeros(())
    for i, (a, b) in enumerate(zip(fx, ft)):
        w = 1.0 if weights is None else weights[i]
        total = total + w * dist(a, b.detach() if detach_target else b)
    return total


class PerceptualLoss(nn.Module):
    """:func:`perceptual_loss` with a frozen extractor (eval mode, no parameter gradients).

    Args:
        extractor: the feature network; frozen here, so a method lists it among its frozen modules.
        **options: ``distance``, ``weights``, ``detach_target`` of :func:`perceptual_loss`.
    """

    def __init__(self, extractor: nn.Module, **options: Any) -> None:
        super().__init__()
        self.extractor = extractor.eval().requires_grad_(False)
        self.options = options

    def train(self, mode: bool = True) -> PerceptualLoss:
        super().train(mode)
        self.extractor.eval()  # a frozen extractor keeps its eval-mode statistics and dropout off
        return self

    def forward(self, x: Tensor, target: Tensor) -> Tensor:
        """x, target: [B, C, H, W] -> scalar."""
        return perceptual_loss(self.extractor, x, target, **self.options)


def lpips_loss(lpips: nn.Module, x: Tensor, target: Tensor, value_range: tuple[float, float] = (-1.0, 1.0)) -> Tensor:
    """Mean LPIPS distance as a loss (``lpips``: a :class:`genfer.metrics.lpips.LPIPS`, e.g. ``load_lpips()``).

    Args:
        lpips: maps ``(x, y, value_range)`` to per-image distances ``[B]``; differentiable in ``x``.
        x: images ``[B, 3, H, W]`` in ``value_range``.
        target: same shape.
        value_range: the images' range.
    """
    return lpips(x, target, value_range).mean()


__all__ = ["PerceptualLoss", "lpips_loss", "perceptual_loss"]
