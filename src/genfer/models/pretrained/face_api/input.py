"""face-api.js ``NetInput.toBatchTensor`` for image tensors: pad to a centred square, tfjs resize.

face-api feeds every net a square: the shorter side of the face crop is zero-padded (half after,
the rest before, JavaScript's ``Math.round`` deciding the odd pixel), then the square is resized
with ``tf.image.resizeBilinear(alignCorners=false, halfPixelCenters=false)`` unless it already has
the net's size. Pixel values stay in 0..255; each net subtracts its mean afterwards.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from genfer.models.pretrained.tfjs import tf_resize_bilinear

Images = Tensor | Sequence[Tensor]
"""``[N, 3, H, W]`` (uint8 0..255, or float in [0, 1]) or a list of ``[3, H, W]`` of any sizes."""

MEAN_RGB = (122.782, 117.001, 104.298)
"""Per-channel mean face-api subtracts (then divides by 255) in all three nets."""


def as_float255(image: Tensor) -> Tensor:
    """uint8 (0..255) or float in [0, 1] -> float32 in 0..255, keeping the graph of float input."""
    if image.dtype == torch.uint8:
        return image.float()
    if not image.is_floating_point():
        raise TypeError(f"images must be uint8 or float in [0, 1], got {image.dtype}")
    return image.float() * 255


def split_images(images: Images) -> list[Tensor]:
    """The images as a list of ``[3, H, W]`` tensors (checked)."""
    items = list(images.unbind(0)) if isinstance(images, Tensor) and images.dim() == 4 else list(images)
    if isinstance(images, Tensor) and images.dim() != 4:
        raise ValueError(f"expected images [N, 3, H, W], got {tuple(images.shape)}")
    for im in items:
        if im.dim() != 3 or im.shape[0] != 3 or min(im.shape[1:]) < 1:
            raise ValueError(f"expected RGB images [3, H, W], got {tuple(im.shape)}")
    return items


def _js_round(x: float) -> int:
    return math.floor(x + 0.5)


def pad_to_square(image: Tensor) -> Tensor:
    """face-api ``padToSquare(image, isCenterImage=true)`` on ``[..., H, W]``: zeros, centred."""
    h, w = image.shape[-2:]
    if h == w:
        return image
    diff = abs(h - w)
    after = _js_round(diff * 0.5)
    before = diff - after
    pad = (before, after, 0, 0) if h > w else (0, 0, before, after)
    return F.pad(image, pad)


def to_batch_tensor(images: Images, size: int) -> tuple[Tensor, list[tuple[int, int]]]:
    """face-api's batch input: each image padded to a square and resized to ``size``.

    Args:
        images: see :data:`Images`; float input keeps its autograd graph.
        size: the net's input side (150 recognition, 112 expression/landmarks).

    Returns:
        float32 ``[N, 3, size, size]`` in 0..255, and each input's ``(H, W)``.
    """
    if isinstance(images, Tensor) and images.dim() == 4 and images.shape[1] == 3:
        # one size for the whole batch: pad and resize once
        h, w = images.shape[-2:]
        sq = pad_to_square(as_float255(images))
        return tf_resize_bilinear(sq, (size, size)), [(int(h), int(w))] * images.shape[0]
    items = split_images(images)
    out, dims = [], []
    for im in items:
        dims.append((int(im.shape[-2]), int(im.shape[-1])))
        sq = pad_to_square(as_float255(im))
        out.append(tf_resize_bilinear(sq[None], (size, size))[0])
    return torch.stack(out), dims


def normalize(batch: Tensor) -> Tensor:
    """``(x - MEAN_RGB) / 255`` on ``[N, 3, H, W]`` in 0..255, as face-api's ``normalize(...).div(255)``."""
    mean = torch.tensor(MEAN_RGB, dtype=batch.dtype, device=batch.device).view(1, 3, 1, 1)
    return (batch - mean) / 255
