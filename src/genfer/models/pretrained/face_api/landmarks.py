"""face-api.js ``FaceLandmark68Net``: 68 landmarks (iBUG 300-W order) of a face crop.

The net outputs 136 values ``x0, y0, x1, y1, ...`` relative to the padded 112x112 square.
face-api's ``postProcess`` removes the padding assuming it is split evenly (``|w - h| / 2`` on
each side, in the resized square) and scales to the crop, so the points come back in the input
crop's pixel coordinates (``FaceLandmarks68.positions``). That convention is kept here, including
its half-pixel-at-most approximation for odd padding.
"""

from __future__ import annotations

import os

import torch
from torch import Tensor

from genfer.models.pretrained.face_api.features import INPUT_SIZE
from genfer.models.pretrained.face_api.input import Images
from genfer.models.pretrained.face_api.loading import load_net


def to_crop_coordinates(raw: Tensor, dims: list[tuple[int, int]], size: int = INPUT_SIZE) -> Tensor:
    """face-api ``postProcess`` then ``FaceLandmarks68.positions``: raw ``[N, 136]`` -> pixels ``[N, 68, 2]``.

    Args:
        raw: net outputs relative to the padded ``size`` square.
        dims: each crop's ``(H, W)``.
        size: the net's input side.
    """
    hw = torch.tensor(dims, dtype=raw.dtype, device=raw.device)  # [N, 2] as (h, w)
    scaled = hw * (size / hw.max(1, keepdim=True).values)  # (h, w) inside the square
    sh, sw = scaled[:, 0], scaled[:, 1]
    pad_x = torch.where(sw < sh, (sw - sh).abs() / 2, torch.zeros_like(sw))
    pad_y = torch.where(sh < sw, (sw - sh).abs() / 2, torch.zeros_like(sh))
    pts = raw.reshape(-1, 68, 2) * size
    rel = (pts - torch.stack([pad_x, pad_y], 1)[:, None]) / torch.stack([sw, sh], 1)[:, None]
    return rel * hw.flip(1)[:, None]


def landmarks68(
    images: Images, weights: str | os.PathLike | None = None, device: str = "cpu", cache: str | None = None
) -> Tensor:
    """68 face landmarks per crop, in the crop's pixel coordinates (face-api's convention).

    Args:
        images: face crops (a detector's box), ``[N, 3, H, W]`` uint8 or float in [0, 1], or a
            list of ``[3, H, W]`` crops of different sizes.
        weights: face-api model folder or None (the fetched ``faceapi`` package).
        device: torch device.
        cache: genfer's cache folder.

    Returns:
        float32 ``[N, 68, 2]`` points ``(x, y)``, 0..W and 0..H, in the 68-point iBUG order.

    Raises:
        FileNotFoundError: weights missing (the message names ``genfer weights fetch faceapi``).
    """
    net = load_net("landmarks", weights, device, cache)
    raw, dims = net.run(images)
    return to_crop_coordinates(raw, dims)
