"""4 x 4 stride-2 convolutions (``Conv4 s2 p1`` and its transpose) with faster CPU paths for small maps.

Both layers are the ``nn`` modules with the same parameters and function; only how the product is
computed changes where the library's CPU kernels are slow: small maps with many channels, as in
the AU cycle GAN's deepest layers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

GEMM_MAX_PIXELS = 64
"""Callers give ``UpConv`` its GEMM path for inputs of at most this many pixels (8 x 8)."""
UNFOLD_MAX_PIXELS = 16
"""``DownConv`` uses its unfold + matrix-product path for outputs of at most this many pixels (4 x 4)."""


class _ConvTranspose4s2(torch.autograd.Function):
    """ConvTranspose2d(kernel 4, stride 2, padding 1) as one GEMM on channels-last memory + col2im.

    On CPU the library's transposed convolution is slow for small maps with many channels (the AU
    cycle GAN generator's first two decoder layers: 3 x 3 x 1041 and 7 x 7 x 1553 inputs); one matrix
    product ``[B*H*W, C_in] @ [C_in, 16 * C_out]`` followed by 16 strided adds computes the same
    function several times faster there. Not twice differentiable (the generator never needs it).
    """

    @staticmethod
    @torch.amp.custom_fwd(device_type="cpu")  # the backward runs in the forward's autocast state
    def forward(ctx, x: Tensor, w: Tensor, output_padding: int) -> Tensor:
        b, c_in, h, wd = x.shape
        c_out = w.shape[1]
        cols = torch.mm(x.permute(0, 2, 3, 1).reshape(b * h * wd, c_in), w.permute(0, 2, 3, 1).reshape(c_in, -1))
        cols = cols.view(b, h, wd, 4, 4, c_out)
        out = x.new_zeros(b, 2 * h + 2, 2 * wd + 2, c_out)  # output padded by one pixel on each side
        for ky in range(4):
            for kx in range(4):
                out[:, ky : ky + 2 * h : 2, kx : kx + 2 * wd : 2].add_(cols[:, :, :, ky, kx])
        ctx.save_for_backward(x, w)
        ho, wo = 2 * h + output_padding, 2 * wd + output_padding
        out = out[:, 1 : 1 + ho, 1 : 1 + wo].permute(0, 3, 1, 2)
        return out.contiguous(memory_format=torch.channels_last)

    @staticmethod
    @once_differentiable
    @torch.amp.custom_bwd(device_type="cpu")
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, Tensor | None, None]:
        x, w = ctx.saved_tensors
        b, c_in, h, wd = x.shape
        c_out = w.shape[1]
        ho, wo = grad.shape[-2:]
        padded = grad.new_zeros(b, 2 * h + 2, 2 * wd + 2, c_out)
        padded[:, 1 : 1 + ho, 1 : 1 + wo] = grad.permute(0, 2, 3, 1)
        cols = grad.new_empty(b, h, wd, 4, 4, c_out)
        for ky in range(4):
            for kx in range(4):
                cols[:, :, :, ky, kx] = padded[:, ky : ky + 2 * h : 2, kx : kx + 2 * wd : 2]
        cols = cols.view(b * h * wd, 16 * c_out)
        gx = gw = None
        if ctx.needs_input_grad[0]:
            gx = torch.mm(cols, w.permute(0, 2, 3, 1).reshape(c_in, -1).t()).view(b, h, wd, c_in)
            gx = gx.permute(0, 3, 1, 2)
        if ctx.needs_input_grad[1]:
            gw = torch.mm(x.permute(0, 2, 3, 1).reshape(b * h * wd, c_in).t(), cols)
            gw = gw.view(c_in, 4, 4, c_out).permute(0, 3, 1, 2)
        return gx, gw, None


class UpConv(nn.ConvTranspose2d):
    """``nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, output_padding)`` (same parameters and function).

    With ``gemm`` (chosen by the generator for inputs of at most ``GEMM_MAX_PIXELS`` pixels) it runs
    through ``_ConvTranspose4s2`` on CPU, and the weight (shape ``[C_in, C_out, 4, 4]`` as usual)
    is stored in ``[C_in, 4, 4, C_out]`` memory order so that the product needs no copy of it.
    Other devices use the library's kernel.
    """

    def __init__(self, c_in: int, c_out: int, output_padding: int = 0, bias: bool = False, gemm: bool = False) -> None:
        super().__init__(c_in, c_out, 4, 2, 1, output_padding=output_padding, bias=bias)
        self.gemm = gemm
        if gemm:
            w = torch.empty(c_in, 4, 4, c_out).permute(0, 3, 1, 2)
            with torch.no_grad():
                w.copy_(self.weight)  # the default initialisation, in the GEMM's memory order
            self.weight = nn.Parameter(w)

    def forward(self, x: Tensor, output_size: list[int] | None = None) -> Tensor:
        """x: [B, C_in, H, W] -> [B, C_out, 2H + output_padding, 2W + output_padding]."""
        if output_size is not None:
            return super().forward(x, output_size)
        return self.apply_with(x, self.weight, self.bias)

    def apply_with(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        """This layer's function with other parameters of the same shapes (folded BatchNorm)."""
        if not self.gemm or x.device.type != "cpu":
            return F.conv_transpose2d(x, weight, bias, 2, 1, self.output_padding)
        y = _ConvTranspose4s2.apply(x, weight, self.output_padding[0])
        return y if bias is None else y + bias[:, None, None]


class DownConv(nn.Conv2d):
    """``nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False)`` (same parameters and function).

    When the output has at most ``UNFOLD_MAX_PIXELS`` pixels (the 7 -> 3 layer at 112 px), the
    CPU convolution kernels are several times slower than ``unfold`` + one matrix product, so
    that path is used there; it is built from differentiable ops, so the critic's gradient
    penalty can differentiate through it twice.
    """

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__(c_in, c_out, 4, 2, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        """x: [B, C_in, H, W] -> [B, C_out, H // 2, W // 2]."""
        return self.apply_with(x, self.weight, None)

    def apply_with(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        """This layer's function with another weight (and an optional bias: folded BatchNorm)."""
        ho, wo = x.shape[-2] // 2, x.shape[-1] // 2
        if x.device.type != "cpu" or ho * wo > UNFOLD_MAX_PIXELS:
            return F.conv2d(x, weight, bias, 2, 1)
        b = x.shape[0]
        cols = F.unfold(x, 4, padding=1, stride=2).transpose(1, 2).reshape(b * ho * wo, -1)  # [B*L, C_in*16]
        # one 2-D product: a batched matmul would expand the weight per sample in the backward
        w = weight.view(self.out_channels, -1).t()
        y = torch.mm(cols, w) if bias is None else torch.addmm(bias, cols, w)
        return y.view(b, ho, wo, self.out_channels).permute(0, 3, 1, 2)


__all__ = ["GEMM_MAX_PIXELS", "UNFOLD_MAX_PIXELS", "DownConv", "UpConv"]
