"""Small convolutional building blocks shared by the methods' networks."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class InstanceNorm2d(nn.Module):
    """Instance normalisation that keeps the input's memory format.

    The same function as ``nn.InstanceNorm2d(C, eps, affine=affine)`` without running statistics
    (each sample's channels are normalised over H x W with the biased variance), computed as a
    group norm with one channel per group. Unlike ``nn.InstanceNorm2d``, which copies a
    ``channels_last`` input to contiguous NCHW and returns NCHW, this runs on either format and its
    CPU kernel is also faster on contiguous inputs. Parameters are named ``weight``/``bias`` like
    the ``nn`` module's, so state dicts carry over.

    Args:
        num_features: channels C.
        eps: added to the variance.
        affine: learn a per-channel scale (init 1) and shift (init 0).
    """

    def __init__(self, num_features: int, eps: float = 1e-5, affine: bool = False) -> None:
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.affine = affine
        if affine:
            self.weight = nn.Parameter(torch.ones(num_features))
            self.bias = nn.Parameter(torch.zeros(num_features))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x: Tensor) -> Tensor:
        """x: [B, C, H, W] -> [B, C, H, W]."""
        return F.group_norm(x, self.num_features, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, affine={self.affine}"


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
        return F.relu(self.norm(self.conv(x)))


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
