"""StyleGAN2's layers in plain torch ops, with rosinality's module and parameter names.

Karras et al., "Analyzing and Improving the Image Quality of StyleGAN" (CVPR 2020); the layout
(and so every state-dict key) follows rosinality/stylegan2-pytorch @ bef283a, the code the public
encoders (pSp, e4e, ReStyle, StyleCLIP, IFER) load their checkpoints into. The functions are the
same; how they are computed differs where the release is slow on a CPU:

- The upsampling modulated conv (a stride-2 transposed conv in the release) is computed as its
  four phases: ordinary convs with the 2 x 2, 2 x 1, 1 x 2 and 1 x 1 taps of each output parity
  (the same 9 taps), each written straight into its interleaved place in the blur's zero-padded
  input (one autograd function, whose backward only slices); CPU transposed convolutions run at a
  third to a half of the speed of ordinary ones.
- FIR resampling (``upfirdn2d``) is one depthwise convolution per call: a transposed depthwise
  conv of stride 2 for upsampling, a depthwise conv (of stride 2 when a 1 x 1 conv follows) for
  blurring and downsampling. The release's CPU path pads, reshapes and convolves every channel
  as a separate image.
- Modulated convolution builds per-sample demodulated weights and runs one convolution grouped by
  sample, as the release does: on a CPU this is as fast as a dense convolution, and it keeps no
  activation-sized products (scaling the input and output instead costs four passes over the
  activations and keeps two more of them for the backward pass). The weights are the shared
  weight times one ``[B, C_out, C_in]`` factor, written in one pass; the demodulation comes from
  ``s^2 @ sum_kk w^2``, so no per-sample weight is squared or summed, in either pass.
- Inference (no autograd graph) modulates the activations instead, ``conv(x * s, W) * d``: dense
  convolutions, which run faster channels-last than grouped ones, and the plain 3 x 3 convs of
  256 channels or more by Winograd's F(4 x 4, 3 x 3) in float32 on a CPU (``winograd``: 4
  multiply-adds per output instead of 9; ~1e-5 relative rounding). The generator's fp32 forward
  at 256 px went from 4.1 to 3.1 s (batch 8, two Zen 4 cores). ``ModulatedConv2d.winograd = False``
  keeps the direct path.
- Noise injection, bias and leaky ReLU (x sqrt 2) are one autograd function that writes one tensor
  and keeps only it (and the noise map) for the backward pass; the release's CPU path writes four
  (``x + w n``, ``+ b``, leaky ReLU, ``x sqrt 2``). It stays twice differentiable, as R1 and the
  path-length penalty need.
- ``minibatch_stddev`` groups by the largest divisor of the batch up to ``group`` (the release
  fails on a batch that ``group`` does not divide).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genfer.models.layers import winograd

SQRT2 = math.sqrt(2.0)


def make_kernel(k: Sequence[float] | Tensor) -> Tensor:
    """A 1-D FIR ``k`` as its 2-D outer product (or a 2-D kernel as given), normalised to sum 1."""
    k = torch.as_tensor(k, dtype=torch.float32)
    if k.ndim == 1:
        k = k[None, :] * k[:, None]
    return k / k.sum()


def _depthwise(kernel: Tensor, channels: int, dtype: torch.dtype) -> Tensor:
    """``kernel [k, k]`` as the weight ``[C, 1, k, k]`` of a depthwise conv (a view, no copy)."""
    return kernel.to(dtype)[None, None].expand(channels, 1, *kernel.shape)


def upfirdn2d(x: Tensor, kernel: Tensor, up: int = 1, down: int = 1, pad: tuple[int, int] = (0, 0)) -> Tensor:
    """Upsample by zero insertion, pad, convolve each channel with ``kernel``, keep every ``down``-th pixel.

    The function of rosinality's ``upfirdn2d`` (same pads, same output size), computed as one
    depthwise (transposed) convolution.

    Args:
        x: ``[B, C, H, W]``.
        kernel: ``[k, k]`` FIR filter (true convolution: the kernel is flipped for ``conv2d``).
        up: 1 or 2 (with ``down`` = 1).
        down: stride of the output.
        pad: zeros added before and after each spatial side (after upsampling); may be negative.

    Returns:
        ``[B, C, (H * up + pad0 + pad1 - k) // down + 1, ...]``.
    """
    c, k = x.shape[1], kernel.shape[-1]
    pad0, pad1 = pad
    if up == 1:
        flipped = _depthwise(kernel.flip((0, 1)), c, x.dtype)
        if pad0 == pad1 and pad0 >= 0:
            return F.conv2d(x, flipped, stride=down, padding=pad0, groups=c)
        return F.conv2d(_pad(x, pad0, pad1), flipped, stride=down, groups=c)
    if up != 2 or down != 1:
        raise ValueError(f"upfirdn2d: up={up}, down={down} is not supported (up 1 or 2, down 1 when up 2)")
    # zero insertion + pad + convolution == a transposed conv of stride 2 with the kernel as it is,
    # cropped by k - 1 - pad0 at the start; symmetric crops are the conv's own padding.
    start = k - 1 - pad0
    size = x.shape[-1] * 2 + pad0 + pad1 - k + 1
    w = _depthwise(kernel, c, x.dtype)
    if start >= 0 and (x.shape[-1] - 1) * 2 + k - start - size == start:
        return F.conv_transpose2d(x, w, stride=2, padding=start, groups=c)
    out = F.conv_transpose2d(x, w, stride=2, groups=c)
    return _pad(out, -start, size + start - out.shape[-1])


def _pad(x: Tensor, before: int, after: int) -> Tensor:
    """Zero-pad (or crop, when negative) both spatial sides of ``x``."""
    return F.pad(x, [before, after, before, after])


class _Interleave(torch.autograd.Function):
    """Four phases ``[B, C, h, w]`` -> ``[B, C, *size]``: phase ``(a, b)`` at rows ``pad + a :: 2``,
    columns ``pad + b :: 2``, zeros elsewhere. The backward slices the phases back out (autograd's
    slice assignment would clone the whole buffer's gradient once per phase)."""

    @staticmethod
    def forward(ctx, size: tuple[int, int], pad: int, *phases: Tensor) -> Tensor:
        p0 = phases[0]
        h, w = p0.shape[-2:]
        fmt = torch.channels_last if p0.dim() == 4 and p0.is_contiguous(memory_format=torch.channels_last) \
            and not p0.is_contiguous() else torch.contiguous_format
        buf = p0.new_empty(*p0.shape[:2], *size).contiguous(memory_format=fmt)
        buf[..., :pad, :].zero_()
        buf[..., pad + 2 * h:, :].zero_()
        buf[..., :, :pad].zero_()
        buf[..., :, pad + 2 * w:].zero_()
        for i, ph in enumerate(phases):
            a, b = divmod(i, 2)
            buf[..., pad + a:pad + 2 * h:2, pad + b:pad + 2 * w:2] = ph
        ctx.pad, ctx.hw = pad, (h, w)
        return buf

    @staticmethod
    def backward(ctx, g: Tensor):
        pad, (h, w) = ctx.pad, ctx.hw
        return (None, None, *(g[..., pad + a:pad + 2 * h:2, pad + b:pad + 2 * w:2].contiguous()
                              for a in (0, 1) for b in (0, 1)))


class _BiasLeakyReLU(torch.autograd.Function):
    """``leaky_relu(x + b, slope) * gain`` keeping only the output for the backward pass.

    The backward is written in differentiable ops (the multiplier depends only on the output's
    sign), so the function is twice differentiable, as R1 and path-length regularisation need.
    """

    @staticmethod
    def forward(ctx, x: Tensor, bias: Tensor | None, slope: float, gain: float) -> Tensor:
        y = x + bias.to(x.dtype).view(1, -1, *([1] * (x.ndim - 2))) if bias is not None else x.clone()
        y = F.leaky_relu_(y, slope).mul_(gain)
        ctx.save_for_backward(y)
        ctx.slope, ctx.gain, ctx.has_bias = slope, gain, bias is not None
        return y

    @staticmethod
    def backward(ctx, g: Tensor):
        (y,) = ctx.saved_tensors
        # leaky_relu_backward on the result (self_is_result) keeps no input; it has its own derivative
        gx = torch.ops.aten.leaky_relu_backward(g * ctx.gain, y, ctx.slope, True)
        gb = None
        if ctx.has_bias and ctx.needs_input_grad[1]:
            gb = gx.sum([d for d in range(gx.ndim) if d != 1])
        return gx, gb, None, None


class _NoiseBiasLeakyReLU(torch.autograd.Function):
    """``leaky_relu(x + nw * noise + b, slope) * gain`` writing one tensor; keeps it and the noise map."""

    @staticmethod
    def forward(ctx, x: Tensor, nw: Tensor, noise: Tensor, bias: Tensor, slope: float, gain: float) -> Tensor:
        y = torch.addcmul(x, noise.to(x.dtype), nw.to(x.dtype).view(1, 1, 1, 1))
        y.add_(bias.to(x.dtype).view(1, -1, 1, 1))
        y = F.leaky_relu_(y, slope).mul_(gain)
        ctx.save_for_backward(y, noise, nw)
        ctx.slope, ctx.gain = slope, gain
        return y

    @staticmethod
    def backward(ctx, g: Tensor):
        y, noise, nw = ctx.saved_tensors
        gx = torch.ops.aten.leaky_relu_backward(g * ctx.gain, y, ctx.slope, True)
        need = ctx.needs_input_grad
        g_nw = (gx * noise.to(gx.dtype)).sum().reshape(1).to(nw.dtype) if need[1] else None
        g_noise = (gx * nw.to(gx.dtype)).sum(1, keepdim=True).sum_to_size(noise.shape) if need[2] else None
        g_b = gx.sum([0, 2, 3]) if need[3] else None
        return gx, g_nw, g_noise, g_b, None, None


def noise_bias_leaky_relu(x: Tensor, noise_weight: Tensor, noise: Tensor, bias: Tensor, slope: float = 0.2,
                          gain: float = SQRT2) -> Tensor:
    """StyledConv's tail in one pass: ``leaky_relu(x + noise_weight * noise + bias, slope) * gain``.

    Args:
        x: ``[B, C, H, W]``; noise_weight: ``[1]``; noise: ``[B or 1, 1, H, W]``; bias: ``[C]``.
    """
    return _NoiseBiasLeakyReLU.apply(x, noise_weight, noise, bias, slope, gain)


def bias_leaky_relu(x: Tensor, bias: Tensor | None, slope: float = 0.2, gain: float = SQRT2) -> Tensor:
    """``leaky_relu(x + bias, slope) * gain``, bias along dim 1 (rosinality's ``fused_leaky_relu``)."""
    return _BiasLeakyReLU.apply(x, bias, slope, gain)


class FusedLeakyReLU(nn.Module):
    """Learnt bias, leaky ReLU (0.2), gain sqrt 2 (rosinality's ``FusedLeakyReLU``; parameter ``bias``)."""

    def __init__(self, channel: int, bias: bool = True, negative_slope: float = 0.2, scale: float = SQRT2) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channel)) if bias else None
        self.negative_slope, self.scale = negative_slope, scale

    def forward(self, x: Tensor) -> Tensor:
        """``x [B, C, ...]`` -> same shape."""
        return bias_leaky_relu(x, self.bias, self.negative_slope, self.scale)


class PixelNorm(nn.Module):
    """``x / sqrt(mean(x^2 over dim 1) + 1e-8)``."""

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.rsqrt(x.square().mean(1, keepdim=True) + 1e-8)


class EqualLinear(nn.Module):
    """Linear layer with equalised learning rate: the weight is scaled by ``lr_mul / sqrt(in_dim)`` at run time.

    The stored weight is ``randn / lr_mul`` (so the mapping network's 0.01 learning rate is in the
    parametrisation), the bias ``bias_init / lr_mul``-free: it is multiplied by ``lr_mul`` at run time.

    Args:
        in_dim, out_dim: features in and out.
        bias: learn a bias.
        bias_init: its initial value (1 for the style modulations).
        lr_mul: learning-rate multiplier (0.01 in the mapping network).
        activation: ``"fused_lrelu"`` for bias + leaky ReLU x sqrt 2, else none.
    """

    def __init__(self, in_dim: int, out_dim: int, bias: bool = True, bias_init: float = 0.0, lr_mul: float = 1.0,
                 activation: str | None = None) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim).div_(lr_mul))
        self.bias = nn.Parameter(torch.zeros(out_dim).fill_(bias_init)) if bias else None
        self.activation = activation
        self.scale = (1 / math.sqrt(in_dim)) * lr_mul
        self.lr_mul = lr_mul

    def forward(self, x: Tensor) -> Tensor:
        """``x [..., in_dim]`` -> ``[..., out_dim]``."""
        bias = self.bias * self.lr_mul if self.bias is not None else None
        if self.activation:
            return bias_leaky_relu(F.linear(x, self.weight * self.scale), bias)
        return F.linear(x, self.weight * self.scale, bias)

    def extra_repr(self) -> str:
        return f"{self.weight.shape[1]}, {self.weight.shape[0]}, lr_mul={self.lr_mul}, activation={self.activation}"


class EqualConv2d(nn.Module):
    """Conv2d with equalised learning rate (weight scaled by ``1 / sqrt(fan_in)`` at run time)."""

    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, stride: int = 1, padding: int = 0,
                 bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channel, in_channel, kernel_size, kernel_size))
        self.scale = 1 / math.sqrt(in_channel * kernel_size**2)
        self.stride, self.padding = stride, padding
        self.bias = nn.Parameter(torch.zeros(out_channel)) if bias else None

    def forward(self, x: Tensor, stride: int | None = None) -> Tensor:
        """``x [B, C_in, H, W]`` -> ``[B, C_out, H', W']`` (``stride`` overrides the layer's)."""
        return F.conv2d(x, self.weight * self.scale, self.bias, stride=stride or self.stride, padding=self.padding)

    def extra_repr(self) -> str:
        o, i, k, _ = self.weight.shape
        return f"{i}, {o}, {k}, stride={self.stride}, padding={self.padding}"


class Blur(nn.Module):
    """FIR filter over each channel with padding ``pad`` (buffer ``kernel``, times ``upsample_factor**2``)."""

    def __init__(self, kernel: Sequence[float], pad: tuple[int, int], upsample_factor: int = 1) -> None:
        super().__init__()
        k = make_kernel(kernel)
        if upsample_factor > 1:
            k = k * (upsample_factor**2)
        self.register_buffer("kernel", k)
        self.pad = pad

    def forward(self, x: Tensor, down: int = 1) -> Tensor:
        """``x [B, C, H, W]`` -> blurred, padded, every ``down``-th pixel."""
        return upfirdn2d(x, self.kernel, down=down, pad=self.pad)


class Upsample(nn.Module):
    """x2 upsampling through the FIR filter (buffer ``kernel`` = normalised filter x 4)."""

    def __init__(self, kernel: Sequence[float], factor: int = 2) -> None:
        super().__init__()
        self.factor = factor
        k = make_kernel(kernel) * (factor**2)
        self.register_buffer("kernel", k)
        p = k.shape[0] - factor
        self.pad = ((p + 1) // 2 + factor - 1, p // 2)

    def forward(self, x: Tensor) -> Tensor:
        """``[B, C, H, W]`` -> ``[B, C, 2H, 2W]``."""
        return upfirdn2d(x, self.kernel, up=self.factor, pad=self.pad)


class Downsample(nn.Module):
    """x2 downsampling through the FIR filter (buffer ``kernel``)."""

    def __init__(self, kernel: Sequence[float], factor: int = 2) -> None:
        super().__init__()
        self.factor = factor
        k = make_kernel(kernel)
        self.register_buffer("kernel", k)
        p = k.shape[0] - factor
        self.pad = ((p + 1) // 2, p // 2)

    def forward(self, x: Tensor) -> Tensor:
        """``[B, C, H, W]`` -> ``[B, C, H/2, W/2]``."""
        return upfirdn2d(x, self.kernel, down=self.factor, pad=self.pad)


class ModulatedConv2d(nn.Module):
    """Style-modulated convolution with optional demodulation and x2 up- or downsampling.

    Parameters (rosinality's names): ``weight [1, C_out, C_in, k, k]``, ``modulation`` (an
    ``EqualLinear(style_dim, C_in)``, bias initialised to 1), ``blur.kernel`` when resampling.
    Upsampling is a transposed conv of stride 2 with the (unflipped) weight followed by the FIR
    blur, as rosinality computes it, so converted checkpoints give its outputs.

    Inference (no autograd graph) scales the activations instead of the weights, and computes a
    plain 3 x 3 conv on float32 CPU activations by Winograd's F(4 x 4, 3 x 3) (``winograd``);
    set ``winograd = False`` (on the class or one instance) for the direct convolutions.
    """

    winograd: bool = True

    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, style_dim: int, demodulate: bool = True,
                 upsample: bool = False, downsample: bool = False, blur_kernel: Sequence[float] = (1, 3, 3, 1)) -> None:
        super().__init__()
        self.eps = 1e-8
        self.kernel_size, self.in_channel, self.out_channel = kernel_size, in_channel, out_channel
        self.upsample, self.downsample = upsample, downsample
        if upsample:
            factor = 2
            p = (len(blur_kernel) - factor) - (kernel_size - 1)
            self.blur = Blur(blur_kernel, pad=((p + 1) // 2 + factor - 1, p // 2 + 1), upsample_factor=factor)
        if downsample:
            factor = 2
            p = (len(blur_kernel) - factor) + (kernel_size - 1)
            self.blur = Blur(blur_kernel, pad=((p + 1) // 2, p // 2))
        self.scale = 1 / math.sqrt(in_channel * kernel_size**2)
        self.padding = kernel_size // 2
        self.weight = nn.Parameter(torch.randn(1, out_channel, in_channel, kernel_size, kernel_size))
        self.modulation = EqualLinear(style_dim, in_channel, bias_init=1)
        self.demodulate = demodulate
        self._winograd_cache: tuple | None = None

    def forward(self, x: Tensor, style: Tensor) -> Tensor:
        """``x [B, C_in, H, W]``, ``style [B, style_dim]`` -> ``[B, C_out, H', W']`` (H' = 2H, H/2 or H)."""
        b, cin, h, wd = x.shape
        cout = self.out_channel
        weight = self.weight[0] * self.scale  # [C_out, C_in, k, k], shared
        s = self.modulation(style)  # [B, C_in]
        d = None
        if self.demodulate:
            # sum over (C_in, k, k) of (weight * s)^2 == s^2 @ (sum over k, k of weight^2): no per-sample square
            d = torch.rsqrt(s.square() @ weight.square().sum([2, 3]).t() + self.eps)  # [B, C_out]
        graph = torch.is_grad_enabled() and (x.requires_grad or s.requires_grad or self.weight.requires_grad)
        inference = self.winograd and not graph
        frozen = torch.is_grad_enabled() and not self.weight.requires_grad
        if inference and not (self.upsample or self.downsample) and winograd.supported(x, self.kernel_size):
            return winograd.winograd_conv3x3(x, self._winograd_weight(weight), s, d)
        if inference or frozen:
            return self._scaled_activations(x, weight, s, d)
        factor = s.view(b, 1, cin) if d is None else s.view(b, 1, cin) * d.view(b, cout, 1)  # [B, C_out or 1, C_in]
        if self.upsample:
            return self._up(x.reshape(1, b * cin, h, wd), weight, factor)
        w = self._per_sample(weight, factor, b, x.dtype)
        if self.downsample:
            x = self.blur(x)
            out = F.conv2d(x.reshape(1, b * cin, *x.shape[2:]), w, stride=2, groups=b)
        else:
            out = F.conv2d(x.reshape(1, b * cin, h, wd), w, padding=self.padding, groups=b)
        return out.view(b, cout, out.shape[-2], out.shape[-1])

    def _winograd_weight(self, weight: Tensor) -> Tensor:
        """``winograd_weight(weight)``, kept until the parameter changes (its version counter moves)."""
        key = (self.weight._version, self.weight.data_ptr(), weight.dtype)
        if self._winograd_cache is None or self._winograd_cache[0] != key:
            self._winograd_cache = (key, winograd.winograd_weight(weight))
        return self._winograd_cache[1]

    def _scaled_activations(self, x: Tensor, weight: Tensor, s: Tensor, d: Tensor | None) -> Tensor:
        """The same function as ``conv(x, weight * s * d)``, computed as ``conv(x * s, weight) * d``.

        Used when the weight is frozen and gradients flow (inverting or projecting into a fixed
        generator): the per-sample weights' backward must compute their gradient (a weight-gradient
        product as large as the forward) to reach the style, while here the style's gradient comes
        elementwise from the input gradient, which the chain needs anyway, and the frozen shared
        weight gets none. One product fewer per layer in the backward.
        """
        b = x.shape[0]
        x = x * s.view(b, -1, 1, 1).to(x.dtype)
        w = weight.to(x.dtype)
        if self.upsample:
            out = self._up(x, w, None)
        elif self.downsample:
            out = F.conv2d(self.blur(x), w, stride=2)
        else:
            out = F.conv2d(x, w, padding=self.padding)
        return out if d is None else out * d.view(b, -1, 1, 1).to(out.dtype)

    @staticmethod
    def _per_sample(weight: Tensor, factor: Tensor, b: int, dtype: torch.dtype) -> Tensor:
        """``weight [C_out, C_in, kh, kw]`` times ``factor [B, C_out or 1, C_in]`` -> ``[B C_out, C_in, kh, kw]``.

        One pass over the per-sample weights, and their gradient reduces straight onto the shared
        weight and the [B, C_out, C_in] factor.
        """
        w = weight[None] * factor[..., None, None]
        return w.to(dtype).reshape(b * weight.shape[0], *weight.shape[1:])

    def _up(self, xg: Tensor, weight: Tensor, factor: Tensor | None) -> Tensor:
        """Stride-2 transposed conv of ``xg [1, B C_in, H, W]`` as its four phases, then the FIR blur.

        Output pixel ``2i + a`` of the transposed conv is ``sum_d x[i - d] w[a + 2d]``: phase ``(a, b)``
        is an ordinary conv with the taps of parity ``(a, b)`` (2 x 2, 2 x 1, 1 x 2, 1 x 1 for k = 3, the
        transposed conv's 9 taps in all). Each phase is written straight into its interleaved place
        in the blur's zero-padded input (no stack, shuffle or pad copies). Returns ``[B, C_out, 2H, 2W]``.
        ``factor None``: ``xg`` is ``[B, C_in, H, W]`` and the weight is shared by the batch.
        """
        cout, _, k, _ = weight.shape
        k2 = (k + 1) // 2
        bsz, groups = (xg.shape[0], 1) if factor is None else (factor.shape[0], factor.shape[0])
        h, wd = xg.shape[-2:]
        ph, pw = h + k2 - 1, wd + k2 - 1  # each phase's size; 2 ph covers the transposed conv's 2 (H - 1) + k
        pad0, pad1 = self.blur.pad
        pad1 -= 2 * k2 - k  # the phases' last row/column is already zero when k is odd
        size = (pad0 + 2 * ph + max(pad1, 0), pad0 + 2 * pw + max(pad1, 0))
        # parity a's first tap a + 2 (k2 - 1 - p) < k sits at phase offset p; flipped, its taps are every other one
        first = [next((p for p in range(k2) if a + 2 * (k2 - 1 - p) < k), None) for a in (0, 1)]
        flipped = weight.flip((2, 3))
        phases = []
        for a in (0, 1):
            for c in (0, 1):
                if first[a] is None or first[c] is None:  # k = 1: odd pixels get no tap
                    phases.append(xg.new_zeros(bsz, cout, ph, pw))
                    continue
                wk = flipped[:, :, (k - 1 - a) % 2::2, (k - 1 - c) % 2::2]
                if factor is not None:
                    wk = self._per_sample(wk, factor, bsz, xg.dtype)
                o = F.conv2d(xg, wk, padding=k2 - 1, groups=groups)
                o = o[..., first[a]:first[a] + ph, first[c]:first[c] + pw]
                phases.append(o.view(bsz, cout, ph, pw))
        buf = _Interleave.apply(size, pad0, *phases)
        if pad1 < 0:
            buf = buf[..., :size[0] + pad1, :size[1] + pad1]
        return F.conv2d(buf, _depthwise(self.blur.kernel.flip((0, 1)), cout, buf.dtype), groups=cout)

    def extra_repr(self) -> str:
        return (f"{self.in_channel}, {self.out_channel}, {self.kernel_size}, upsample={self.upsample}, "
                f"downsample={self.downsample}, demodulate={self.demodulate}")


class NoiseInjection(nn.Module):
    """Adds ``weight * noise`` (one learnt scalar; fresh N(0, 1) noise ``[B, 1, H, W]`` when none is given)."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, image: Tensor, noise: Tensor | None = None) -> Tensor:
        if noise is None:
            b, _, h, w = image.shape
            noise = image.new_empty(b, 1, h, w).normal_()
        return image + self.weight.to(image.dtype) * noise.to(image.dtype)


class ConstantInput(nn.Module):
    """The learnt constant ``input [1, C, size, size]`` the synthesis network starts from."""

    def __init__(self, channel: int, size: int = 4) -> None:
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channel, size, size))

    def forward(self, latent: Tensor) -> Tensor:
        """``latent [B, ...]`` (for its batch size) -> ``[B, C, size, size]`` (an expanded view)."""
        return self.input.expand(latent.shape[0], -1, -1, -1)


class StyledConv(nn.Module):
    """ModulatedConv2d -> NoiseInjection -> bias + leaky ReLU (``conv``, ``noise``, ``activate``)."""

    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, style_dim: int, upsample: bool = False,
                 blur_kernel: Sequence[float] = (1, 3, 3, 1), demodulate: bool = True) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(in_channel, out_channel, kernel_size, style_dim, upsample=upsample,
                                    blur_kernel=blur_kernel, demodulate=demodulate)
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_channel)

    def forward(self, x: Tensor, style: Tensor, noise: Tensor | None = None) -> Tensor:
        """``x [B, C_in, H, W]``, ``style [B, style_dim]``, ``noise [B or 1, 1, H', W']`` -> ``[B, C_out, H', W']``."""
        out = self.conv(x, style)
        if noise is None:
            noise = out.new_empty(out.shape[0], 1, *out.shape[2:]).normal_()
        return noise_bias_leaky_relu(out, self.noise.weight, noise, self.activate.bias,
                                     self.activate.negative_slope, self.activate.scale)


class ToRGB(nn.Module):
    """1 x 1 modulated conv (no demodulation) to the image channels plus ``bias``; adds the upsampled skip."""

    def __init__(self, in_channel: int, style_dim: int, upsample: bool = True,
                 blur_kernel: Sequence[float] = (1, 3, 3, 1), img_channels: int = 3) -> None:
        super().__init__()
        if upsample:
            self.upsample = Upsample(blur_kernel)
        self.conv = ModulatedConv2d(in_channel, img_channels, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, img_channels, 1, 1))

    def forward(self, x: Tensor, style: Tensor, skip: Tensor | None = None) -> Tensor:
        """``x [B, C, H, W]``, ``skip [B, 3, H/2, W/2]`` or None -> ``[B, 3, H, W]``."""
        out = self.conv(x, style) + self.bias.to(x.dtype)
        if skip is not None:
            out = out + self.upsample(skip)
        return out


class ConvLayer(nn.Sequential):
    """[Blur ->] EqualConv2d [-> FusedLeakyReLU]; children numbered as rosinality's (``0``, ``1``, ``2``).

    A downsampling 1 x 1 layer blurs with stride 2 and convolves with stride 1: the pixels the
    strided 1 x 1 conv would skip are never computed.
    """

    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, downsample: bool = False,
                 blur_kernel: Sequence[float] = (1, 3, 3, 1), bias: bool = True, activate: bool = True) -> None:
        layers: list[nn.Module] = []
        if downsample:
            factor = 2
            p = (len(blur_kernel) - factor) + (kernel_size - 1)
            layers.append(Blur(blur_kernel, pad=((p + 1) // 2, p // 2)))
            stride, self_padding = 2, 0
        else:
            stride, self_padding = 1, kernel_size // 2
        layers.append(EqualConv2d(in_channel, out_channel, kernel_size, padding=self_padding, stride=stride,
                                  bias=bias and not activate))
        if activate:
            layers.append(FusedLeakyReLU(out_channel, bias=bias))
        super().__init__(*layers)
        self.padding = self_padding
        self.downsample, self.kernel_size = downsample, kernel_size

    def forward(self, x: Tensor) -> Tensor:
        """``[B, C_in, H, W]`` -> ``[B, C_out, H or H/2, ...]``."""
        if self.downsample and self.kernel_size == 1:
            x = self[1](self[0](x, down=2), stride=1)
            return self[2](x) if len(self) > 2 else x
        for m in self:
            x = m(x)
        return x


class ResBlock(nn.Module):
    """Discriminator block: two 3 x 3 ConvLayers (the second downsampling) plus a 1 x 1 skip, / sqrt 2."""

    def __init__(self, in_channel: int, out_channel: int, blur_kernel: Sequence[float] = (1, 3, 3, 1)) -> None:
        super().__init__()
        self.conv1 = ConvLayer(in_channel, in_channel, 3)
        self.conv2 = ConvLayer(in_channel, out_channel, 3, downsample=True, blur_kernel=blur_kernel)
        self.skip = ConvLayer(in_channel, out_channel, 1, downsample=True, activate=False, bias=False,
                              blur_kernel=blur_kernel)

    def forward(self, x: Tensor) -> Tensor:
        """``[B, C_in, H, W]`` -> ``[B, C_out, H/2, W/2]``."""
        return (self.conv2(self.conv1(x)) + self.skip(x)) * (1 / SQRT2)


def minibatch_stddev(x: Tensor, group: int = 4, n_feat: int = 1) -> Tensor:
    """Append the minibatch standard deviation as ``n_feat`` channels: ``[B, C, H, W]`` -> ``[B, C + n_feat, H, W]``.

    Samples are split into groups of ``g`` = the largest divisor of B up to ``group``; each
    sample gets, per feature split, the mean over (C / n_feat, H, W) of the std over its group.
    """
    b, c, h, w = x.shape
    g = max(d for d in range(1, min(b, group) + 1) if b % d == 0)
    y = x.view(g, -1, n_feat, c // n_feat, h, w)
    y = torch.sqrt(y.float().var(0, unbiased=False) + 1e-8)  # [B/g, F, C/F, H, W]
    y = y.mean([2, 3, 4], keepdim=True).squeeze(2).to(x.dtype)  # [B/g, F, 1, 1]
    y = y.repeat(g, 1, h, w)
    return torch.cat([x, y], 1)


__all__ = [
    "Blur", "ConstantInput", "ConvLayer", "Downsample", "EqualConv2d", "EqualLinear", "FusedLeakyReLU",
    "ModulatedConv2d", "NoiseInjection", "PixelNorm", "ResBlock", "StyledConv", "ToRGB", "Upsample",
    "bias_leaky_relu", "make_kernel", "minibatch_stddev", "noise_bias_leaky_relu", "upfirdn2d",
]
