"""3 x 3 convolution by Winograd's minimal filtering F(4 x 4, 3 x 3), for CPU inference.

Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks" (CVPR 2016): each 4 x 4 output
tile is ``A^T [(G g G^T) * (B^T d B)] A`` for the 6 x 6 input tile ``d`` around it, so the
products become 36 matrix products ``[tiles, C_in] x [C_in, C_out]``, one per point of the 6 x 6
transform: 4 multiply-adds per output where a direct convolution needs 9. The transforms are
memory-bound passes, each one matrix product over the flattened tiles (``B^T (x) B^T`` and
``A^T (x) A^T``). On two Zen 4 cores a call on StyleGAN2's ``[8, 512, 64, 64]`` takes 0.30 s against
0.70 s directly, ``[8, 256, 128, 128]`` 0.40 against 0.69 s; at 128 channels the products run at
half the GEMM rate and it no longer pays (``MIN_CHANNELS``). The rounding error grows with the
transforms' larger coefficients: ~1e-5 of an output's scale in fp32, against ~3e-7 directly, so
this is for float32 inference only, never for training or reduced precision.

Layout: the activations are channels-last (``[B, H, W, C]`` in memory), so every transform writes
contiguous rows and the products need no transposes; the result is a ``[B, C_out, H, W]`` tensor
in ``torch.channels_last`` memory format.
"""

from __future__ import annotations

import torch
from torch import Tensor

# The transforms for the interpolation points 0, 1, -1, 2, -2 and infinity (Lavin & Gray).
_BT = ((4, 0, -5, 0, 1, 0), (0, -4, -4, 1, 1, 0), (0, 4, -4, -1, 1, 0),
       (0, -2, -1, 2, 1, 0), (0, 2, -1, -2, 1, 0), (0, 4, 0, -5, 0, 1))
_G = ((1 / 4, 0, 0), (-1 / 6, -1 / 6, -1 / 6), (-1 / 6, 1 / 6, -1 / 6),
      (1 / 24, 1 / 12, 1 / 6), (1 / 24, -1 / 12, 1 / 6), (0, 0, 1))
_AT = ((1, 1, 1, 1, 1, 0), (0, 1, -1, 2, -2, 0), (0, 1, 1, 4, 4, 0), (0, 1, -1, 8, -8, 1))
TILE = 4  # output tile side; the input tile is TILE + 2
MIN_CHANNELS = 256  # below, the products' [., C] x [C, C] shape runs at half the GEMM rate: direct wins


def supported(x: Tensor, kernel_size: int) -> bool:
    """Whether ``winograd_conv3x3`` pays: float32 CPU activations of >= 256 channels, sides multiples
    of 4, outside autocast (whose reduced precision the transforms' rounding would swamp)."""
    return (kernel_size == 3 and x.device.type == "cpu" and x.dtype == torch.float32
            and not torch.is_autocast_enabled("cpu")
            and x.shape[1] >= MIN_CHANNELS and x.shape[-1] % TILE == 0 and x.shape[-2] % TILE == 0)


def _kron(m: tuple, device: torch.device, dtype: torch.dtype) -> Tensor:
    """``m (x) m``: a separable 2-D tile transform as one matrix over the flattened tile."""
    t = torch.tensor(m, dtype=torch.float64)
    return torch.kron(t, t).to(device, dtype)


def winograd_weight(weight: Tensor) -> Tensor:
    """``weight [C_out, C_in, 3, 3]`` -> its transform ``G weight G^T`` as ``[36, C_in, C_out]``."""
    cout, cin = weight.shape[:2]
    taps = weight.detach().permute(2, 3, 1, 0).reshape(9, cin * cout)  # (kh, kw) rows
    return (_kron(_G, weight.device, weight.dtype) @ taps).view(36, cin, cout)


def winograd_conv3x3(x: Tensor, u: Tensor, scale_in: Tensor | None = None,
                     scale_out: Tensor | None = None) -> Tensor:
    """``conv2d(x * scale_in, weight, padding=1) * scale_out`` by F(4 x 4, 3 x 3).

    Args:
        x: ``[B, C_in, H, W]`` float32, H and W multiples of 4 (any memory format; channels-last
            is read without a transpose).
        u: ``winograd_weight(weight)``, ``[36, C_in, C_out]``.
        scale_in: ``[B, C_in]`` per-sample input scale (StyleGAN2's modulation) or None.
        scale_out: ``[B, C_out]`` per-sample output scale (its demodulation) or None.

    Returns:
        ``[B, C_out, H, W]`` in channels-last memory format.
    """
    b, c, h, w = x.shape
    cout = u.shape[-1]
    th, tw = h // TILE, w // TILE
    # zero-padded channels-last copy, the input scale applied on the way in
    xp = x.new_zeros(b, h + 2, w + 2, c)
    src = x.permute(0, 2, 3, 1)
    if scale_in is None:
        xp[:, 1:-1, 1:-1].copy_(src)
    else:
        torch.mul(src, scale_in.view(b, 1, 1, c), out=xp[:, 1:-1, 1:-1])
    # the overlapping 6 x 6 tiles as [36, B th tw C] (one copy), then B^T d B for all at once
    tiles = xp.unfold(1, TILE + 2, TILE).unfold(2, TILE + 2, TILE)  # [B, th, tw, C, 6, 6], a view
    d = tiles.permute(4, 5, 0, 1, 2, 3).reshape(36, -1)
    del xp, tiles
    v = _kron(_BT, x.device, x.dtype) @ d  # [36, B th tw C]
    del d
    m = torch.bmm(v.view(36, -1, c), u)  # [36, B th tw, C_out]: the products
    del v
    y = (_kron(_AT, x.device, x.dtype) @ m.view(36, -1)).view(TILE, TILE, b, th, tw, cout)  # A^T m A
    del m
    # interleave the tiles' rows and columns (and demodulate) in one pass
    out = x.new_empty(b, th, TILE, tw, TILE, cout)
    y = y.permute(2, 3, 0, 4, 1, 5)
    if scale_out is None:
        out.copy_(y)
    else:
        torch.mul(y, scale_out.view(b, 1, 1, 1, 1, cout), out=out)
    return out.view(b, h, w, cout).permute(0, 3, 1, 2)
