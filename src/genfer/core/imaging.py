"""Small image helpers shared by the engine and the CLI: grids and PNG writing."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor


def make_grid(images: Tensor, ncol: int, pad: int = 2, pad_value: float = 1.0) -> Tensor:
    """Tile ``[N,C,H,W]`` images (floats in [0, 1]) into one ``[C, H', W']`` image, row-major."""
    n, c, h, w = images.shape
    nrow = -(-n // ncol)
    grid = torch.full((c, nrow * (h + pad) + pad, ncol * (w + pad) + pad), pad_value, dtype=images.dtype)
    for i in range(n):
        r, k = divmod(i, ncol)
        y, x = pad + r * (h + pad), pad + k * (w + pad)
        grid[:, y : y + h, x : x + w] = images[i]
    return grid


def to_pil(image: Tensor) -> Image.Image:
    """``[C,H,W]`` float in [0, 1] (or uint8) to a PIL image (L for 1 channel, RGB for 3)."""
    if image.dtype != torch.uint8:
        image = (image.detach().float().clamp(0, 1) * 255).round().to(torch.uint8)
    arr = image.cpu().permute(1, 2, 0).numpy()
    return Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else np.ascontiguousarray(arr))


def save_image(image: Tensor, path: str | Path) -> Path:
    """Write a ``[C,H,W]`` image atomically (temp file + rename); format from the suffix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    to_pil(image).save(tmp)
    os.replace(tmp, path)
    return path


def save_grid(images: Tensor, ncol: int, path: str | Path, scale: int = 1) -> Path:
    """Write ``[N,C,H,W]`` images in [0, 1] as one PNG grid, optionally upscaled (nearest)."""
    grid = make_grid(images.detach().float().cpu(), ncol)
    if scale > 1:
        grid = grid.repeat_interleave(scale, 1).repeat_interleave(scale, 2)
    return save_image(grid, path)
