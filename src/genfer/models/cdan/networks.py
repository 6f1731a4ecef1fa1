"""CDAN's networks: a taming-transformers encoder, a colour decoder, a mask decoder with Spatial
Extend Attention (SEA), and two GANimation-style discriminators.

Building blocks (``GN`` = GroupNorm(32, eps 1e-6), ``swish(x) = x * sigmoid(x)``):

- ``ResBlock(i, o)``: GN -> swish -> Conv3 -> GN -> swish -> Conv3, plus the input (through a
  1x1 ``nin_shortcut`` when i != o).
- ``AttnBlock(C)``: single-head non-local attention over positions, softmax(q^T k / sqrt(C)) v,
  a 1x1 projection and a residual add.
- ``Downsample``: pad (0, 1, 0, 1), Conv3 s2. ``Upsample``: bilinear x2 (align_corners), Conv3.
- ``SEA``: CBAM spatial attention whose channel-mean and channel-max maps are replaced, inside
  every non-overlapping ``patch`` x ``patch`` tile, by the tile's mean and max; Conv7x7 (2 -> 1,
  no bias), sigmoid, multiplied into the input. The map side must be a multiple of ``patch``.

At the released defaults (112 px, ch 128, mult (1, 2, 2, 4), block_in 512) the bottleneck is
14 x 14 and the parameter counts equal the release's forward-used parameters (the release also
builds an unused transposed conv in every ``Upsample``, ``decoder2.l1_up`` and
``decoder2.color_out``; genfer leaves them out, and ``released.convert`` drops their keys).

Module and parameter names inside the networks follow the release, so converting a released
state dict renames only the top-level prefixes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genfer.models.layers.conv4s2 import DownConv
from genfer.models.layers.norms import group_norm_silu

SEA_PATCH = 7


def check_image_size(image_size: int, levels: int = 4, patch: int = SEA_PATCH) -> int:
    """The bottleneck side of an ``image_size`` input; raises unless SEA can take it.

    The encoder halves the side ``levels - 1`` times, and SEA tiles the bottleneck into
    ``patch`` x ``patch`` patches, so ``image_size`` must be a multiple of ``2**(levels-1) * patch``
    (56 at the defaults: 56, 112, 168, 224, ...).
    """
    step = 2 ** (levels - 1)
    if image_size < step * patch or image_size % (step * patch):
        good = ", ".join(str(step * patch * k) for k in (1, 2, 3, 4))
        raise ValueError(
            f"cdan: image_size {image_size} does not fit: the encoder divides the side by {step} and SEA needs "
            f"a bottleneck that is a multiple of {patch} (its patch), so the size must be a multiple of "
            f"{step * patch} (e.g. {good})"
        )
    return image_size // step


def Normalize(channels: int) -> nn.GroupNorm:
    """GroupNorm(32, channels, eps 1e-6, affine)."""
    return nn.GroupNorm(32, channels, eps=1e-6, affine=True)


class ResBlock(nn.Module):
    """Pre-activation residual block (taming ``ResnetBlock`` without time embedding or dropout)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.norm1 = Normalize(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.norm2 = Normalize(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.nin_shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x: Tensor) -> Tensor:
        """[B, cin, H, W] -> [B, cout, H, W]."""
        h = self.conv1(group_norm_silu(x, self.norm1))
        h = self.conv2(group_norm_silu(h, self.norm2))
        return (x if self.nin_shortcut is None else self.nin_shortcut(x)) + h


class AttnBlock(nn.Module):
    """Single-head self-attention over the H*W positions, with a residual add."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = Normalize(channels)
        self.q = nn.Conv2d(channels, channels, 1)
        self.k = nn.Conv2d(channels, channels, 1)
        self.v = nn.Conv2d(channels, channels, 1)
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        """[B, C, H, W] -> [B, C, H, W]."""
        b, c, h, w = x.shape
        y = self.norm(x)
        q, k, v = (m(y).flatten(2).transpose(1, 2) for m in (self.q, self.k, self.v))  # [B, HW, C]
        o = F.scaled_dot_product_attention(q.unsqueeze(1), k.unsqueeze(1), v.unsqueeze(1)).squeeze(1)
        return x + self.proj_out(o.transpose(1, 2).reshape(b, c, h, w))


class Downsample(nn.Module):
    """Pad right/bottom by one, Conv3 s2: [B, C, H, W] -> [B, C, H/2, W/2]."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, 2, 0)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Upsample(nn.Module):
    """Bilinear x2 (align_corners) and Conv3: [B, C, H, W] -> [B, C, 2H, 2W].

    The release also builds ``conv1`` (ConvTranspose2d 4x4 s2, no bias) here and never calls it.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=True))


class SEA(nn.Module):
    """Spatial Extend Attention: patch-pooled CBAM spatial attention.

    Args:
        patch: side of the tiles whose mean / max fill the pooled maps (7 as released).
        kernel: side of the attention conv (7, padding 3).
    """

    def __init__(self, patch: int = SEA_PATCH, kernel: int = 7) -> None:
        super().__init__()
        self.patch = patch
        self.conv1 = nn.Conv2d(2, 1, kernel, padding=kernel // 2, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        """[B, C, H, W] (H, W multiples of ``patch``) -> [B, C, H, W]."""
        p = self.patch
        if x.shape[-1] % p or x.shape[-2] % p:
            raise ValueError(f"SEA: map {tuple(x.shape[-2:])} is not a multiple of its {p}x{p} patch")
        avg = F.avg_pool2d(x.mean(1, keepdim=True), p)
        mx = F.max_pool2d(x.amax(1, keepdim=True), p)
        pooled = torch.cat((avg, mx), 1).repeat_interleave(p, 2).repeat_interleave(p, 3)
        return x * torch.sigmoid(self.conv1(pooled))


class Encoder(nn.Module):
    """x [B, 3, S, S] in [0, 1] -> [B, z_channels, S/8, S/8] (before ``quant_conv``).

    Args:
        in_channels: image channels.
        ch: channels of the first level; level i has ``ch * ch_mult[i]``.
        ch_mult: width multipliers, one per level (the side halves between levels).
        num_res_blocks: residual blocks per level.
        z_channels: output channels.
        attn_levels: levels whose residual blocks are followed by attention (the release: the
            last, at 14 x 14; genfer ties attention to the bottleneck level at every size).
    """

    def __init__(self, in_channels: int = 3, ch: int = 128, ch_mult: tuple[int, ...] = (1, 2, 2, 4),
                 num_res_blocks: int = 2, z_channels: int = 256, attn_levels: tuple[int, ...] = (3,)) -> None:
        super().__init__()
        self.conv_in = nn.Conv2d(in_channels, ch, 3, 1, 1)
        self.down = nn.ModuleList()
        cin = ch
        for i, mult in enumerate(ch_mult):
            level = nn.Module()
            cout = ch * mult
            level.block = nn.ModuleList()
            level.attn = nn.ModuleList()
            for _ in range(num_res_blocks):
                level.block.append(ResBlock(cin, cout))
                cin = cout
                if i in attn_levels:
                    level.attn.append(AttnBlock(cin))
            if i != len(ch_mult) - 1:
                level.downsample = Downsample(cin)
            self.down.append(level)
        self.mid = nn.Module()
        self.mid.block_1 = ResBlock(cin, cin)
        self.mid.attn_1 = AttnBlock(cin)
        self.mid.block_2 = ResBlock(cin, cin)
        self.norm_out = Normalize(cin)
        self.conv_out = nn.Conv2d(cin, z_channels, 3, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv_in(x)
        for level in self.down:
            for j, block in enumerate(level.block):
                h = block(h)
                if len(level.attn):
                    h = level.attn[j](h)
            if hasattr(level, "downsample"):
                h = level.downsample(h)
        h = self.mid.block_2(self.mid.attn_1(self.mid.block_1(h)))
        return self.conv_out(group_norm_silu(h, self.norm_out))


class ColourDecoder(nn.Module):
    """The colour decoder (release ``decoder1``): h [B, z, s, s] -> colour map [B, 3, 8s, 8s] in [-1, 1].

    conv_in -> [Res, Attn, Res] -> [Res, Res, Attn x 3, Up] -> [Res w->w/2, Res, Up] -> [Res x 2, Up]
    -> [Res w/2->w/4, Res] -> GN, swish, Conv3 -> tanh.
    """

    def __init__(self, z_channels: int = 256, width: int = 512, out_channels: int = 3) -> None:
        super().__init__()
        w, w2, w4 = width, width // 2, width // 4
        self.conv_in = nn.Conv2d(z_channels, w, 3, 1, 1)
        self.l0_r0, self.l0_a0, self.l0_r1 = ResBlock(w, w), AttnBlock(w), ResBlock(w, w)
        self.l1_r0, self.l1_r1 = ResBlock(w, w), ResBlock(w, w)
        self.l1_a0, self.l1_a1, self.l1_a2 = AttnBlock(w), AttnBlock(w), AttnBlock(w)
        self.l1_up = Upsample(w)
        self.l2_r0, self.l2_r1, self.l2_up = ResBlock(w, w2), ResBlock(w2, w2), Upsample(w2)
        self.l3_r0, self.l3_r1, self.l3_up = ResBlock(w2, w2), ResBlock(w2, w2), Upsample(w2)
        self.l4_r0, self.l4_r1 = ResBlock(w2, w4), ResBlock(w4, w4)
        self.norm_out = Normalize(w4)
        self.color_out = nn.Sequential(nn.Conv2d(w4, out_channels, 3, 1, 1), nn.Tanh())

    def forward(self, z: Tensor) -> Tensor:
        h = self.l0_r1(self.l0_a0(self.l0_r0(self.conv_in(z))))
        h = self.l1_r1(self.l1_r0(h))
        h = self.l1_up(self.l1_a2(self.l1_a1(self.l1_a0(h))))
        h = self.l2_up(self.l2_r1(self.l2_r0(h)))
        h = self.l3_up(self.l3_r1(self.l3_r0(h)))
        h = self.l4_r1(self.l4_r0(h))
        return self.color_out(group_norm_silu(h, self.norm_out))


class MaskDecoder(nn.Module):
    """The mask decoder (release ``decoder2``): h [B, z, s, s] -> mask [B, 1, 8s, 8s] in (0, 1).

    conv_in -> [Res x 2] -> SEA -> [Res x 2] -> [Res w->w/2, Res, Up] -> [Res x 2, Up]
    -> [Res w/2->w/4, Res, Up] -> GN, swish, Conv3 -> sigmoid.
    """

    def __init__(self, z_channels: int = 256, width: int = 512, patch: int = SEA_PATCH) -> None:
        super().__init__()
        w, w2, w4 = width, width // 2, width // 4
        self.conv_in = nn.Conv2d(z_channels, w, 3, 1, 1)
        self.l0_r0, self.l0_r1 = ResBlock(w, w), ResBlock(w, w)
        self.attn = SEA(patch)
        self.l1_r0, self.l1_r1 = ResBlock(w, w), ResBlock(w, w)
        self.l2_r0, self.l2_r1, self.l2_up = ResBlock(w, w2), ResBlock(w2, w2), Upsample(w2)
        self.l3_r0, self.l3_r1, self.l3_up = ResBlock(w2, w2), ResBlock(w2, w2), Upsample(w2)
        self.l4_r0, self.l4_r1, self.l4_up = ResBlock(w2, w4), ResBlock(w4, w4), Upsample(w4)
        self.norm_out = Normalize(w4)
        self.mask_out = nn.Sequential(nn.Conv2d(w4, 1, 3, 1, 1), nn.Sigmoid())

    def forward(self, z: Tensor) -> Tensor:
        h = self.attn(self.l0_r1(self.l0_r0(self.conv_in(z))))
        h = self.l1_r1(self.l1_r0(h))
        h = self.l2_up(self.l2_r1(self.l2_r0(h)))
        h = self.l3_up(self.l3_r1(self.l3_r0(h)))
        h = self.l4_up(self.l4_r1(self.l4_r0(h)))
        return self.mask_out(group_norm_silu(h, self.norm_out))


def d_sizes(image_size: int, n_layers: int) -> list[int]:
    """Sides after each Conv4 s2 p1 of the discriminator trunk; raises if one would vanish."""
    sizes = [image_size]
    for _ in range(n_layers):
        sizes.append((sizes[-1] + 2 - 4) // 2 + 1)
    if sizes[-1] < 1:
        raise ValueError(f"cdan: a {image_size}-px image is too small for {n_layers} discriminator layers "
                         f"(sides {sizes}); lower d_layers")
    return sizes


class Discriminator(nn.Module):
    """GANimation-style trunk and one head: Conv4 s2 p1 (bias) + LReLU(0.01), then
    ``n_layers - 1`` x [Conv4 s2 p1 (no bias) + LReLU(0.01)], channels doubling from ``dim``.

    Args:
        head: ``"feature"``: ``dis_top`` Conv3 s1 p1 -> 1, a real/fake logit per position, averaged
            (one position at 112 px); ``"au"``: ``aus_top`` Conv k (``k = image_size // 2**n_layers``,
            at least 1; 1 at 112 px) -> ``num_aus``, averaged over positions.
    """

    def __init__(self, head: str, image_size: int = 112, in_channels: int = 3, dim: int = 64,
                 n_layers: int = 6, num_aus: int = 6) -> None:
        super().__init__()
        side = d_sizes(image_size, n_layers)[-1]
        layers: list[nn.Module] = [nn.Conv2d(in_channels, dim, 4, 2, 1), nn.LeakyReLU(0.01)]
        c = dim
        for _ in range(1, n_layers):
            # DownConv: the same conv, by unfold + one matrix product on the last, tiny maps (7 -> 3 -> 1
            # at 112 px), where the CPU kernels spent ~0.6 s per call reordering a 33M-weight layer
            layers += [DownConv(c, 2 * c), nn.LeakyReLU(0.01)]
            c *= 2
        self.model = nn.Sequential(*layers)
        self.head = head
        if head == "feature":
            self.dis_top = nn.Conv2d(c, 1, 3, 1, 1, bias=False)
        elif head == "au":
            k = min(max(1, image_size // 2**n_layers), side)
            self.aus_top = nn.Conv2d(c, num_aus, k, 1, 0, bias=False)
        else:
            raise ValueError(f"unknown discriminator head {head!r}")

    def forward(self, x: Tensor) -> Tensor:
        """[B, C, S, S] -> [B] logits (feature head) or [B, num_aus] (AU head), for any B >= 1."""
        h = self.model(x)
        out = self.dis_top(h) if self.head == "feature" else self.aus_top(h)
        out = out.mean((2, 3))
        return out[:, 0] if self.head == "feature" else out


def count(module: nn.Module) -> int:
    """Number of parameters of a module."""
    return sum(p.numel() for p in module.parameters())
