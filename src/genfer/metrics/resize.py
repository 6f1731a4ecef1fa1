"""Bringing images to the Inception's 299x299 input: the resize modes FID numbers depend on.

How images are resized changes FID by whole points (Parmar et al., "On Aliased Resizing and
Surprising Subtleties in GAN Evaluation", CVPR 2022), so the mode is a named setting recorded
with every result:

- ``clean`` (default; clean-fid's ``clean``): each channel is resized as a float32 PIL image
  (mode ``F``) with PIL's antialiased bicubic filter, clipped to [0, 255] and *not* quantised;
  then scaled as the TF graph does, ``(x - 128) / 128``.
- ``legacy_tensorflow`` (clean-fid's ``legacy_tensorflow``, torch-fidelity's resize): TF1
  ``resize_bilinear`` with ``align_corners=False`` and no half-pixel offset (source coordinate
  = output index * in/out), on [0, 255] floats; then ``(x - 128) / 128``.
- ``legacy_pytorch`` (pytorch-fid and clean-fid's ``legacy_pytorch``): ``F.interpolate``
  bilinear, ``align_corners=False``, no antialiasing, on [0, 1]; then ``2x - 1``.

Images of exactly 299x299 are not resized in any mode.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

RESIZE_MODES: tuple[str, ...] = ("clean", "legacy_tensorflow", "legacy_pytorch")


def to_unit_float(images: Tensor, value_range: tuple[float, float] = (0.0, 1.0)) -> Tensor:
    """uint8 ``[N, C, H, W]`` (0..255) or float in ``value_range`` -> float32 in [0, 1]."""
    if images.dtype == torch.uint8:
        return images.float() / 255.0
    lo, hi = value_range
    x = images.float()
    return (x - lo) / (hi - lo) if (lo, hi) != (0.0, 1.0) else x


def _pil_bicubic_float(x: Tensor, size: int) -> Tensor:
    """Per-channel PIL bicubic on float32 in [0, 255] -> ``[N, C, size, size]`` clipped to [0, 255]."""
    arr = x.detach().cpu().numpy().astype(np.float32)
    n, c = arr.shape[:2]
    out = np.empty((n, c, size, size), dtype=np.float32)
    for i in range(n):
        for j in range(c):
            im = Image.fromarray(arr[i, j], mode="F").resize((size, size), resample=Image.Resampling.BICUBIC)
            out[i, j] = np.asarray(im)
    return torch.from_numpy(out.clip(0, 255)).to(x.device)


def tf1_bilinear(x: Tensor, size: int) -> Tensor:
    """TF1 ``resize_bilinear(align_corners=False, half_pixel_centers=False)`` of ``[N, C, H, W]``."""

    def coords(n_in: int) -> tuple[Tensor, Tensor, Tensor]:
        src = torch.arange(size, dtype=torch.float64, device=x.device) * (n_in / size)
        i0 = src.floor().long().clamp(max=n_in - 1)
        i1 = (i0 + 1).clamp(max=n_in - 1)
        return i0, i1, (src - i0).to(x.dtype)

    y0, y1, fy = coords(x.shape[2])
    x0, x1, fx = coords(x.shape[3])
    top = x[:, :, y0]
    bot = x[:, :, y1]
    fy = fy.view(1, 1, -1, 1)
    rows = top + (bot - top) * fy
    left, right = rows[..., x0], rows[..., x1]
    return left + (right - left) * fx.view(1, 1, 1, -1)


def inception_input(
    images: Tensor, mode: str = "clean", size: int = 299, value_range: tuple[float, float] = (0.0, 1.0)
) -> Tensor:
    """Resize and scale RGB images for ``FIDInceptionV3``.

    Args:
        images: uint8 ``[N, 3, H, W]`` in 0..255, or float in ``value_range``.
        mode: one of ``RESIZE_MODES``.
        size: output side (299 for FID).
        value_range: range of float inputs.

    Returns:
        float32 ``[N, 3, size, size]`` in [-1, 1], on the input's device.
    """
    if mode not in RESIZE_MODES:
        raise ValueError(f"unknown resize mode {mode!r}; known: {', '.join(RESIZE_MODES)}")
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"expected RGB images [N, 3, H, W], got {tuple(images.shape)}")
    x = to_unit_float(images, value_range)
    same = x.shape[-2:] == (size, size)
    if mode == "legacy_pytorch":
        if not same:
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        return 2 * x - 1
    x = x * 255.0
    if not same:
        x = _pil_bicubic_float(x, size) if mode == "clean" else tf1_bilinear(x, size)
    return (x - 128.0) / 128.0
