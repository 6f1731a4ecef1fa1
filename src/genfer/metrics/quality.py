"""Pixel-level image quality: MSE/L2, PSNR and SSIM, per image, in float64 pure torch.

Settings that change the numbers, all explicit:
- ``value_range``: the range the images are given in (uint8 tensors are always 0..255).
- ``data_range`` (PSNR, SSIM): the peak-to-peak range of the signal, default the width of
  ``value_range`` (1.0 for [0, 1] images, 255 for uint8).
- ``channel``: ``rgb`` (all channels), ``y`` (full-range BT.601 luma 0.299 R + 0.587 G + 0.114 B,
  OpenCV's YCrCb Y, what the IFER seed measured) or ``y_studio`` (MATLAB/scikit-image
  ``rgb2ycbcr`` Y = (16 + 65.481 R + 128.553 G + 24.966 B) / 255 for R, G, B in [0, 1]).
  Y is expressed in the same ``value_range`` as the input.
- SSIM (Wang et al. 2004): 11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03, population
  (co)variances (``use_sample_covariance=False``), "valid" window positions only (scikit-image
  computes the full map and then crops ``(win - 1) / 2`` pixels from each border, which is the
  same set of values); mean over positions and channels. Equals scikit-image's
  ``structural_similarity(..., gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
  data_range=R, channel_axis=-1)``.
- PSNR: ``10 log10(data_range^2 / MSE)`` with MSE over all pixels and channels of one image
  (scikit-image's ``peak_signal_noise_ratio``); identical images give ``inf``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

CHANNELS: tuple[str, ...] = ("rgb", "y", "y_studio")


def to_float64(images: Tensor, value_range: tuple[float, float]) -> tuple[Tensor, tuple[float, float]]:
    """float64 copy of ``[N, C, H, W]`` images and their range (uint8 -> (0, 255))."""
    if images.dtype == torch.uint8:
        return images.to(torch.float64), (0.0, 255.0)
    return images.to(torch.float64), (float(value_range[0]), float(value_range[1]))


def select_channel(x: Tensor, channel: str, value_range: tuple[float, float]) -> Tensor:
    """``[N, 3, H, W]`` -> the channels a metric is computed on (``[N, 1, H, W]`` for Y)."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel mode {channel!r}; known: {', '.join(CHANNELS)}")
    if channel == "rgb":
        return x
    if x.shape[1] != 3:
        raise ValueError(f"channel={channel!r} needs RGB images, got {x.shape[1]} channels")
    lo, hi = value_range
    u = (x - lo) / (hi - lo)
    r, g, b = u[:, 0:1], u[:, 1:2], u[:, 2:3]
    full = 0.299 * r + 0.587 * g + 0.114 * b  # BT.601 luma weights, full range
    y = full if channel == "y" else (16 + 65.481 * r + 128.553 * g + 24.966 * b) / 255
    return y * (hi - lo) + lo


def _prep(
    x: Tensor, y: Tensor, value_range: tuple[float, float], channel: str
) -> tuple[Tensor, Tensor, tuple[float, float]]:
    if x.shape != y.shape:
        raise ValueError(f"image shapes differ: {tuple(x.shape)} vs {tuple(y.shape)}")
    if x.ndim != 4:
        raise ValueError(f"expected [N, C, H, W] images, got {tuple(x.shape)}")
    x, rng = to_float64(x, value_range)
    y, _ = to_float64(y, value_range)
    return select_channel(x, channel, rng), select_channel(y, channel, rng), rng


def mse(x: Tensor, y: Tensor, value_range: tuple[float, float] = (0.0, 1.0), channel: str = "rgb") -> Tensor:
    """Per-image mean squared error ``[N]`` (float64) in the units of ``value_range``."""
    a, b, _ = _prep(x, y, value_range, channel)
    return (a - b).pow(2).mean((1, 2, 3))


def psnr(
    x: Tensor,
    y: Tensor,
    value_range: tuple[float, float] = (0.0, 1.0),
    data_range: float | None = None,
    channel: str = "rgb",
) -> Tensor:
    """Per-image PSNR in dB ``[N]`` (float64); ``inf`` where the images are identical.

    Args:
        x, y: ``[N, C, H, W]`` images (uint8, or float in ``value_range``).
        value_range: range of float inputs.
        data_range: signal range; default ``value_range[1] - value_range[0]``.
        channel: ``rgb``, ``y`` or ``y_studio`` (see the module docstring).
    """
    a, b, rng = _prep(x, y, value_range, channel)
    r = float(data_range) if data_range is not None else rng[1] - rng[0]
    err = (a - b).pow(2).mean((1, 2, 3))
    return 10 * torch.log10(r**2 / err)


def gaussian_window(size: int = 11, sigma: float = 1.5) -> Tensor:
    """Normalised 1-D Gaussian ``[size]`` (float64), centred, as scipy.ndimage builds it."""
    r = size // 2
    t = torch.arange(-r, r + 1, dtype=torch.float64)
    w = torch.exp(-0.5 * (t / sigma) ** 2)
    return w / w.sum()


def _blur_valid(x: Tensor, w: Tensor) -> Tensor:
    c = x.shape[1]
    k = w.numel()
    x = F.conv2d(x, w.view(1, 1, k, 1).expand(c, 1, k, 1), groups=c)
    return F.conv2d(x, w.view(1, 1, 1, k).expand(c, 1, 1, k), groups=c)


def ssim(
    x: Tensor,
    y: Tensor,
    value_range: tuple[float, float] = (0.0, 1.0),
    data_range: float | None = None,
    channel: str = "rgb",
    window: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
) -> Tensor:
    """Per-image mean SSIM ``[N]`` (float64).

    Args:
        x, y: ``[N, C, H, W]`` images, at least ``window`` pixels on each side.
        value_range: range of float inputs.
        data_range: signal range; default ``value_range[1] - value_range[0]``.
        channel: ``rgb``, ``y`` or ``y_studio``.
        window: Gaussian window side (odd).
        sigma: Gaussian standard deviation.
        k1, k2: stabilising constants (C1 = (k1 R)^2, C2 = (k2 R)^2).
    """
    if window % 2 != 1:
        raise ValueError(f"SSIM window must be odd, got {window}")
    a, b, rng = _prep(x, y, value_range, channel)
    if min(a.shape[-2:]) < window:
        raise ValueError(f"images of {tuple(a.shape[-2:])} are smaller than the {window}-pixel SSIM window")
    r = float(data_range) if data_range is not None else rng[1] - rng[0]
    w = gaussian_window(window, sigma).to(a.device)
    mx, my = _blur_valid(a, w), _blur_valid(b, w)
    vx = _blur_valid(a * a, w) - mx * mx
    vy = _blur_valid(b * b, w) - my * my
    cxy = _blur_valid(a * b, w) - mx * my
    c1, c2 = (k1 * r) ** 2, (k2 * r) ** 2
    s = (2 * mx * my + c1) * (2 * cxy + c2) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return s.mean((1, 2, 3))


def window_for_sigma(sigma: float, truncate: float = 3.5) -> int:
    """The Gaussian window side scikit-image uses for ``sigma`` (``2 * int(truncate * sigma + 0.5) + 1``)."""
    return 2 * math.floor(truncate * sigma + 0.5) + 1
