"""The canonical canvas of the SynthFace rasteriser: its frame (``ZOOM``, ``Y_SHIFT``), feature
windows, and the separable-primitive helpers every face part is painted with."""

from __future__ import annotations

import copy
import math

import torch
from torch import Tensor

_LUMA = torch.tensor([0.299, 0.587, 0.114])
ZOOM = 1.2
Y_SHIFT = 0.08
"""The canvas shows canonical x in [-1/ZOOM, 1/ZOOM] and y in Y_SHIFT + [-1/ZOOM, 1/ZOOM]: a tight
face crop from the forehead to the chin, as aligned face datasets are."""


def _pixel_grid(size: int) -> Tensor:
    """Pixel-centre coordinates in [-1, 1] (the ``align_corners=False`` convention): [size]."""
    return (torch.arange(size, dtype=torch.float32) + 0.5) * (2.0 / size) - 1.0


_NOISE_BANK: dict[int, Tensor] = {}
_NOISE_K = 127


def _noise_bank(size: int) -> Tensor:
    """A fixed bank of unit Gaussian noise fields [K, S, S], built once per size.

    Each image (and channel) takes one field, picked by its nuisance draw: drawing fresh noise per
    image would cost more than rendering the face.
    """
    if size not in _NOISE_BANK:
        g = torch.Generator().manual_seed(20240601 + size)
        _NOISE_BANK[size] = torch.randn(_NOISE_K, size, size, generator=g)
    return _NOISE_BANK[size]


class _Window:
    """A fixed rectangle of the canonical canvas with its coordinates.

    Attributes:
        img: view [N, C, h, w] into the canvas.
        x: feature x of each column [N, w] (yaw applied); xf: face-outline x [N, w].
        y: row coordinates [h]; Y: the same as [1, h, 1] for broadcasting.
    """

    def __init__(self, cv: _Canvas, x0: float, x1: float, y0: float, y1: float) -> None:
        s, z = cv.size, ZOOM
        c0, c1 = max(0, math.floor((x0 * z + 1) * s / 2)), min(s, math.ceil((x1 * z + 1) * s / 2))
        y0, y1 = y0 - Y_SHIFT, y1 - Y_SHIFT
        r0, r1 = max(0, math.floor((y0 * z + 1) * s / 2)), min(s, math.ceil((y1 * z + 1) * s / 2))
        self.img = cv.img[:, :, r0:r1, c0:c1]
        self.x = cv.x[:, c0:c1]
        self.xf = cv.xf[:, c0:c1]
        self.y = cv.grid[r0:r1]
        self.Y = self.y[None, :, None]
        self.ipx = cv.ipx
        self.cv = cv

    def subset(self, idx: Tensor) -> _Window:
        """This window for images ``idx`` only (a copy; ``commit`` writes it back).

        For layers that few images have (glasses, long hair): painting a gathered subset beats
        painting every image with zero coverage.
        """
        sub = copy.copy(self)
        sub.img, sub.x, sub.xf = self.img[idx], self.x[idx], self.xf[idx]
        sub.parent, sub.idx = self, idx
        return sub

    def commit(self) -> None:
        self.parent.img[self.idx] = self.img

    def cov(self, sd: Tensor) -> Tensor:
        """Coverage in [0, 1] of a signed distance (modified in place)."""
        return sd.mul_(self.ipx).add_(0.5).clamp_(0, 1)

    def paint(self, colour: Tensor, cov: Tensor) -> None:
        """Alpha-blend a colour [N, 3] (RGB) with coverage [N, h, w] over the window."""
        self.img.lerp_(self.cv.colour(colour), cov[:, None])

    def shade(self, factor: Tensor) -> None:
        """Multiply the window by a factor [N, h, w] (darkening < 1 < lightening)."""
        self.img.mul_(factor[:, None])


class _Canvas:
    """The canonical canvas [N, C, S, S] of one chunk, with per-image column coordinates."""

    def __init__(self, n: int, size: int, channels: int, x: Tensor, xf: Tensor, yaw: Tensor) -> None:
        self.size, self.channels = size, channels
        self.yaw = yaw
        self.grid = _pixel_grid(size) / ZOOM + Y_SHIFT  # row coordinates
        self.ipx = size * ZOOM / 2.0  # 1 / pixel size in canonical units
        self.x, self.xf = x, xf
        self.img = torch.empty(n, channels, size, size)

    def colour(self, rgb: Tensor) -> Tensor:
        """RGB [N, 3] -> [N, C, 1, 1] in the canvas's channels (luma for grey)."""
        c = rgb if self.channels == 3 else (rgb @ _LUMA)[:, None]
        return c[:, :, None, None]

    def window(self, x0: float, x1: float, y0: float, y1: float) -> _Window:
        return _Window(self, x0, x1, y0, y1)


def _c(t: Tensor) -> Tensor:
    """Per-column [N, w] -> [N, 1, w]."""
    return t[:, None, :]


def _r(t: Tensor) -> Tensor:
    """Per-row [N, h] -> [N, h, 1]."""
    return t[:, :, None]


def _s(t: Tensor) -> Tensor:
    """Per-image [N] -> [N, 1] (for combining with [N, w] or [N, h] vectors)."""
    return t[:, None]


def _hump(d: Tensor, w: float | Tensor) -> Tensor:
    """Soft bump max(0, 1 - (d / w)^2): 1 at d = 0, 0 beyond |d| = w."""
    return (1 - (d / w).square()).clamp_(min=0)


def _q(dx: Tensor, dy: Tensor) -> Tensor:
    """Separable squared radius: per-column dx [N, w] and per-row dy [N or 1, h] -> [N, h, w]."""
    return _c(dx.square()) + _r(dy.square())


def _line(w: _Window, yc: Tensor, half: float | Tensor) -> Tensor:
    """Signed distance to a horizontal-ish curve y = yc[col] of half-thickness ``half``: [N, h, w]."""
    return (_c(yc) - w.Y).abs_().neg_().add_(half)
