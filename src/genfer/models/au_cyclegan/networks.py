"""The AU-conditioned generator and the two-headed critic (released e8 architecture, plus options).

Generator (AttGAN-style encoder-decoder): ``n_layers`` x [Conv4 s2 p1 (no bias) -> BN ->
LReLU(0.01)] down to ``image_size / 2**n_layers``; the decoder starts from the deepest map
concatenated with the condition vector tiled over it, and runs ``n_layers`` x [ConvT4 s2 p1 (no
bias) -> BN -> ReLU] back up, the last one (with bias, no norm) giving the image through tanh.
After the first ``shortcut_layers`` decoder blocks the encoder map of the same size is
concatenated (skip), after the first ``inject_layers`` blocks the tiled condition again.
``output_padding`` is chosen per layer so that every decoder map has its encoder partner's size
(112 -> 56 -> 28 -> 14 -> 7 -> 3 and back: the first transposed conv adds one pixel, as released).

Critic: the same down-sampling trunk with affine instance norm, flattened, then two heads:
adversarial (Linear -> ReLU -> Linear -> 1) and AU (Linear -> ReLU -> Linear -> num_aus).

Options absent from the release: a SAGAN self-attention block after the generator's decoder block
or critic's trunk block of a chosen resolution, and GANimation's output: a colour image C and an
attention mask A with ``out = A * x + (1 - A) * C``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from genfer.models.layers.attention import SelfAttention2d
from genfer.models.layers.conv4s2 import GEMM_MAX_PIXELS, DownConv, UpConv
from genfer.models.layers.mask_blend import colour_and_mask, mask_blend
from genfer.models.layers.norms import InstanceNorm2d


def down_sizes(image_size: int, n_layers: int) -> list[int]:
    """Spatial sides after each Conv4 s2 p1: ``[image_size, s1, ..., s_n]`` (``s_{i+1} = s_i // 2``).

    Raises:
        ValueError: if the deepest map would be smaller than 1 pixel.
    """
    sizes = [image_size]
    for _ in range(n_layers):
        sizes.append(sizes[-1] // 2)
    if sizes[-1] < 1:
        raise ValueError(f"image size {image_size} is too small for {n_layers} stride-2 layers")
    return sizes


def widths(base: int, n_layers: int, max_width: int) -> list[int]:
    """Channels of the down-sampling blocks: ``min(base * 2**i, max_width)`` for i < n_layers."""
    return [min(base * 2**i, max_width) for i in range(n_layers)]


def tile(c: Tensor, size: int) -> Tensor:
    """Condition ``[B, K]`` -> ``[B, K, size, size]`` (a view; ``torch.cat`` materialises it)."""
    return c[:, :, None, None].expand(-1, -1, size, size)


class _FoldedBN:
    """Inference-only: a conv (no bias) followed by an eval-mode BatchNorm as one conv with bias.

    The folded parameters are cached until a parameter or running statistic changes (tracked by
    tensor versions), and used only under ``torch.inference_mode`` in eval mode, where BN is a fixed
    per-channel affine map; training and autograd never see them.
    """

    def _bn_fold_ok(self) -> bool:
        return not self.training and torch.is_inference_mode_enabled() and isinstance(self[1], nn.BatchNorm2d)

    def _folded(self, out_dim: int) -> tuple[Tensor, Tensor]:
        conv, bn = self[0], self[1]
        tensors = (conv.weight, bn.weight, bn.bias, bn.running_mean, bn.running_var)
        key = tuple((t._version, t.data_ptr(), t.dtype) for t in tensors)
        if getattr(self, "_fold_key", None) != key:
            scale = bn.weight * torch.rsqrt(bn.running_var + bn.eps)
            shape = [1] * conv.weight.ndim
            shape[out_dim] = -1
            self._fold = (conv.weight * scale.view(shape), bn.bias - bn.running_mean * scale)
            self._fold_key = key
        return self._fold


class DownBlock(_FoldedBN, nn.Sequential):
    """Conv4 s2 p1 (no bias; ``DownConv``) -> norm (``batch`` or ``instance``, affine) -> LeakyReLU(0.01)."""

    def __init__(self, c_in: int, c_out: int, norm: str) -> None:
        norm_layer = nn.BatchNorm2d(c_out) if norm == "batch" else InstanceNorm2d(c_out, affine=True)
        super().__init__(DownConv(c_in, c_out), norm_layer, nn.LeakyReLU(0.01))

    def forward(self, x: Tensor) -> Tensor:
        """x: [B, C_in, H, W] -> [B, C_out, H // 2, W // 2]."""
        if self._bn_fold_ok():
            return self[2](self[0].apply_with(x, *self._folded(0)))
        return super().forward(x)


class UpBlock(_FoldedBN, nn.Sequential):
    """ConvT4 s2 p1 (no bias, given output padding; ``UpConv``) -> BN -> ReLU."""

    def __init__(self, c_in: int, c_out: int, output_padding: int, gemm: bool = False) -> None:
        super().__init__(
            UpConv(c_in, c_out, output_padding, gemm=gemm),
            nn.BatchNorm2d(c_out),
            nn.ReLU(),
        )

    def forward(self, x: Tensor) -> Tensor:
        """x: [B, C_in, H, W] -> [B, C_out, 2H + op, 2W + op]."""
        if self._bn_fold_ok():
            return self[2](self[0].apply_with(x, *self._folded(1)))
        return super().forward(x)


class Generator(nn.Module):
    """``G(x, c)``: an image ``[B, C, H, W]`` edited to the condition ``c`` ``[B, K]``.

    Args:
        image_size: input side (112 released).
        channels: image channels.
        num_aus: condition length K (17).
        enc_dim: channels of the first encoder block (doubled per block up to ``max_width``).
        dec_dim: the decoder's widths mirror ``dec_dim * 2**i`` up to ``max_width``.
        n_layers: encoder blocks = decoder blocks (5).
        max_width: channel cap (1024).
        shortcut_layers: decoder blocks followed by a skip concatenation (1).
        inject_layers: decoder blocks followed by a second tiled condition (1).
        attention: side of the decoder map after which a self-attention block runs (0 = none).
        mask: GANimation output (colour + attention mask) instead of a direct image.
    """

    def __init__(
        self,
        image_size: int = 112,
        channels: int = 3,
        num_aus: int = 17,
        enc_dim: int = 64,
        dec_dim: int = 64,
        n_layers: int = 5,
        max_width: int = 1024,
        shortcut_layers: int = 1,
        inject_layers: int = 1,
        attention: int = 0,
        mask: bool = False,
    ) -> None:
        super().__init__()
        self.sizes = sizes = down_sizes(image_size, n_layers)
        self.shortcut_layers = min(shortcut_layers, n_layers - 1)
        self.inject_layers = min(inject_layers, n_layers - 1)
        self.mask = mask
        enc_w = widths(enc_dim, n_layers, max_width)
        self.enc = nn.ModuleList(
            DownBlock(c_in, c_out, "batch") for c_in, c_out in zip([channels, *enc_w[:-1]], enc_w)
        )
        dec_w = widths(dec_dim, n_layers, max_width)[::-1]  # 1024, 512, 256, 128, 64 at the defaults
        self.dec = nn.ModuleList()
        self.attn_at = -1
        self.attn: nn.Module | None = None
        c_in = enc_w[-1] + num_aus
        for i in range(n_layers):
            target = sizes[n_layers - 1 - i]
            pad = target - 2 * sizes[n_layers - i]
            gemm = sizes[n_layers - i] ** 2 <= GEMM_MAX_PIXELS
            if i == n_layers - 1:
                self.dec.append(UpConv(c_in, channels + int(mask), pad, bias=True, gemm=gemm))
                break
            self.dec.append(UpBlock(c_in, dec_w[i], pad, gemm))
            c_in = dec_w[i]
            if attention == target and self.attn is None:
                self.attn_at, self.attn = i, SelfAttention2d(c_in)
            if i < self.shortcut_layers:
                c_in += enc_w[n_layers - 2 - i]
            if i < self.inject_layers:
                c_in += num_aus
        if attention and self.attn is None:
            allowed = sorted({sizes[n_layers - 1 - i] for i in range(n_layers - 1)})
            raise ValueError(f"generator attention at {attention} px: no decoder map of that size; use {allowed}")

    def encode(self, x: Tensor) -> list[Tensor]:
        """Encoder maps, shallow to deep: ``[B, w_i, s_i, s_i]`` for i = 1..n_layers."""
        feats = []
        for block in self.enc:
            x = block(x)
            feats.append(x)
        return feats

    def decode(self, feats: list[Tensor], c: Tensor, x: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """Decode encoder maps under condition ``c`` ``[B, K]``.

        Args:
            feats: ``encode``'s output.
            c: condition vectors.
            x: the encoded image (needed only with the mask output, which blends it).

        Returns:
            (image ``[B, C, H, W]`` in [-1, 1] up to the mask blend, mask ``[B, 1, H, W]`` in
            [0, 1] or ``None``).
        """
        return self.decode_many(feats, [c], x)[0]

    def decode_many(self, feats: list[Tensor], conds: list[Tensor], x: Tensor | None = None
                    ) -> list[tuple[Tensor, Tensor | None]]:
        """``[decode(feats, c, x) for c in conds]``, computed together.

        The first decoder layers see the deepest encoder map and the skip map, the same in every
        decode: their share of those layers' products is computed once (``UpConv.forward_shared``).
        Each decode keeps its own BatchNorm statistics, as separate calls would.
        """
        n = len(self.dec)
        z = feats[-1]
        parts = [[z, tile(c, z.shape[-1]).to(z.dtype)] for c in conds]
        for i, layer in enumerate(self.dec):
            ys = self._up(layer, parts)
            if i == n - 1:
                break
            if i == self.attn_at:
                ys = [self.attn(y) for y in ys]
            parts = [[y] for y in ys]
            for part, c in zip(parts, conds, strict=True):
                if i < self.shortcut_layers:
                    part.append(feats[n - 2 - i])
                if i < self.inject_layers:
                    part.append(tile(c, part[0].shape[-1]).to(part[0].dtype))
        return [self._output(y, x) for y in ys]

    @staticmethod
    def _up(layer: nn.Module, parts: list[list[Tensor]]) -> list[Tensor]:
        """A decoder layer (``UpBlock`` or the last ``UpConv``) on each decode's input chunks."""
        if len(parts) == 1:
            return [layer(parts[0][0] if len(parts[0]) == 1 else torch.cat(parts[0], 1))]
        if isinstance(layer, UpBlock):
            return [layer[2](layer[1](y)) for y in layer[0].forward_shared(parts)]
        return layer.forward_shared(parts)

    def _output(self, z: Tensor, x: Tensor | None) -> tuple[Tensor, Tensor | None]:
        if not self.mask:
            return torch.tanh(z), None
        if x is None:
            raise ValueError("the mask output blends the input image: pass x to decode")
        colour, a = colour_and_mask(z)
        return mask_blend(x, colour, a), a

    def forward(self, x: Tensor, c: Tensor) -> tuple[Tensor, Tensor | None]:
        """x: [B, C, H, W], c: [B, K] -> (image [B, C, H, W], mask [B, 1, H, W] or None)."""
        return self.decode(self.encode(x), c, x)


class Critic(nn.Module):
    """``D(x) -> (adversarial score [B], AU outputs [B, K])``.

    Args:
        image_size: input side.
        channels: image channels.
        num_aus: AU outputs K.
        dim: channels of the first trunk block (doubled per block up to ``max_width``).
        n_layers: trunk blocks (5).
        max_width: channel cap (1024).
        fc_dim: hidden width of both heads (1024).
        attention: side of the trunk map after which a self-attention block runs (0 = none).
    """

    def __init__(
        self,
        image_size: int = 112,
        channels: int = 3,
        num_aus: int = 17,
        dim: int = 64,
        n_layers: int = 5,
        max_width: int = 1024,
        fc_dim: int = 1024,
        attention: int = 0,
    ) -> None:
        super().__init__()
        sizes = down_sizes(image_size, n_layers)
        w = widths(dim, n_layers, max_width)
        blocks: list[nn.Module] = []
        for i, (c_in, c_out) in enumerate(zip([channels, *w[:-1]], w)):
            blocks.append(DownBlock(c_in, c_out, "instance"))
            if attention and attention == sizes[i + 1] and not any(isinstance(b, SelfAttention2d) for b in blocks):
                blocks.append(SelfAttention2d(c_out))
        if attention and not any(isinstance(b, SelfAttention2d) for b in blocks):
            raise ValueError(f"critic attention at {attention} px: no trunk map of that size; use {sizes[1:]}")
        self.trunk = nn.Sequential(*blocks)
        flat = w[-1] * sizes[-1] ** 2
        self.adv_head = nn.Sequential(nn.Linear(flat, fc_dim), nn.ReLU(), nn.Linear(fc_dim, 1))
        self.au_head = nn.Sequential(nn.Linear(flat, fc_dim), nn.ReLU(), nn.Linear(fc_dim, num_aus))

    def features(self, x: Tensor) -> Tensor:
        """x: [B, C, H, W] -> flattened trunk features [B, w * s * s]."""
        return self.trunk(x).flatten(1)

    def adv(self, h: Tensor) -> Tensor:
        """Adversarial scores [B] from ``features``."""
        return self.adv_head(h).squeeze(1)

    def aus(self, h: Tensor) -> Tensor:
        """AU outputs [B, K] from ``features`` (logits for BCE, values for L1)."""
        return self.au_head(h)

    def score(self, x: Tensor) -> Tensor:
        """Adversarial scores [B] of images (the gradient penalty's critic)."""
        return self.adv(self.features(x))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x: [B, C, H, W] -> (scores [B], AU outputs [B, K])."""
        h = self.features(x)
        return self.adv(h), self.aus(h)


__all__ = ["Critic", "Generator", "down_sizes", "tile", "widths"]

