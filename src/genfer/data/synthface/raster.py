"""Batched, vectorised SynthFace rasteriser.

A face is painted in a canonical frame (x right, y down; see ``ZOOM``) from soft-edged
primitives evaluated on the pixel grid, then one affine resample applies roll, scale and
translation, and lighting and noise are added in the output frame. Three choices keep it fast on
a CPU:

* Every primitive is separable: its shape is a per-column curve (or per-row, for the nasolabial
  folds) tested against the row coordinate, so per-pixel work is a handful of broadcast ops.
* Features are painted inside fixed pixel windows of the canonical frame (brows, eyes, cheeks,
  nose, folds, mouth, chin), wide enough for every identity, AU and yaw, not over the whole image.
* Yaw is a per-image remapping of the column coordinate (points on a sphere turning), so it costs
  nothing per pixel and every primitive picks it up for free.

Coverage of a shape with signed distance ``sd`` (canonical units, positive inside) is
``clamp(sd / pixel + 0.5, 0, 1)``: a one-pixel anti-aliased edge at every resolution.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import torch
import torch.nn.functional as F
from torch import Tensor

from genfer.data.aus import AU_MAX, AU_NAMES, NUM_AUS

from .canvas import _NOISE_K, ZOOM, _c, _Canvas, _noise_bank, _pixel_grid, _r, _s
from .face_parts import _background, _body, _brows, _eyes, _face, _geometry, _glasses, _hair_cap, _mid_face, _mouth
from .params import sample_identity, sample_nuisance


def _finish(cv: _Canvas, nu: dict[str, Tensor]) -> Tensor:
    """Roll/scale/translate the canonical canvas, light it, add noise: float [N, C, S, S] in 0..255."""
    img = cv.img
    n, _, s, _ = img.shape
    roll, scale = nu["roll"], nu["scale"]
    if bool((roll != 0).any() | (scale != 1).any() | (nu["tx"] != 0).any() | (nu["ty"] != 0).any()):
        # source = R(-roll) (p - t) / scale for each output pixel p; the sampling grid is a sum of
        # a per-column and a per-row term (cheaper than F.affine_grid's batched matmul)
        cs, sn = torch.cos(roll) / scale, torch.sin(roll) / scale
        tx, ty = nu["tx"], nu["ty"]
        p = _pixel_grid(s)[None]
        grid = torch.empty(n, s, s, 2)
        torch.add(_c(_s(cs) * p - _s(cs * tx + sn * ty)), _r(_s(sn) * p), out=grid[..., 0])
        torch.add(_c(_s(-sn) * p), _r(_s(cs) * p + _s(sn * tx - cs * ty)), out=grid[..., 1])
        img = F.grid_sample(img, grid, mode="bilinear", padding_mode="border", align_corners=False)
    # out = 255 * (img * light + noise) + 0.5, in two full passes
    g = _pixel_grid(s)
    b = nu["bright"] * 255
    light = _s(b)[:, :, None] + _c(_s(b * nu["light_x"]) * g[None]) + _r(_s(b * nu["light_y"]) * g[None])
    # luminance noise: one field per image, shared by the channels
    noise = _noise_bank(s).index_select(0, nu["noise_pick"] % _NOISE_K)[:, None]
    noise.mul_((nu["noise"] * 255)[:, None, None, None]).add_(0.5)
    return torch.addcmul(noise, img, light[:, None])


def _render_chunk(
    ip: dict[str, Tensor], aus: Tensor, nu: dict[str, Tensor], size: int, channels: int
) -> Tensor:
    n = len(aus)
    t01 = (aus / AU_MAX).clamp(0, 1)
    t = {name: t01[:, i] for i, name in enumerate(AU_NAMES)}
    g = _geometry(ip, t)
    grid = _pixel_grid(size) / ZOOM
    # yaw: a column at image x shows the canonical point that turned onto it on a sphere of radius R
    rad = 0.78
    yaw = nu["yaw"]
    phi = torch.asin((grid[None] / rad).clamp(-0.999, 0.999)) - yaw[:, None]
    x = rad * torch.sin(phi.clamp(-1.45, 1.45))
    xf = grid[None] - 0.12 * torch.sin(yaw)[:, None]
    cv = _Canvas(n, size, channels, x, xf, yaw)
    _background(cv, nu)
    _body(cv, ip, g)
    _face(cv, ip, g)
    _hair_cap(cv, ip, g)
    _brows(cv, ip, g, t)
    _mid_face(cv, ip, g, t)
    _eyes(cv, ip, g, t, nu)
    _mouth(cv, ip, g, t)
    _glasses(cv, ip, g)
    return _finish(cv, nu).clamp_(0, 255)


parallel_chunks = True
"""Render chunks on a thread pool of ``torch.get_num_threads()`` single-threaded workers."""


def chunk_size(size: int) -> int:
    """Images per internal batch: half a megapixel (32 at 128x128), measured fastest on 2 MiB L2."""
    return max(4, (1 << 19) // (size * size))


@torch.no_grad()
def render_keys(
    identities: Tensor,
    keys: Tensor,
    aus: Tensor,
    size: int = 128,
    channels: int = 1,
    seed: int = 0,
    nuisance: float = 1.0,
) -> Tensor:
    """Render identities wearing AU vectors, with nuisances keyed per image.

    Args:
        identities: long [N] identity ids.
        keys: long [N] nuisance keys (a dataset passes each image's index within its identity).
        aus: float [N, 17] AU intensities on the 0..5 scale, ``AU_NAMES`` order.
        size: output height and width in pixels (>= 32).
        channels: 1 (grey) or 3 (RGB).
        seed: dataset seed; identity and nuisance draws depend on it.
        nuisance: strength of pose/framing/lighting/background/noise variation (0 = none).

    Returns:
        uint8 [N, channels, size, size].
    """
    identities = torch.as_tensor(identities, dtype=torch.long).reshape(-1)
    keys = torch.as_tensor(keys, dtype=torch.long).reshape(-1)
    aus = torch.as_tensor(aus, dtype=torch.float32)
    n = len(identities)
    if aus.shape != (n, NUM_AUS):
        raise ValueError(f"aus must be [{n}, {NUM_AUS}], got {list(aus.shape)}")
    if len(keys) != n:
        raise ValueError(f"keys must have {n} entries, got {len(keys)}")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    if size < 32:
        raise ValueError(f"size must be >= 32, got {size}")
    out = torch.empty(n, channels, size, size, dtype=torch.uint8)
    out_np = out.numpy()
    step = chunk_size(size)

    def one(i: int) -> None:
        sl = slice(i, i + step)
        ip = sample_identity(identities[sl], seed)
        nu = sample_nuisance(seed, identities[sl], keys[sl], nuisance)
        # numpy's float -> uint8 cast (truncation; values already carry +0.5) is faster than torch's
        out_np[sl] = _render_chunk(ip, aus[sl], nu, size, channels).numpy()

    starts = range(0, n, step)
    threads = torch.get_num_threads()
    if threads == 1 or len(starts) == 1 or not parallel_chunks:
        for i in starts:
            one(i)
        return out
    # Chunks in parallel, each single-threaded: hundreds of small ops per chunk would otherwise
    # each synchronise all intra-op threads, which stalls badly when other processes share the cores.
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(min(threads, len(starts))) as pool:
            list(pool.map(one, starts))
    finally:
        torch.set_num_threads(threads)
    return out


def render(
    identities: Tensor,
    aus: Tensor,
    size: int = 128,
    channels: int = 1,
    seed: int = 0,
    nuisance: float = 1.0,
    nuisance_seed: int | Tensor = 0,
) -> Tensor:
    """Render given identities wearing given AU intensities.

    Used to make new renders of known identities with a chosen expression. Row ``i`` gets the
    nuisance draws (pose, framing, lighting, background, noise) keyed by
    ``(seed, identities[i], nuisance_seed * 65536 + i)``; pass a long tensor [N] as
    ``nuisance_seed`` to give each row's key directly: ``SynthFace`` image ``j`` of identity ``k``
    is ``render([k], aus, nuisance_seed=torch.tensor([j]))``.

    Args:
        identities: long [N] identity ids.
        aus: float [N, 17] intensities on the 0..5 scale in ``AU_NAMES`` order.
        size: output height and width (>= 32).
        channels: 1 (grey) or 3 (RGB).
        seed: dataset seed (identity appearance depends on it).
        nuisance: variation strength; 0 renders a frontal, centred, evenly lit face.
        nuisance_seed: int offset or per-row long tensor [N] of keys.

    Returns:
        uint8 [N, channels, size, size].
    """
    identities = torch.as_tensor(identities, dtype=torch.long).reshape(-1)
    if isinstance(nuisance_seed, Tensor):
        keys = nuisance_seed.long().reshape(-1)
    else:
        keys = int(nuisance_seed) * 65536 + torch.arange(len(identities))
    return render_keys(identities, keys, aus, size, channels, seed, nuisance)
