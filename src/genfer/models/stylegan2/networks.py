"""StyleGAN2 generator and discriminator (config F), key for key rosinality's ``model.py``.

``Generator(size, style_dim, n_mlp, channel_multiplier)`` and ``Discriminator(size,
channel_multiplier)`` have rosinality's (@ bef283a) state-dict keys, shapes and order, so the
checkpoints the public encoders publish (``g_ema``, ``g``, ``d``) load into them unchanged; the
layers are genfer's (``genfer.models.layers.stylegan2``: direct FIR convolutions, input-side
modulation). Additions, none of which changes a key:

- ``Generator.forward(styles, constant=None, ...)`` as IFER's copy calls it: ``constant`` (``[B,
  C_4, 4, 4]``, ASIT's structure code) replaces the learnt constant input, and
  ``return_features=True`` also returns the outputs of the second StyledConv at 64, 32 and 16 px
  (in that order, as IFER lists them).
- ``channel_max`` (512 in the release) caps every layer's width, and ``img_channels`` (3) sets
  the image channels, so that tests and small presets can build narrow networks.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from genfer.models.layers.stylegan2 import (
    ConstantInput,
    ConvLayer,
    EqualLinear,
    PixelNorm,
    ResBlock,
    StyledConv,
    ToRGB,
    minibatch_stddev,
)

FEATURE_SIZES = (64, 32, 16)
"""Resolutions of the block features ``Generator.forward(..., return_features=True)`` returns, in order."""


def channel_table(channel_multiplier: float = 2, channel_max: int = 512) -> dict[int, int]:
    """Channels per resolution: ``min(channel_max, 16384 * channel_multiplier / r)`` (rosinality's table at 512)."""
    return {2**i: max(1, min(channel_max, int(16384 * channel_multiplier / 2**i))) for i in range(2, 11)}


def check_size(size: int) -> int:
    """``log2(size)``; raises ``ValueError`` unless ``size`` is a power of two from 8 to 1024."""
    log = int(math.log2(size)) if size > 0 else 0
    if size < 8 or size > 1024 or 2**log != size:
        raise ValueError(f"StyleGAN2 size must be a power of two from 8 to 1024; got {size}")
    return log


class Generator(nn.Module):
    """Mapping network (pixel norm + ``n_mlp`` EqualLinear, lr x ``lr_mlp``) and synthesis network.

    Args:
        size: output side, a power of two from 8 to 1024 (the public models: 256, 1024).
        style_dim: width of z and w (512).
        n_mlp: mapping layers (8).
        channel_multiplier: widths from 64 px up are ``256 * channel_multiplier * 64 / r`` (2 in
            config F).
        blur_kernel: the FIR filter of up- and downsampling ([1, 3, 3, 1]).
        lr_mlp: learning-rate multiplier of the mapping network (0.01).
        channel_max: cap of every width (512).
        img_channels: image channels (3).

    Attributes:
        n_latent: number of styles in W+ (``2 * log2(size) - 2``).
        num_layers: number of noise inputs (``2 * log2(size) - 3``).
    """

    def __init__(self, size: int, style_dim: int = 512, n_mlp: int = 8, channel_multiplier: float = 2,
                 blur_kernel: Sequence[float] = (1, 3, 3, 1), lr_mlp: float = 0.01, channel_max: int = 512,
                 img_channels: int = 3) -> None:
        super().__init__()
        self.size, self.style_dim = size, style_dim
        self.log_size = check_size(size)
        self.style = nn.Sequential(PixelNorm(), *[EqualLinear(style_dim, style_dim, lr_mul=lr_mlp,
                                                               activation="fused_lrelu") for _ in range(n_mlp)])
        self.channels = channel_table(channel_multiplier, channel_max)
        c4 = self.channels[4]
        self.input = ConstantInput(c4)
        self.conv1 = StyledConv(c4, c4, 3, style_dim, blur_kernel=blur_kernel)
        self.to_rgb1 = ToRGB(c4, style_dim, upsample=False, img_channels=img_channels)
        self.num_layers = (self.log_size - 2) * 2 + 1
        self.convs = nn.ModuleList()
        self.upsamples = nn.ModuleList()  # empty, as in the release (keeps its attribute set)
        self.to_rgbs = nn.ModuleList()
        self.noises = nn.Module()
        for i in range(self.num_layers):
            res = (i + 5) // 2
            self.noises.register_buffer(f"noise_{i}", torch.randn(1, 1, 2**res, 2**res))
        c_in = c4
        for i in range(3, self.log_size + 1):
            c_out = self.channels[2**i]
            self.convs.append(StyledConv(c_in, c_out, 3, style_dim, upsample=True, blur_kernel=blur_kernel))
            self.convs.append(StyledConv(c_out, c_out, 3, style_dim, blur_kernel=blur_kernel))
            self.to_rgbs.append(ToRGB(c_out, style_dim, blur_kernel=blur_kernel, img_channels=img_channels))
            c_in = c_out
        self.n_latent = self.log_size * 2 - 2

    # --- latents ----------------------------------------------------------------------------------
    def make_noise(self) -> list[Tensor]:
        """Fresh noise maps, one per layer: ``[1, 1, 4, 4]``, then two per resolution up to ``size``."""
        dev = self.input.input.device
        noises = [torch.randn(1, 1, 4, 4, device=dev)]
        for i in range(3, self.log_size + 1):
            noises += [torch.randn(1, 1, 2**i, 2**i, device=dev) for _ in range(2)]
        return noises

    @torch.no_grad()
    def mean_latent(self, n_latent: int) -> Tensor:
        """Mean of ``n_latent`` mapped random z: ``[1, style_dim]`` (the truncation centre)."""
        z = torch.randn(n_latent, self.style_dim, device=self.input.input.device)
        return self.style(z).mean(0, keepdim=True)

    def get_latent(self, z: Tensor) -> Tensor:
        """Mapping network: ``z [B, style_dim]`` -> ``w [B, style_dim]``."""
        return self.style(z)

    def stored_noise(self) -> list[Tensor]:
        """The noise buffers ``noises.noise_i`` (what ``randomize_noise=False`` uses)."""
        return [getattr(self.noises, f"noise_{i}") for i in range(self.num_layers)]

    def latent_plus(self, styles: list[Tensor] | Tensor, inject_index: int | None = None, truncation: float = 1.0,
                    truncation_latent: Tensor | None = None, input_is_latent: bool = False) -> Tensor:
        """Styles (z or w; one, or two to mix at ``inject_index``) -> W+ ``[B, n_latent, style_dim]``.

        A single ``[B, n_latent, style_dim]`` input with ``input_is_latent`` is W+ as it is.
        """
        styles = [styles] if isinstance(styles, Tensor) else list(styles)
        if not input_is_latent:
            styles = [self.style(s) for s in styles]
        if truncation < 1:
            styles = [truncation_latent + truncation * (s - truncation_latent) for s in styles]
        if len(styles) < 2:
            s = styles[0]
            return s if s.ndim == 3 else s.unsqueeze(1).expand(-1, self.n_latent, -1)
        if inject_index is None:
            inject_index = random.randint(1, self.n_latent - 1)
        a = styles[0].unsqueeze(1).expand(-1, inject_index, -1)
        b = styles[1].unsqueeze(1).expand(-1, self.n_latent - inject_index, -1)
        return torch.cat([a, b], 1)

    # --- synthesis --------------------------------------------------------------------------------
    def synthesis(self, latent: Tensor, constant: Tensor | None = None, noise: Sequence[Tensor | None] | None = None,
                  return_features: bool = False, image: bool = True) -> tuple[Tensor | None, list[Tensor]]:
        """W+ ``[B, n_latent, style_dim]`` -> image ``[B, 3, size, size]`` (raw ToRGB sum, about [-1, 1] when trained).

        Args:
            latent: W+.
            constant: ``[B, C_4, 4, 4]`` replacing the learnt constant input (IFER's structure code).
            noise: one map per layer (``None`` entries draw fresh noise); ``None`` = all fresh.
            return_features: also collect the second StyledConv's output at 64, 32 and 16 px.
            image: ``False``: no ToRGB, and no layer above the largest feature size (image ``None``).

        Returns:
            the image and the features ``[f64, f32, f16]`` (those the size has; empty unless asked).
        """
        if noise is None:
            noise = [None] * self.num_layers
        out = self.input(latent) if constant is None else constant
        out = self.conv1(out, latent[:, 0], noise=noise[0])
        skip = self.to_rgb1(out, latent[:, 1]) if image else None
        feats: dict[int, Tensor] = {}
        i = 1
        for conv1, conv2, n1, n2, to_rgb in zip(self.convs[::2], self.convs[1::2], noise[1::2], noise[2::2],
                                                self.to_rgbs):
            out = conv1(out, latent[:, i], noise=n1)
            out = conv2(out, latent[:, i + 1], noise=n2)
            if return_features and out.shape[-1] in FEATURE_SIZES:
                feats[out.shape[-1]] = out
            if image:
                skip = to_rgb(out, latent[:, i + 2], skip)
            elif out.shape[-1] >= max(FEATURE_SIZES):
                break
            i += 2
        return skip, [feats[s] for s in FEATURE_SIZES if s in feats]

    def features(self, styles: list[Tensor], randomize_noise: bool = True) -> list[Tensor]:
        """``forward(styles, randomize_noise=..., return_features=True)``'s features ``[f64, f32, f16]``,
        without computing the image: the layers above 64 px (two thirds of a 256-px decode's
        multiply-adds) and the ToRGBs are skipped (IFER's alignment source, drawn from random z)."""
        noise = None if randomize_noise else self.stored_noise()
        return self.synthesis(self.latent_plus(styles), None, noise, return_features=True, image=False)[1]

    def forward(self, styles: list[Tensor] | Tensor, constant: Tensor | None = None, return_latents: bool = False,
                inject_index: int | None = None, truncation: float = 1.0, truncation_latent: Tensor | None = None,
                input_is_latent: bool = False, noise: Sequence[Tensor | None] | None = None,
                randomize_noise: bool = True, return_features: bool = False):
        """rosinality's (and IFER's) generator call.

        Args:
            styles: a list of one or two ``[B, style_dim]`` z (or w with ``input_is_latent``), or
                one W+ ``[B, n_latent, style_dim]`` with ``input_is_latent``.
            constant: ``[B, C_4, 4, 4]`` replacing the constant input (IFER's second argument).
            return_latents: return the W+ used (else ``None`` in its place).
            inject_index: style-mixing crossover with two styles (random in [1, n_latent) if None).
            truncation, truncation_latent: ``w' = w_avg + truncation * (w - w_avg)`` when < 1.
            input_is_latent: ``styles`` are w / W+ (skip the mapping network).
            noise: per-layer noise maps; ``None`` = the stored buffers with ``randomize_noise=False``,
                fresh noise otherwise.
            randomize_noise: see ``noise``.
            return_features: also return ``[f64, f32, f16]`` (IFER's third value).

        Returns:
            ``(image [B, 3, size, size], latent or None)``, plus the features list when asked.
        """
        latent = self.latent_plus(styles, inject_index, truncation, truncation_latent, input_is_latent)
        if noise is None and not randomize_noise:
            noise = self.stored_noise()
        image, feats = self.synthesis(latent, constant, noise, return_features)
        if return_features:
            return image, latent if return_latents else None, feats
        return image, latent if return_latents else None


class Discriminator(nn.Module):
    """ResNet discriminator: FromRGB 1 x 1, ResBlocks down to 4 px, minibatch stddev, conv, two linears.

    Args:
        size: input side, a power of two from 8 to 1024.
        channel_multiplier: as the generator's (2).
        blur_kernel: FIR filter of the downsampling ([1, 3, 3, 1]).
        channel_max: cap of every width (512).
        img_channels: image channels (3).
    """

    def __init__(self, size: int, channel_multiplier: float = 2, blur_kernel: Sequence[float] = (1, 3, 3, 1),
                 channel_max: int = 512, img_channels: int = 3) -> None:
        super().__init__()
        log_size = check_size(size)
        channels = channel_table(channel_multiplier, channel_max)
        convs: list[nn.Module] = [ConvLayer(img_channels, channels[size], 1)]
        c_in = channels[size]
        for i in range(log_size, 2, -1):
            c_out = channels[2 ** (i - 1)]
            convs.append(ResBlock(c_in, c_out, blur_kernel))
            c_in = c_out
        self.convs = nn.Sequential(*convs)
        self.stddev_group, self.stddev_feat = 4, 1
        self.final_conv = ConvLayer(c_in + 1, channels[4], 3)
        self.final_linear = nn.Sequential(
            EqualLinear(channels[4] * 4 * 4, channels[4], activation="fused_lrelu"),
            EqualLinear(channels[4], 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        """Images ``[B, 3, size, size]`` in [-1, 1] -> logits ``[B, 1]``."""
        out = minibatch_stddev(self.convs(x), self.stddev_group, self.stddev_feat)
        out = self.final_conv(out)
        return self.final_linear(out.flatten(1))


__all__ = ["FEATURE_SIZES", "Discriminator", "Generator", "channel_table", "check_size"]
