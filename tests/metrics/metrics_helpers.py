"""Shared helpers for the metrics tests: random-init networks whose activations stay O(1)."""

from __future__ import annotations

import torch
from torch import nn


def kaiming_init(model: nn.Module, seed: int = 0) -> nn.Module:
    """He-normal convolutions (fan-in, ReLU gain) so deep random nets neither vanish nor explode."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            fan_in = m.weight[0].numel()
            with torch.no_grad():
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5)
                if m.bias is not None:
                    m.bias.zero_()
    return model.eval()


def smooth_images(n: int, size: int, seed: int = 0) -> torch.Tensor:
    """``[n, 3, size, size]`` smooth random images in [0, 1] (upsampled low-resolution noise)."""
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(n, 3, 6, 6, generator=g)
    return torch.nn.functional.interpolate(low, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)
