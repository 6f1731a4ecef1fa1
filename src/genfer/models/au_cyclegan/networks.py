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
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from genfer.models.layers.conv_blocks import InstanceNorm2d

GEMM_MAX_PIXELS = 64
"""The generator's ``UpConv`` layers with inputs of at most this many pixels (8 x 8) use their GEMM path."""
UNFOLD_MAX_PIXELS = 16
"""``DownConv`` uses its unfold + matrix-product path for outputs of at most this many pixels (4 x 4)."""


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


class SelfAttention2d(nn.Module):
    """SAGAN self-attention (Zhang et al. 2019): ``x + gamma * softmax(f(x)^T g(x)) h(x)``.

    Queries and keys are 1x1 convs to ``channels // 8`` (at least 1), values a 1x1 conv to
    ``channels``; ``gamma`` starts at 0 so the block starts as the identity.

    Args:
        channels: input and output channels.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        k = max(1, channels // 8)
        self.query = nn.Conv2d(channels, k, 1)
        self.key = nn.Conv2d(channels, k, 1)
        self.value = nn.Conv2d(channels, channels, 1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: Tensor) -> Tensor:
        """x: [B, C, H, W] -> [B, C, H, W]."""
        b, c, h, w = x.shape
        q = self.query(x).flatten(2).transpose(1, 2)  # [B, HW, k]
        k = self.key(x).flatten(2)  # [B, k, HW]
        v = self.value(x).flatten(2)  # [B, C, HW]
        attn = torch.softmax(torch.bmm(q, k), dim=-1)  # [B, HW(query), HW(key)]
        out = torch.bmm(v, attn.transpose(1, 2)).view(b, c, h, w)
        return x + self.gamma * out


class _ConvTranspose4s2(torch.autograd.Function):
    """ConvTranspose2d(kernel 4, stride 2, padding 1) as one GEMM on channels-last memory + col2im.

    On CPU the library's transposed convolution is slow for small maps with many channels (the
    generator's first two decoder layers: 3 x 3 x 1041 and 7 x 7 x 1553 inputs); one matrix
    product ``[B*H*W, C_in] @ [C_in, 16 * C_out]`` followed by 16 strided adds computes the same
    function several times faster there. Not twice differentiable (the generator never needs it).
    """

    @staticmethod
    @torch.amp.custom_fwd(device_type="cpu")  # the backward runs in the forward's autocast state
    def forward(ctx, x: Tensor, w: Tensor, output_padding: int) -> Tensor:
        b, c_in, h, wd = x.shape
        c_out = w.shape[1]
        cols = torch.mm(x.permute(0, 2, 3, 1).reshape(b * h * wd, c_in), w.permute(0, 2, 3, 1).reshape(c_in, -1))
        cols = cols.view(b, h, wd, 4, 4, c_out)
        out = x.new_zeros(b, 2 * h + 2, 2 * wd + 2, c_out)  # output padded by one pixel on each side
        for ky in range(4):
            for kx in range(4):
                out[:, ky : ky + 2 * h : 2, kx : kx + 2 * wd : 2].add_(cols[:, :, :, ky, kx])
        ctx.save_for_backward(x, w)
        ho, wo = 2 * h + output_padding, 2 * wd + output_padding
        out = out[:, 1 : 1 + ho, 1 : 1 + wo].permute(0, 3, 1, 2)
        return out.contiguous(memory_format=torch.channels_last)

    @staticmethod
    @once_differentiable
    @torch.amp.custom_bwd(device_type="cpu")
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, Tensor | None, None]:
        x, w = ctx.saved_tensors
        b, c_in, h, wd = x.shape
        c_out = w.shape[1]
        ho, wo = grad.shape[-2:]
        padded = grad.new_zeros(b, 2 * h + 2, 2 * wd + 2, c_out)
        padded[:, 1 : 1 + ho, 1 : 1 + wo] = grad.permute(0, 2, 3, 1)
        cols = grad.new_empty(b, h, wd, 4, 4, c_out)
        for ky in range(4):
            for kx in range(4):
                cols[:, :, :, ky, kx] = padded[:, ky : ky + 2 * h : 2, kx : kx + 2 * wd : 2]
        cols = cols.view(b * h * wd, 16 * c_out)
        gx = gw = None
        if ctx.needs_input_grad[0]:
            gx = torch.mm(cols, w.permute(0, 2, 3, 1).reshape(c_in, -1).t()).view(b, h, wd, c_in)
            gx = gx.permute(0, 3, 1, 2)
        if ctx.needs_input_grad[1]:
            gw = torch.mm(x.permute(0, 2, 3, 1).reshape(b * h * wd, c_in).t(), cols)
            gw = gw.view(c_in, 4, 4, c_out).permute(0, 3, 1, 2)
        return gx, gw, None


class UpConv(nn.ConvTranspose2d):
    """``nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, output_padding)`` (same parameters and function).

    With ``gemm`` (chosen by the generator for inputs of at most ``GEMM_MAX_PIXELS`` pixels) it runs
    through ``_ConvTranspose4s2`` on CPU, and the weight (shape ``[C_in, C_out, 4, 4]`` as usual)
    is stored in ``[C_in, 4, 4, C_out]`` memory order so that the product needs no copy of it.
    Other devices use the library's kernel.
    """

    def __init__(self, c_in: int, c_out: int, output_padding: int = 0, bias: bool = False, gemm: bool = False) -> None:
        super().__init__(c_in, c_out, 4, 2, 1, output_padding=output_padding, bias=bias)
        self.gemm = gemm
        if gemm:
            w = torch.empty(c_in, 4, 4, c_out).permute(0, 3, 1, 2)
            with torch.no_grad():
                w.copy_(self.weight)  # the default initialisation, in the GEMM's memory order
            self.weight = nn.Parameter(w)

    def forward(self, x: Tensor, output_size: list[int] | None = None) -> Tensor:
        """x: [B, C_in, H, W] -> [B, C_out, 2H + output_padding, 2W + output_padding]."""
        if output_size is not None:
            return super().forward(x, output_size)
        return self.apply_with(x, self.weight, self.bias)

    def apply_with(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        """This layer's function with other parameters of the same shapes (folded BatchNorm)."""
        if not self.gemm or x.device.type != "cpu":
            return F.conv_transpose2d(x, weight, bias, 2, 1, self.output_padding)
        y = _ConvTranspose4s2.apply(x, weight, self.output_padding[0])
        return y if bias is None else y + bias[:, None, None]


class DownConv(nn.Conv2d):
    """``nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False)`` (same parameters and function).

    When the output has at most ``UNFOLD_MAX_PIXELS`` pixels (the 7 -> 3 layer at 112 px), the
    CPU convolution kernels are several times slower than ``unfold`` + one matrix product, so
    that path is used there; it is built from differentiable ops, so the critic's gradient
    penalty can differentiate through it twice.
    """

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__(c_in, c_out, 4, 2, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        """x: [B, C_in, H, W] -> [B, C_out, H // 2, W // 2]."""
        return self.apply_with(x, self.weight, None)

    def apply_with(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        """This layer's function with another weight (and an optional bias: folded BatchNorm)."""
        ho, wo = x.shape[-2] // 2, x.shape[-1] // 2
        if x.device.type != "cpu" or ho * wo > UNFOLD_MAX_PIXELS:
            return F.conv2d(x, weight, bias, 2, 1)
        b = x.shape[0]
        cols = F.unfold(x, 4, padding=1, stride=2).transpose(1, 2).reshape(b * ho * wo, -1)  # [B*L, C_in*16]
        # one 2-D product: a batched matmul would expand the weight per sample in the backward
        w = weight.view(self.out_channels, -1).t()
        y = torch.mm(cols, w) if bias is None else torch.addmm(bias, cols, w)
        return y.view(b, ho, wo, self.out_channels).permute(0, 3, 1, 2)


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
        n = len(self.dec)
        z = feats[-1]
        z = torch.cat((z, tile(c, z.shape[-1]).to(z.dtype)), 1)
        for i, layer in enumerate(self.dec):
            z = layer(z)
            if i == n - 1:
                break
            if i == self.attn_at:
                z = self.attn(z)
            if i < self.shortcut_layers:
                z = torch.cat((z, feats[n - 2 - i]), 1)
            if i < self.inject_layers:
                z = torch.cat((z, tile(c, z.shape[-1]).to(z.dtype)), 1)
        if not self.mask:
            return torch.tanh(z), None
        if x is None:
            raise ValueError("the mask output blends the input image: pass x to decode")
        colour, a = torch.tanh(z[:, :-1]), torch.sigmoid(z[:, -1:])
        return a * x + (1 - a) * colour, a

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


def total_variation(m: Tensor) -> Tensor:
    """GANimation's mask smoothness: squared neighbour differences summed per image, batch mean."""
    dy = (m[..., 1:, :] - m[..., :-1, :]).square().flatten(1).sum(1)
    dx = (m[..., :, 1:] - m[..., :, :-1]).square().flatten(1).sum(1)
    return (dy + dx).mean()


__all__ = ["Critic", "Generator", "SelfAttention2d", "down_sizes", "tile", "total_variation", "widths"]

