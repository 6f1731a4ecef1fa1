"""Small convolutional building blocks shared by the methods' networks."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from genfer.models.layers.norms import InstanceNorm2d, instance_norm_relu


class ConvNormReLU(nn.Module):
    """Conv (no bias, "same" padding) -> affine instance norm -> ReLU.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: odd square kernel size.
        eps: instance-norm epsilon.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, eps: float = 1e-3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False)
        self.norm = InstanceNorm2d(out_channels, eps=eps, affine=True)

    def forward(self, x: Tensor) -> Tensor:
        """x: [B, C_in, H, W] -> [B, C_out, H, W]."""
        n = self.norm
        return instance_norm_relu(self.conv(x), n.weight, n.bias, n.eps)


class PlainResBlock(nn.Module):
    """``x + ReLU(Conv3x3(x))``: a residual block without normalisation.

    Args:
        channels: input and output channels.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        """x: [B, C, H, W] -> [B, C, H, W]."""
        return x + F.relu(self.conv(x))


__all__ = ["ConvNormReLU", "PlainResBlock"]
