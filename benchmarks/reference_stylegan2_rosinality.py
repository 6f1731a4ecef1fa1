"""A re-enactment of rosinality's StyleGAN2 generator on its native CPU path, for speed comparisons only.

Written from the algorithm as the release's CPU path runs it (rosinality/stylegan2-pytorch @ bef283a,
``op/upfirdn2d.py::upfirdn2d_native``, ``op/fused_act.py`` CPU branch, ``model.py`` fused
``ModulatedConv2d``), not copied: ``upfirdn2d`` reshapes the tensor to one single-channel image
per (sample, channel), inserts zeros, pads and convolves them with the flipped 2-D kernel, then
subsamples; ``fused_leaky_relu`` is ``leaky_relu(x + b, 0.2) * sqrt(2)`` in Python; modulated
convolutions build per-sample demodulated weights and run one convolution grouped by sample
(transposed with stride 2 when upsampling, then the blur). Parameter names equal the release's,
so genfer's ``Generator`` state dict loads into it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def upfirdn2d_native(x, kernel, up=1, down=1, pad=(0, 0)):
    _, c, h, w = x.shape
    kh, kw = kernel.shape
    p0, p1 = pad
    out = x.reshape(-1, h, 1, w, 1, 1)
    out = F.pad(out, [0, 0, 0, up - 1, 0, 0, 0, up - 1])
    out = out.view(-1, h * up, w * up, 1)
    out = F.pad(out, [0, 0, max(p0, 0), max(p1, 0), max(p0, 0), max(p1, 0)])
    out = out[:, max(-p0, 0): out.shape[1] - max(-p1, 0), max(-p0, 0): out.shape[2] - max(-p1, 0), :]
    out = out.permute(0, 3, 1, 2)
    out = out.reshape([-1, 1, h * up + p0 + p1, w * up + p0 + p1])
    out = F.conv2d(out, torch.flip(kernel, [0, 1]).view(1, 1, kh, kw))
    out = out.reshape(-1, 1, h * up + p0 + p1 - kh + 1, w * up + p0 + p1 - kw + 1)
    out = out.permute(0, 2, 3, 1)
    out = out[:, ::down, ::down, :]
    oh = (h * up + p0 + p1 - kh) // down + 1
    ow = (w * up + p0 + p1 - kw) // down + 1
    return out.view(-1, c, oh, ow)


def fused_leaky_relu(x, bias, scale=2**0.5):
    return F.leaky_relu(x + bias.view(1, bias.shape[0], *[1] * (x.ndim - 2)), negative_slope=0.2) * scale


def make_kernel(k):
    k = torch.tensor(k, dtype=torch.float32)
    k = k[None, :] * k[:, None]
    return k / k.sum()


class Blur(nn.Module):
    def __init__(self, kernel, pad, factor=1):
        super().__init__()
        self.register_buffer("kernel", make_kernel(kernel) * factor**2)
        self.pad = pad

    def forward(self, x):
        return upfirdn2d_native(x, self.kernel, pad=self.pad)


class Upsample(nn.Module):
    def __init__(self, kernel):
        super().__init__()
        self.register_buffer("kernel", make_kernel(kernel) * 4)
        p = 4 - 2
        self.pad = ((p + 1) // 2 + 1, p // 2)

    def forward(self, x):
        return upfirdn2d_native(x, self.kernel, up=2, pad=self.pad)


class EqualLinear(nn.Module):
    def __init__(self, i, o, bias_init=0.0, lr_mul=1.0, activation=None):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(o, i).div_(lr_mul))
        self.bias = nn.Parameter(torch.zeros(o).fill_(bias_init))
        self.activation, self.scale, self.lr_mul = activation, lr_mul / math.sqrt(i), lr_mul

    def forward(self, x):
        if self.activation:
            return fused_leaky_relu(F.linear(x, self.weight * self.scale), self.bias * self.lr_mul)
        return F.linear(x, self.weight * self.scale, bias=self.bias * self.lr_mul)


class ModulatedConv2d(nn.Module):
    def __init__(self, cin, cout, k, style_dim, demodulate=True, upsample=False):
        super().__init__()
        self.k, self.cin, self.cout, self.upsample, self.demodulate = k, cin, cout, upsample, demodulate
        if upsample:
            p = (4 - 2) - (k - 1)
            self.blur = Blur([1, 3, 3, 1], pad=((p + 1) // 2 + 1, p // 2 + 1), factor=2)
        self.scale = 1 / math.sqrt(cin * k * k)
        self.padding = k // 2
        self.weight = nn.Parameter(torch.randn(1, cout, cin, k, k))
        self.modulation = EqualLinear(style_dim, cin, bias_init=1)

    def forward(self, x, style):
        b, cin, h, w = x.shape
        style = self.modulation(style).view(b, 1, cin, 1, 1)
        weight = self.scale * self.weight * style
        if self.demodulate:
            demod = torch.rsqrt(weight.pow(2).sum([2, 3, 4]) + 1e-8)
            weight = weight * demod.view(b, self.cout, 1, 1, 1)
        weight = weight.view(b * self.cout, cin, self.k, self.k)
        if self.upsample:
            x = x.view(1, b * cin, h, w)
            weight = weight.view(b, self.cout, cin, self.k, self.k).transpose(1, 2).reshape(
                b * cin, self.cout, self.k, self.k)
            out = F.conv_transpose2d(x, weight, padding=0, stride=2, groups=b)
            out = out.view(b, self.cout, out.shape[-2], out.shape[-1])
            return self.blur(out)
        x = x.view(1, b * cin, h, w)
        out = F.conv2d(x, weight, padding=self.padding, groups=b)
        return out.view(b, self.cout, out.shape[-2], out.shape[-1])


class NoiseInjection(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, image, noise=None):
        if noise is None:
            b, _, h, w = image.shape
            noise = image.new_empty(b, 1, h, w).normal_()
        return image + self.weight * noise


class FusedLeakyReLU(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(c))

    def forward(self, x):
        return fused_leaky_relu(x, self.bias)


class StyledConv(nn.Module):
    def __init__(self, cin, cout, k, style_dim, upsample=False):
        super().__init__()
        self.conv = ModulatedConv2d(cin, cout, k, style_dim, upsample=upsample)
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(cout)

    def forward(self, x, style, noise=None):
        return self.activate(self.noise(self.conv(x, style), noise=noise))


class ToRGB(nn.Module):
    def __init__(self, cin, style_dim, upsample=True):
        super().__init__()
        if upsample:
            self.upsample = Upsample([1, 3, 3, 1])
        self.conv = ModulatedConv2d(cin, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x, style, skip=None):
        out = self.conv(x, style) + self.bias
        if skip is not None:
            out = out + self.upsample(skip)
        return out


class PixelNorm(nn.Module):
    def forward(self, x):
        return x * torch.rsqrt(torch.mean(x**2, dim=1, keepdim=True) + 1e-8)


class ConstantInput(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, c, 4, 4))

    def forward(self, x):
        return self.input.repeat(x.shape[0], 1, 1, 1)


class Generator(nn.Module):
    def __init__(self, size, style_dim=512, n_mlp=8, channel_multiplier=2):
        super().__init__()
        self.size, self.style_dim = size, style_dim
        self.style = nn.Sequential(PixelNorm(), *[EqualLinear(style_dim, style_dim, lr_mul=0.01,
                                                               activation="fused_lrelu") for _ in range(n_mlp)])
        cm = channel_multiplier
        self.channels = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * cm, 128: 128 * cm, 256: 64 * cm,
                         512: 32 * cm, 1024: 16 * cm}
        self.input = ConstantInput(self.channels[4])
        self.conv1 = StyledConv(self.channels[4], self.channels[4], 3, style_dim)
        self.to_rgb1 = ToRGB(self.channels[4], style_dim, upsample=False)
        self.log_size = int(math.log2(size))
        self.num_layers = (self.log_size - 2) * 2 + 1
        self.convs, self.upsamples, self.to_rgbs = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        self.noises = nn.Module()
        for i in range(self.num_layers):
            r = (i + 5) // 2
            self.noises.register_buffer(f"noise_{i}", torch.randn(1, 1, 2**r, 2**r))
        cin = self.channels[4]
        for i in range(3, self.log_size + 1):
            cout = self.channels[2**i]
            self.convs.append(StyledConv(cin, cout, 3, style_dim, upsample=True))
            self.convs.append(StyledConv(cout, cout, 3, style_dim))
            self.to_rgbs.append(ToRGB(cout, style_dim))
            cin = cout
        self.n_latent = self.log_size * 2 - 2

    def forward(self, latent, noise=None):
        """W+ ``[B, n_latent, style_dim]`` -> image (fresh noise unless ``noise`` is given)."""
        return self.synthesis(latent, noise)[0]

    def synthesis(self, latent, noise=None, constant=None, sides=()):
        """The image and, for each side in ``sides``, the second StyledConv's output ``{side: [B, C, side, side]}``."""
        noise = noise or [None] * self.num_layers
        out = self.input(latent) if constant is None else constant
        out = self.conv1(out, latent[:, 0], noise=noise[0])
        skip = self.to_rgb1(out, latent[:, 1])
        feats, i = {}, 1
        for c1, c2, n1, n2, rgb in zip(self.convs[::2], self.convs[1::2], noise[1::2], noise[2::2], self.to_rgbs):
            out = c1(out, latent[:, i], noise=n1)
            out = c2(out, latent[:, i + 1], noise=n2)
            if out.shape[-1] in sides:
                feats[out.shape[-1]] = out
            skip = rgb(out, latent[:, i + 2], skip)
            i += 2
        return skip, feats


class IFERGenerator(Generator):
    """rosinality's generator as IFER calls it (its two additions: a structure code replacing the
    constant input, and the second StyledConv's output at 64, 32 and 16 px returned)."""

    def forward(self, styles, constant=None, return_latents=False, input_is_latent=False, noise=None,
                randomize_noise=True, return_features=False):
        s = styles[0] if input_is_latent else self.style(styles[0])
        latent = s if s.ndim == 3 else s.unsqueeze(1).repeat(1, self.n_latent, 1)
        if noise is None and not randomize_noise:
            noise = [getattr(self.noises, f"noise_{i}") for i in range(self.num_layers)]
        constant = None if constant is None else constant.contiguous()  # the release encoder's is NCHW
        skip, feats = self.synthesis(latent, noise, constant, (64, 32, 16) if return_features else ())
        res = (skip, latent if return_latents else None)
        return (*res, [feats[k] for k in (64, 32, 16) if k in feats]) if return_features else res
