"""TensorFlow.js weights and ops, in torch: manifest reader, kernel layouts, 'same' padding, resize.

A tfjs model stores its weights as a JSON manifest (``*-weights_manifest.json``) naming each
tensor (name, shape, dtype, optional quantisation) and one or more binary shards holding them
back to back, group by group. Quantised tensors store ``uint8``/``uint16`` codes ``q`` decoded as
``q * scale + min`` (computed in double, stored as float32, as tfjs' ``decodeWeights`` does) or
IEEE ``float16`` halves.

The op helpers reproduce tfjs' (and TensorFlow's) semantics where they differ from torch's:

- ``'same'`` padding puts the odd pixel at the bottom/right (``tf_same_pad``), so a stride-2 3x3
  conv on 112 pixels pads (0, 1), not torch's symmetric (1, 1);
- ``tf.image.resizeBilinear(alignCorners=false, halfPixelCenters=false)`` samples output pixel
  ``i`` at source ``i * in / out`` (no half-pixel shift, no antialiasing), which no
  ``F.interpolate`` mode does (``tf_resize_bilinear``).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

_NP_DTYPES = {
    "float32": np.dtype("<f4"),
    "int32": np.dtype("<i4"),
    "bool": np.dtype("u1"),
    "uint8": np.dtype("u1"),
    "uint16": np.dtype("<u2"),
    "float16": np.dtype("<f2"),
}


class TfjsWeightsError(ValueError):
    """A tfjs manifest or shard is malformed or does not match its manifest."""


def read_manifest(path: str | os.PathLike) -> dict[str, Tensor]:
    """Read a tfjs weights manifest and its shards (found next to it) into tensors.

    Args:
        path: the ``*-weights_manifest.json`` file; shard paths in it are relative to its folder.

    Returns:
        Tensors by manifest name, in manifest order and tfjs layout (conv kernels ``HWIO``,
        depthwise kernels ``HWC1``, dense weights ``[in, out]``); float tensors are float32.

    Raises:
        TfjsWeightsError: unknown dtype, missing quantisation fields, or shards of the wrong size.
    """
    path = Path(path)
    groups = json.loads(path.read_text())
    if not isinstance(groups, list):
        raise TfjsWeightsError(f"{path}: expected a list of weight groups")
    out: dict[str, Tensor] = {}
    for group in groups:
        data = b"".join((path.parent / p).read_bytes() for p in group["paths"])
        offset = 0
        for spec in group["weights"]:
            tensor, used = _decode(spec, data, offset, path)
            out[spec["name"]] = tensor
            offset += used
        if offset != len(data):
            raise TfjsWeightsError(
                f"{path}: group {group['paths']} holds {len(data)} bytes, manifest uses {offset}"
            )
    return out


def _decode(spec: dict, data: bytes, offset: int, path: Path) -> tuple[Tensor, int]:
    name, dtype, shape = spec["name"], spec["dtype"], [int(s) for s in spec["shape"]]
    quant = spec.get("quantization") or {}
    stored = quant.get("dtype", dtype)
    if stored not in _NP_DTYPES or dtype not in _NP_DTYPES:
        raise TfjsWeightsError(f"{path}: {name}: unsupported dtype {dtype!r} stored as {stored!r}")
    count = math.prod(shape)
    nbytes = count * _NP_DTYPES[stored].itemsize
    if offset + nbytes > len(data):
        raise TfjsWeightsError(f"{path}: shards end inside {name}")
    raw = np.frombuffer(data, dtype=_NP_DTYPES[stored], count=count, offset=offset)
    if stored in ("uint8", "uint16") and quant:
        if "scale" not in quant or "min" not in quant:
            raise TfjsWeightsError(f"{path}: {name}: {stored} quantisation without scale and min")
        values = raw.astype(np.float64) * float(quant["scale"]) + float(quant["min"])
    else:
        values = raw
    values = values.astype(np.float32 if dtype in ("float32", "float16") else _NP_DTYPES[dtype])
    return torch.from_numpy(np.array(values).reshape(shape)), nbytes


# --- layouts --------------------------------------------------------------------------------------
def conv_kernel(w: Tensor) -> Tensor:
    """tfjs conv kernel ``[kh, kw, in, out]`` -> torch ``[out, in, kh, kw]``."""
    return w.permute(3, 2, 0, 1).contiguous()


def depthwise_kernel(w: Tensor) -> Tensor:
    """tfjs depthwise kernel ``[kh, kw, C, m]`` -> torch grouped ``[C * m, 1, kh, kw]``.

    tfjs numbers output channel ``c * m + j`` for input channel ``c``, multiplier ``j``, which is
    torch's order for ``groups=C``.
    """
    kh, kw, c, m = w.shape
    return w.permute(2, 3, 0, 1).reshape(c * m, 1, kh, kw).contiguous()


# --- ops ------------------------------------------------------------------------------------------
def tf_same_pad(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow ``'same'`` padding ``(before, after)`` of one axis: the odd pixel goes after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def pad_same(x: Tensor, kernel: int, stride: int, value: float = 0.0) -> Tensor:
    """Pad ``[N, C, H, W]`` with ``value`` as TensorFlow's ``'same'`` does before a ``kernel``/``stride``
    op (``-inf`` for a max-pool)."""
    top, bottom = tf_same_pad(x.shape[-2], kernel, stride)
    left, right = tf_same_pad(x.shape[-1], kernel, stride)
    if top == bottom == left == right == 0:
        return x
    return F.pad(x, (left, right, top, bottom), value=value)


def _resize_axis(size_in: int, size_out: int) -> tuple[Tensor, Tensor, Tensor]:
    # tfjs (alignCorners=false, halfPixelCenters=false): source = i * in / out, computed in double
    src = np.arange(size_out, dtype=np.float64) * (size_in / size_out)
    lo = np.maximum(np.floor(src), 0).astype(np.int64)
    hi = np.minimum(np.ceil(src), size_in - 1).astype(np.int64)
    frac = src - lo
    return torch.from_numpy(lo), torch.from_numpy(hi), torch.from_numpy(frac)


def tf_resize_bilinear(x: Tensor, size: tuple[int, int]) -> Tensor:
    """``tf.image.resizeBilinear(x, size, alignCorners=false, halfPixelCenters=false)`` on NCHW.

    Output pixel ``(i, j)`` interpolates the source at ``(i * H / h, j * W / w)`` between the
    floor and ``min(ceil, last)`` neighbours: top-left anchored, no antialiasing, so downscaling
    skips pixels exactly as tfjs does. Differentiable in ``x``.

    Args:
        x: float ``[N, C, H, W]``.
        size: output ``(h, w)``.

    Returns:
        float ``[N, C, h, w]``.
    """
    h_in, w_in = x.shape[-2:]
    h, w = size
    if (h, w) == (h_in, w_in):
        return x
    y0, y1, fy = (t.to(x.device) for t in _resize_axis(h_in, h))
    x0, x1, fx = (t.to(x.device) for t in _resize_axis(w_in, w))
    fx = fx.to(x.dtype)
    fy = fy.to(x.dtype)[:, None]
    rows0, rows1 = x[..., y0, :], x[..., y1, :]
    top = rows0[..., x0] + (rows0[..., x1] - rows0[..., x0]) * fx
    bottom = rows1[..., x0] + (rows1[..., x1] - rows1[..., x0]) * fx
    return top + (bottom - top) * fy
