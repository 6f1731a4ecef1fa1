"""``nn.Conv2d`` and ``nn.ConvTranspose2d`` whose bias gradient is a plain sum on CPU.

On CPU, asking the library's convolution backward for the bias gradient as well costs far more
than the sum it is: with channels-last maps, one thread, the transposed convolution's backward
takes 23.8 ms with it against 13.8 ms without at ``[60, 96, 16, 16] -> [60, 48, 32, 32]`` (bf16),
and 476 against 323 ms at ``[40, 128, 64, 64] -> [40, 64, 128, 128]`` (fp32, 2 threads), while
``grad.sum((0, 2, 3))`` takes 0.2 and 12 ms (``benchmarks/RESULTS.md``, JESRL stop 34). These
layers keep the module's parameters and function, run the forward unchanged, and in the backward
ask the convolution for the input and weight gradients only. Other devices, and calls without a
graph, use the library's path. Not twice differentiable.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable


class _ConvSumBias(torch.autograd.Function):
    """``torch.convolution`` (bias included) whose backward sums the output gradient for the bias."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor, transposed: bool, stride: list[int],
                padding: list[int], dilation: list[int], output_padding: list[int], groups: int) -> Tensor:
        ctx.dtypes = x.dtype, weight.dtype, bias.dtype
        if torch.is_autocast_enabled("cpu"):  # autocast's cast, done here so the backward sees it
            dt = torch.get_autocast_dtype("cpu")
            x, weight, bias = x.to(dt), weight.to(dt), bias.to(dt)
        ctx.args = stride, padding, dilation, transposed, output_padding, groups
        ctx.save_for_backward(x, weight)
        return torch.convolution(x, weight, bias, stride, padding, dilation, transposed, output_padding, groups)

    @staticmethod
    @once_differentiable
    def backward(ctx, g: Tensor):
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        gx = gw = gb = None
        if need_x or need_w:
            gx, gw, _ = torch.ops.aten.convolution_backward(
                g.to(x.dtype), x, weight, None, *ctx.args, [need_x, need_w, False])
        if need_b:
            gb = g.sum((0, 2, 3)).to(ctx.dtypes[2])  # in g's dtype, as the library's: 8x faster in bf16
        gx = gx.to(ctx.dtypes[0]) if gx is not None else None
        gw = gw.to(ctx.dtypes[1]) if gw is not None else None
        return gx, gw, gb, None, None, None, None, None, None


def _use_sum_bias(m: nn.Module, x: Tensor) -> bool:
    return m.sum_bias and m.bias is not None and x.device.type == "cpu" and torch.is_grad_enabled() and x.dim() == 4


class SumBiasConv2d(nn.Conv2d):
    """``nn.Conv2d`` (same parameters, keys and function) with the cheap CPU bias gradient.

    Zero padding only (``padding_mode="zeros"``), as the layers that use it. ``sum_bias = False``
    (per instance) gives the library's path back.
    """

    sum_bias = True

    def forward(self, x: Tensor) -> Tensor:
        """``x`` ``[B, C_in, H, W]`` -> ``[B, C_out, H', W']``."""
        if self.padding_mode != "zeros" or isinstance(self.padding, str) or not _use_sum_bias(self, x):
            return super().forward(x)
        return _ConvSumBias.apply(x, self.weight, self.bias, False, list(self.stride), list(self.padding),
                                  list(self.dilation), [0, 0], self.groups)


class SumBiasConvTranspose2d(nn.ConvTranspose2d):
    """``nn.ConvTranspose2d`` (same parameters, keys and function) with the cheap CPU bias gradient.

    ``sum_bias = False`` (per instance) gives the library's path back.
    """

    sum_bias = True

    def forward(self, x: Tensor, output_size: list[int] | None = None) -> Tensor:
        """``x`` ``[B, C_in, H, W]`` -> ``[B, C_out, H', W']``."""
        if output_size is not None or not _use_sum_bias(self, x):
            return super().forward(x, output_size)
        return _ConvSumBias.apply(x, self.weight, self.bias, True, list(self.stride), list(self.padding),
                                  list(self.dilation), list(self.output_padding), self.groups)


__all__ = ["SumBiasConv2d", "SumBiasConvTranspose2d"]

