"""GC ViT (Hatamizadeh et al. 2023): windowed self-attention alternating with global-query attention.

The variant IFER's ASIT encoder uses (``models/encoders/gc_vit.py`` of the release): a stride-2
3x3 conv and a ``ReduceSize`` down-sampler (with a learned-scale 2-D sinusoidal position grid)
take a ``R``-px image to ``R/4``; then ``len(depths)`` levels, each a stack of ``GCViTBlock``\\ s at
one resolution, followed (except the last) by a ``ReduceSize`` that halves the side and doubles
the channels. Inside a level, even blocks attend within local windows (queries, keys and values
from the window), odd blocks use a *global query*: one ``[C, w, w]`` map per image, made from the
whole level input by a stack of ``FeatExtract`` (depthwise conv, GELU, squeeze-excitation, 1x1
conv, max-pool) down to the window size, and shared by all of that image's windows. Every
window carries a Swin relative position bias. Blocks use layer scale and stochastic depth.

Module and parameter names follow the release, so its state dicts load with at most dropped
entries (the ``relative_position_index`` tables and the ``sin_pos_embed._float_tensor`` buffers
are rebuilt here, not stored).

Deviation from the release, switchable by ``faithful=True`` (which reproduces it bit for bit):

- the release reads the channels-last level input as channels-first memory
  (``x.view(B, C, H, W)``) before making the global query, and reshapes the channels-first query
  map straight to ``[windows, heads, N, C/heads]``, so positions and channels are mixed;
- it tiles the per-image queries over the windows as ``[q0, q1, q0, q1, ...]`` while the windows
  are ordered image-major, so window ``j`` of every image gets the query of image ``j mod B``: an
  image's output depends on its batch-mates (up to 0.07 on codes of magnitude 5.8, measured in the
  fixture README).

Fixed (the default): the level input is permuted to channels-first, the query map is permuted to
``[heads, N, C/heads]``, and each image's windows get that image's query.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint


class DropPath(nn.Module):
    """Stochastic depth: in training, zero a residual branch per sample with probability ``p``, scale by ``1/(1-p)``."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = float(p)

    def forward(self, x: Tensor) -> Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask.div_(keep)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Mlp(nn.Module):
    """Linear -> GELU -> Linear (``fc1``, ``fc2``)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class SE(nn.Module):
    """Squeeze-excitation: ``x * sigmoid(W2 gelu(W1 avgpool(x)))``, bottleneck ``dim / 4``, no biases."""

    def __init__(self, dim: int, expansion: float = 0.25) -> None:
        super().__init__()
        hidden = int(dim * expansion)
        self.fc = nn.Sequential(nn.Linear(dim, hidden, bias=False), nn.GELU(), nn.Linear(hidden, dim, bias=False),
                                nn.Sigmoid())

    def forward(self, x: Tensor) -> Tensor:
        """x: [B, C, H, W] -> [B, C, H, W]."""
        return x * self.fc(x.mean((2, 3)))[:, :, None, None]


def _dw_se_conv(dim: int) -> nn.Sequential:
    """Depthwise 3x3 (no bias) -> GELU -> SE -> 1x1 (no bias): the residual branch of ReduceSize/FeatExtract."""
    return nn.Sequential(nn.Conv2d(dim, dim, 3, 1, 1, groups=dim, bias=False), nn.GELU(), SE(dim),
                         nn.Conv2d(dim, dim, 1, 1, 0, bias=False))


def sine_table(n: int, dim: int) -> Tensor:
    """Rows 1..n of the release's sinusoidal table: ``[n, dim]`` = ``[sin(p f), cos(p f)]``, ``f_i = 1e4^-(i/(d/2-1))``.

    Computed with the release's float32 operations (row 0, the padding row, is never used).
    """
    half = dim // 2
    freq = torch.exp(torch.arange(half, dtype=torch.float) * -(math.log(10000) / (half - 1)))
    pos = torch.arange(n + 1, dtype=torch.float).unsqueeze(1) * freq.unsqueeze(0)
    return torch.cat([torch.sin(pos), torch.cos(pos)], dim=1)[1:]


class ReduceSize(nn.Module):
    """Halve the side: LN -> ``x + dwconv-SE-conv(x)`` -> Conv3 s2 (to ``dim`` or ``2 dim``) -> LN -> ``+ alpha grid``.

    ``grid`` is a 2-D sinusoidal position map (x-positions in the first half of the channels,
    y-positions in the second), scaled by the learned ``alpha`` (initialised to 0).
    """

    def __init__(self, dim: int, keep_dim: bool = False) -> None:
        super().__init__()
        dim_out = dim if keep_dim else 2 * dim
        self.conv = _dw_se_conv(dim)
        self.reduction = nn.Conv2d(dim, dim_out, 3, 2, 1, bias=False)
        self.norm2 = nn.LayerNorm(dim_out)
        self.norm1 = nn.LayerNorm(dim)
        self.alpha = nn.Parameter(torch.zeros(1))
        self.dim_out = dim_out
        self._grid: dict[tuple, Tensor] = {}

    def grid(self, h: int, w: int, like: Tensor) -> Tensor:
        """The position map, channels-last ``[h, w, dim_out]``, cached per size, device and dtype."""
        key = (h, w, like.device, like.dtype)
        if key not in self._grid:
            self._grid[key] = self._make_grid(h, w, like)
        return self._grid[key]

    @torch.inference_mode(False)  # a normal tensor, usable later under autograd
    @torch.no_grad()
    def _make_grid(self, h: int, w: int, like: Tensor) -> Tensor:
        e = self.dim_out // 2
        gx = sine_table(w, e)[None, :, :].expand(h, w, e)
        gy = sine_table(h, e)[:, None, :].expand(h, w, e)
        return torch.cat([gx, gy], -1).to(device=like.device, dtype=like.dtype)

    def forward(self, x: Tensor) -> Tensor:
        """x: channels-last [B, H, W, C] -> [B, H/2, W/2, C_out] (contiguous)."""
        x = self.norm1(x).permute(0, 3, 1, 2)
        x = x + self.conv(x)
        x = self.norm2(self.reduction(x).permute(0, 2, 3, 1))
        x = x + self.grid(x.shape[1], x.shape[2], x) * self.alpha
        return x.contiguous()


class PatchEmbed(nn.Module):
    """Conv3 s2 (``in_chans -> dim``) then ReduceSize keeping ``dim``: ``[B, 3, R, R] -> [B, R/4, R/4, dim]``."""

    def __init__(self, in_chans: int = 3, dim: int = 96) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_chans, dim, 3, 2, 1)
        self.conv_down = ReduceSize(dim, keep_dim=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv_down(self.proj(x).permute(0, 2, 3, 1))


class FeatExtract(nn.Module):
    """``x + dwconv-SE-conv(x)``, then MaxPool 3 s2 p1 unless ``keep_dim`` (channels-first)."""

    def __init__(self, dim: int, keep_dim: bool = False) -> None:
        super().__init__()
        self.conv = _dw_se_conv(dim)
        if not keep_dim:
            self.pool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.keep_dim = keep_dim

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.conv(x)
        return x if self.keep_dim else self.pool(x)


def relative_position_index(w: int) -> Tensor:
    """Swin's ``[w*w, w*w]`` index into the ``(2w-1)^2`` relative-position bias table."""
    coords = torch.stack(torch.meshgrid(torch.arange(w), torch.arange(w), indexing="ij")).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0).contiguous()
    rel[:, :, 0] += w - 1
    rel[:, :, 1] += w - 1
    rel[:, :, 0] *= 2 * w - 1
    return rel.sum(-1)


class WindowAttention(nn.Module):
    """Multi-head attention within ``w x w`` windows, with a relative position bias.

    Local (``global_query=False``): ``qkv`` gives queries, keys and values. Global: ``qkv`` gives
    keys and values only (``2 dim`` outputs), and the queries come from the level's global query.

    Args:
        dim: channels.
        num_heads: heads (``dim`` must divide).
        window: window side ``w``.
        global_query: the global-query variant.
    """

    def __init__(self, dim: int, num_heads: int, window: int, global_query: bool = False) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"{dim} channels do not split into {num_heads} heads")
        self.num_heads, self.window, self.global_query = num_heads, window, global_query
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, num_heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        self.register_buffer("relative_position_index", relative_position_index(window), persistent=False)
        self.qkv = nn.Linear(dim, dim * (2 if global_query else 3))
        self.proj = nn.Linear(dim, dim)

    def bias(self) -> Tensor:
        """The relative position bias ``[heads, N, N]`` (``N = w*w``)."""
        n = self.window * self.window
        return self.relative_position_bias_table[self.relative_position_index.view(-1)].view(n, n, -1).permute(2, 0, 1)

    def forward(self, x: Tensor, q: Tensor | None = None) -> Tensor:
        """x: windows ``[B_, N, C]``; q: global queries ``[B_, heads, N, C/heads]`` (global only) -> ``[B_, N, C]``."""
        b_, n, c = x.shape
        h = self.num_heads
        if self.global_query:
            k, v = self.qkv(x).reshape(b_, n, 2, h, c // h).permute(2, 0, 3, 1, 4).unbind(0)
        else:
            q, k, v = self.qkv(x).reshape(b_, n, 3, h, c // h).permute(2, 0, 3, 1, 4).unbind(0)
        # explicit rather than scaled_dot_product_attention: with an additive bias and windows of 64-256
        # tokens, the fused CPU kernel is 10-60% slower here (forward and backward, torch 2.13)
        attn = (q * (c // h) ** -0.5) @ k.transpose(-2, -1)
        attn = torch.softmax(attn + self.bias().to(attn.dtype).unsqueeze(0), dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b_, n, c))


def maybe_recompute(module: nn.Module, *args: Tensor | None, recompute: bool = False) -> Tensor:
    """``module(*args)``; with ``recompute`` and gradients on, its activations are not kept but computed
    again in the backward (``torch.utils.checkpoint``, which replays the RNG state, so stochastic
    depth draws the same masks and the gradients are the same)."""
    if recompute and torch.is_grad_enabled():
        return checkpoint(module, *args, use_reentrant=False)
    return module(*args)


def window_partition(x: Tensor, w: int) -> Tensor:
    """[B, H, W, C] -> [B * H/w * W/w, w*w, C], windows image-major, row-major within an image."""
    b, hh, ww, c = x.shape
    x = x.view(b, hh // w, w, ww // w, w, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, w * w, c)


def window_reverse(windows: Tensor, w: int, hh: int, ww: int) -> Tensor:
    """Inverse of :func:`window_partition`: [B * nW, w*w, C] -> [B, H, W, C]."""
    c = windows.shape[-1]
    x = windows.view(-1, hh // w, ww // w, w, w, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, hh, ww, c)


class GCViTBlock(nn.Module):
    """Pre-norm transformer block on windows: ``x + gamma1 * attn(LN x)``, ``x + gamma2 * mlp(LN x)``.

    Args:
        dim: channels.
        num_heads: attention heads.
        window: window side.
        mlp_ratio: MLP hidden width over ``dim``.
        drop_path: stochastic-depth probability of both branches.
        layer_scale: initial ``gamma1``/``gamma2`` (``None``: no layer scale).
        global_query: use the level's global query (odd blocks of a level).
    """

    def __init__(self, dim: int, num_heads: int, window: int, mlp_ratio: float = 2.0, drop_path: float = 0.0,
                 layer_scale: float | None = None, global_query: bool = False) -> None:
        super().__init__()
        self.window = window
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, num_heads, window, global_query=global_query)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        if layer_scale is not None:
            self.gamma1 = nn.Parameter(layer_scale * torch.ones(dim))
            self.gamma2 = nn.Parameter(layer_scale * torch.ones(dim))
        else:
            self.gamma1 = self.gamma2 = None

    def _residual(self, x: Tensor, y: Tensor, gamma: Tensor | None) -> Tensor:
        """``x + drop_path(gamma * y)`` as one ``addcmul``: layer scale and the per-sample drop mask are
        folded into one small ``[B, 1, 1, C]`` factor, so the branch costs one pass over the map (and
        one in the backward) instead of three."""
        scale = gamma
        p = self.drop_path.p
        if self.training and p > 0:
            mask = y.new_empty((y.shape[0], 1, 1, 1)).bernoulli_(1.0 - p).div_(1.0 - p)
            scale = mask if scale is None else mask * scale
        return x + y if scale is None else torch.addcmul(x, y, scale)

    def forward(self, x: Tensor, q: Tensor | None) -> Tensor:
        """x: [B, H, W, C]; q: the global queries per window (see WindowAttention) -> [B, H, W, C]."""
        _, hh, ww, _ = x.shape
        a = window_reverse(self.attn(window_partition(self.norm1(x), self.window), q), self.window, hh, ww)
        x = self._residual(x, a, self.gamma1)
        return self._residual(x, self.mlp(self.norm2(x)), self.gamma2)


class StyleBlock(nn.Module):
    """ASIT's attention block inside a style head: 1-head local window attention + MLP, no second norm.

    ``x + attn(LN x)``, then ``x + mlp(x)`` (the release applies the MLP to the un-normalised
    stream), no layer scale, no stochastic depth. Channels-first in and out.
    """

    def __init__(self, dim: int, window: int = 8, mlp_ratio: float = 2.0) -> None:
        super().__init__()
        self.window = window
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, 1, window)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: Tensor) -> Tensor:
        """x: [B, C, H, W] -> [B, C, H, W]."""
        x = x.permute(0, 2, 3, 1)
        _, hh, ww, _ = x.shape
        x = x + window_reverse(self.attn(window_partition(self.norm1(x), self.window)), self.window, hh, ww)
        x = x + self.mlp(x)
        return x.permute(0, 3, 1, 2)


class GCViTLayer(nn.Module):
    """One level: ``depth`` blocks (even: local, odd: global query) and an optional ReduceSize.

    The global query ``[B, C, w, w]`` comes from ``to_q_global``: ``log2(resolution / window)``
    FeatExtract with max-pool, or one without when the level is a single window.

    Args:
        dim: channels.
        depth: blocks.
        resolution: side of the level's map.
        num_heads: attention heads.
        window: window side (must divide ``resolution``).
        mlp_ratio: MLP width ratio.
        drop_path: per-block stochastic-depth probabilities.
        layer_scale: initial layer scale (``None``: none).
        downsample: end with a ReduceSize (side / 2, channels x 2).
        faithful: reproduce the release's global-query bugs (see the module docstring).
        recompute: recompute each block's activations in the backward instead of keeping them.
    """

    def __init__(self, dim: int, depth: int, resolution: int, num_heads: int, window: int, mlp_ratio: float,
                 drop_path: list[float], layer_scale: float | None, downsample: bool, faithful: bool = False,
                 recompute: bool = False) -> None:
        super().__init__()
        if resolution % window or (resolution // window) & (resolution // window - 1):
            raise ValueError(f"window {window} must divide the level side {resolution} by a power of 2")
        self.blocks = nn.ModuleList([
            GCViTBlock(dim, num_heads, window, mlp_ratio, drop_path[i], layer_scale, global_query=i % 2 == 1)
            for i in range(depth)])
        self.downsample = ReduceSize(dim) if downsample else None
        n_pool = int(math.log2(resolution // window))
        self.to_q_global = nn.Sequential(*[FeatExtract(dim) for _ in range(n_pool)] if n_pool else
                                         [FeatExtract(dim, keep_dim=True)])
        self.dim, self.resolution, self.window, self.num_heads = dim, resolution, window, num_heads
        self.faithful, self.recompute = faithful, recompute

    def global_query(self, x: Tensor) -> Tensor:
        """x: [B, H, W, C] -> the queries of every window, ``[B * nW, heads, w*w, C/heads]``."""
        b, hh, ww, c = x.shape
        n_win, h, n = (hh // self.window) * (ww // self.window), self.num_heads, self.window * self.window
        if self.faithful:
            q = self.to_q_global(x.contiguous().view(b, c, hh, ww))  # channels-last memory read as channels-first
            return q.repeat(n_win, 1, 1, 1).reshape(b * n_win, h, n, c // h)  # interleaved; raw reshape
        q = self.to_q_global(x.permute(0, 3, 1, 2))  # [B, C, w, w]
        q = q.flatten(2).transpose(1, 2).reshape(b, 1, n, h, c // h).permute(0, 1, 3, 2, 4)
        return q.expand(b, n_win, h, n, c // h).reshape(b * n_win, h, n, c // h)

    def forward(self, x: Tensor) -> Tensor:
        """x: [B, H, W, C] (H = W = resolution) -> [B, H/2, W/2, 2C] with downsample, else [B, H, W, C]."""
        if x.shape[1] != self.resolution or x.shape[2] != self.resolution:
            raise ValueError(f"GC ViT level expects {self.resolution}x{self.resolution} maps, "
                             f"got {tuple(x.shape[1:3])}")
        q = self.global_query(x) if len(self.blocks) > 1 else None
        for blk in self.blocks:
            x = maybe_recompute(blk, x, q, recompute=self.recompute)
        return x if self.downsample is None else maybe_recompute(self.downsample, x, recompute=self.recompute)


class GCViT(nn.Module):
    """The GC ViT trunk: patch embedding and ``len(depths)`` levels; no classifier head.

    Args:
        dim: channels of the first level (doubling per level).
        depths: blocks per level.
        num_heads: heads per level.
        windows: window side per level.
        mlp_ratio: MLP width ratio.
        resolution: input side; level ``i`` works at ``resolution / 2**(i+2)``.
        drop_path_rate: stochastic depth rising linearly from 0 to this over all blocks.
        layer_scale: initial layer scale (``None``: none).
        in_chans: input channels.
        faithful: reproduce the release's global-query bugs.
        recompute: keep only each block's input for the backward and compute its activations
            again there (one more forward in all; at the release's size the activations kept
            fall from ~1.3 GB per 256-px image to a few MB).
    """

    def __init__(self, dim: int = 128, depths: tuple[int, ...] = (3, 4, 19, 5),
                 num_heads: tuple[int, ...] = (4, 8, 16, 32),
                 windows: tuple[int, ...] = (8, 8, 16, 8), mlp_ratio: float = 2.0, resolution: int = 256,
                 drop_path_rate: float = 0.5, layer_scale: float | None = 1e-5, in_chans: int = 3,
                 faithful: bool = False, recompute: bool = False) -> None:
        super().__init__()
        if not (len(depths) == len(num_heads) == len(windows)):
            raise ValueError("depths, num_heads and windows need one entry per level")
        self.resolution, self.dim, self.n_levels, self.recompute = resolution, dim, len(depths), recompute
        self.patch_embed = PatchEmbed(in_chans, dim)
        dpr = torch.linspace(0, drop_path_rate, sum(depths), device="cpu").tolist()
        self.levels = nn.ModuleList()
        for i, depth in enumerate(depths):
            side = resolution // 2 ** (i + 2)
            self.levels.append(GCViTLayer(dim * 2**i, depth, side, num_heads[i], windows[i], mlp_ratio,
                                          dpr[sum(depths[:i]):sum(depths[:i + 1])], layer_scale,
                                          downsample=i < len(depths) - 1, faithful=faithful,
                                          recompute=recompute))

    @property
    def faithful(self) -> bool:
        return self.levels[0].faithful

    @faithful.setter
    def faithful(self, value: bool) -> None:
        for level in self.levels:
            level.faithful = bool(value)

    def check_input(self, x: Tensor) -> None:
        """Reject inputs the levels cannot take: the side must be ``resolution`` exactly."""
        if x.ndim != 4 or x.shape[-2:] != (self.resolution, self.resolution):
            raise ValueError(f"this GC ViT takes [B, C, {self.resolution}, {self.resolution}] images (its levels are "
                             f"fixed at {self.resolution}/4, /8, /16, /32), got {tuple(x.shape)}")

    def forward(self, x: Tensor) -> list[Tensor]:
        """x: [B, C, R, R] -> channels-first maps: the input of each level, then the last level's output.

        For the release (R = 256, dim 128): 128@64, 256@32, 512@16, 1024@8, 1024@8.
        """
        self.check_input(x)
        h = maybe_recompute(self.patch_embed, x, recompute=self.recompute)
        outs = []
        for level in self.levels:
            outs.append(h.permute(0, 3, 1, 2))
            h = level(h)
        outs.append(h.permute(0, 3, 1, 2))
        return outs


__all__ = ["GCViT", "GCViTBlock", "GCViTLayer", "ReduceSize", "StyleBlock", "WindowAttention", "maybe_recompute",
           "window_partition", "window_reverse"]
