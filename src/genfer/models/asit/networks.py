"""ASIT's networks: the GC ViT style encoder and the cosine inversion critic.

**Encoder** (``ASITEncoder``, the release's ``GCViT`` of ``models/encoders/gc_vit.py``): the GC ViT
trunk (:mod:`genfer.models.layers.gcvit`) gives ``c1`` (the first level's input, ``R/4``), ``c2``
(``R/8``), ``c3`` (``R/16``) and the last level's output (``R/32``). A pSp-style pyramid turns
them into ``n_styles`` W+ codes: styles ``[0, coarse)`` from ``c3``, ``[coarse, middle)`` from
``p2 = up(c3) + latlayer1(c2)``, the rest from ``p1 = up(p2) + latlayer2(c1)`` (bilinear,
align_corners). Each style head (``GradualStyleBlock``) halves its map to 1x1: a Conv3 s2 +
LeakyReLU, then, while the map is at least the window, a ``StyleBlock`` (1-head window
attention + MLP) and a max-pool, below that Conv3 s2 + LeakyReLU; an ``EqualLinear`` ends it. The
structure code (``struct_channels x 4 x 4``, which replaces StyleGAN2's constant input) is a
Conv3 on the last level's output (stride 2 at 256 px). ``convs`` give the release's three
auxiliary feature maps (``feats``), computed only when asked for.

Not built (dead in every release checkpoint, dropped by the converter): the ImageNet ``norm`` and
``head`` (1,027,048 parameters), and the ``sin_pos_embed._float_tensor`` buffers.

Sizes other than the release's: ``c3`` must have ``style_dim`` channels for the pyramid; when it
has not (``4 dim != style_dim``, reduced encoders), a 1x1 ``c3_proj`` maps it (absent at release
size). Below 256 px the last level's output is smaller than 8, so the structure conv keeps the
stride 1 and its map is resized to 4x4 bilinearly.

**Critic** (``InversionCritic``, the release's ``Discriminator`` of ``models/stylegan2/model.py``):
two StyleGAN2 residual trunks (``model_q``, ``model_k``: a 1x1 ConvLayer to 128 channels at 256
px, ResBlocks down to 4x4, global average pool, Linear to 128). ``D(a, b) = cos(q(a), k(b))``, the
key net an exponential moving average (0.999) of the query net. The release updates ``model_k``
inside every forward (even in eval mode); here :meth:`InversionCritic.update_key` is called by the
training step, once per iteration.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genfer.models.layers.gcvit import GCViT, StyleBlock, maybe_recompute
from genfer.models.layers.stylegan2 import ConvLayer, EqualLinear, ResBlock


class GradualStyleBlock(nn.Module):
    """One style head: ``[B, C, S, S]`` -> ``[B, C]`` (see the module docstring).

    Args:
        channels: ``C`` (in and out; the release's 512).
        spatial: input side ``S`` (a power of 2).
        window: attention window of the StyleBlocks (8 in the release).
    """

    def __init__(self, channels: int, spatial: int, window: int = 8) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(channels, channels, 3, 2, 1), nn.LeakyReLU()]
        for _ in range(int(math.log2(spatial)) - 1):
            spatial //= 2
            if spatial >= window:
                layers += [StyleBlock(channels, window), nn.MaxPool2d(2, 2)]
            else:
                layers += [nn.Conv2d(channels, channels, 3, 2, 1), nn.LeakyReLU()]
        self.blocks = nn.Sequential(*layers)
        self.linear = EqualLinear(channels, channels, lr_mul=1)
        self.channels = channels

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(self.blocks(x).reshape(-1, self.channels))


class ASITEncoder(GCViT):
    """GC ViT trunk + style pyramid + structure code.

    Args:
        style_dim: W+ code width (the decoder's style dim).
        n_styles: number of codes (``2 log2(size) - 2`` of the decoder).
        coarse: first style fed by ``p2``; ``middle``: first fed by ``p1`` (3 and 7 in the release).
        style_window: window of the style heads' attention.
        struct_channels: channels of the structure code (the decoder's 4x4 channels).
        **trunk: :class:`GCViT` arguments (``dim``, ``depths``, ``num_heads``, ``windows``,
            ``mlp_ratio``, ``resolution``, ``drop_path_rate``, ``layer_scale``, ``faithful``,
            ``recompute``, which covers the style heads too).
    """

    def __init__(self, style_dim: int = 512, n_styles: int = 14, coarse: int = 3, middle: int = 7,
                 style_window: int = 8, struct_channels: int = 512, **trunk) -> None:
        super().__init__(**trunk)
        dim, res = self.dim, self.resolution
        if not 0 < coarse <= middle <= n_styles:
            raise ValueError(f"need 0 < coarse ({coarse}) <= middle ({middle}) <= n_styles ({n_styles})")
        self.convs = nn.ModuleList([nn.Conv2d(dim * 2**i, style_dim, 1) for i in range(3)])
        last_side = res // 32
        self.last_block = nn.Conv2d(dim * 2 ** (self.n_levels - 1), struct_channels, 3, 2 if last_side >= 8 else 1, 1)
        self.styles = nn.ModuleList([
            GradualStyleBlock(style_dim, res // (16 if i < coarse else 8 if i < middle else 4), style_window)
            for i in range(n_styles)])
        self.latlayer1 = nn.Conv2d(dim * 2, style_dim, 1)
        self.latlayer2 = nn.Conv2d(dim, style_dim, 1)
        self.c3_proj = nn.Conv2d(dim * 4, style_dim, 1) if dim * 4 != style_dim else None
        self.act = nn.LeakyReLU()
        self.style_dim, self.n_styles, self.coarse, self.middle = style_dim, n_styles, coarse, middle

    def forward(self, x: Tensor, feats: bool = False) -> tuple[Tensor, Tensor] | tuple[Tensor, Tensor, list[Tensor]]:
        """x: ``[B, 3, R, R]`` in [-1, 1] -> codes ``[B, n_styles, style_dim]`` (before ``latent_avg``),
        structure ``[B, struct_channels, 4, 4]``, and with ``feats`` the release's three auxiliary
        maps ``LReLU(convs[i](c_i))``."""
        c1, c2, c3, _, last = super().forward(x)
        c3s = c3 if self.c3_proj is None else self.c3_proj(c3)
        p2 = F.interpolate(c3s, size=c2.shape[-2:], mode="bilinear", align_corners=True) + self.latlayer1(c2)
        p1 = F.interpolate(p2, size=c1.shape[-2:], mode="bilinear", align_corners=True) + self.latlayer2(c1)
        codes = [maybe_recompute(head, c3s if i < self.coarse else p2 if i < self.middle else p1,
                                 recompute=self.recompute) for i, head in enumerate(self.styles)]
        structure = self.last_block(last)
        if structure.shape[-1] != 4:
            structure = F.interpolate(structure, size=(4, 4), mode="bilinear", align_corners=False)
        out = torch.stack(codes, 1), structure
        if feats:
            return (*out, [self.act(conv(c)) for conv, c in zip(self.convs, (c1, c2, c3))])
        return out


class CriticTrunk(nn.Module):
    """StyleGAN2 residual trunk to an embedding: ``[B, 3, R, R]`` -> ``[B, embed]``.

    ``convs``: ConvLayer 1x1 (3 -> ``channels[R]``), then ResBlocks halving down to 4x4; global
    average pool; ``lin``: Linear(``channels[4]``, ``embed``).
    """

    def __init__(self, size: int = 256, embed: int = 128, channel_multiplier: float = 2,
                 channel_max: int = 512) -> None:
        super().__init__()
        ch = {2**i: max(1, min(channel_max, int(16384 * channel_multiplier / 2**i))) for i in range(2, 11)}
        layers: list[nn.Module] = [ConvLayer(3, ch[size], 1)]
        side = size
        while side > 4:
            layers.append(ResBlock(ch[side], ch[side // 2]))
            side //= 2
        self.convs = nn.Sequential(*layers)
        self.lin = nn.Linear(ch[4], embed)

    def forward(self, x: Tensor) -> Tensor:
        return self.lin(self.convs(x).mean((2, 3)))


class InversionCritic(nn.Module):
    """``D(a, b) = cos(q(a), k(b))`` with the key net an EMA of the query net (see the module docstring).

    Args:
        size: image side.
        embed: embedding width (128).
        momentum: EMA momentum of the key net (0.999).
        channel_multiplier, channel_max: the trunks' widths (StyleGAN2's channel table).
    """

    def __init__(self, size: int = 256, embed: int = 128, momentum: float = 0.999, channel_multiplier: float = 2,
                 channel_max: int = 512) -> None:
        super().__init__()
        self.model_q = CriticTrunk(size, embed, channel_multiplier, channel_max)
        self.model_k = CriticTrunk(size, embed, channel_multiplier, channel_max)
        self.model_k.load_state_dict(self.model_q.state_dict())
        self.model_k.requires_grad_(False)
        self.momentum = momentum

    @torch.no_grad()
    def update_key(self) -> None:
        """``k <- m k + (1 - m) q`` for every parameter (the release's per-forward update, once per step here)."""
        k = [p for p in self.model_k.parameters()]
        q = [p.detach() for p in self.model_q.parameters()]
        torch._foreach_lerp_(k, q, 1.0 - self.momentum)

    def keys(self, b: Tensor) -> Tensor:
        """The normalised key embeddings ``[B, embed]`` (no gradient)."""
        with torch.no_grad():
            return F.normalize(self.model_k(b), dim=1)

    def score(self, a: Tensor, keys: Tensor) -> Tensor:
        """``cos(q(a), keys)`` ``[B, 1]`` for precomputed :meth:`keys`."""
        return (F.normalize(self.model_q(a), dim=1) * keys).sum(1, keepdim=True)

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        """``[B, 3, R, R]`` twice -> ``D(a, b)`` ``[B, 1]``; never updates the key net."""
        return self.score(a, self.keys(b))


__all__ = ["ASITEncoder", "CriticTrunk", "GradualStyleBlock", "InversionCritic"]
