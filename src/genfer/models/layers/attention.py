"""Self-attention over the positions of a feature map."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class SelfAttention2d(nn.Module):
    """SAGAN self-attention (Zhang et al. 2019): ``x + gamma * softmax(f(x)^T g(x)) h(x)``.

    Queries and keys are 1x1 convs to ``channels // 8`` (at least 1), values a 1x1 conv to
    ``channels``; ``gamma`` starts at 0 so the block starts as the identity.

    Args:
        channels: input and output channels.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        k = max(1, channels // 8)
        self.query = nn.Conv2d(channels, k, 1)
        self.key = nn.Conv2d(channels, k, 1)
        self.value = nn.Conv2d(channels, channels, 1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: Tensor) -> Tensor:
        """x: [B, C, H, W] -> [B, C, H, W]."""
        b, c, h, w = x.shape
        q = self.query(x).flatten(2).transpose(1, 2)  # [B, HW, k]
        k = self.key(x).flatten(2)  # [B, k, HW]
        v = self.value(x).flatten(2)  # [B, C, HW]
        attn = torch.softmax(torch.bmm(q, k), dim=-1)  # [B, HW(query), HW(key)]
        out = torch.bmm(v, attn.transpose(1, 2)).view(b, c, h, w)
        return x + self.gamma * out


__all__ = ["SelfAttention2d"]
