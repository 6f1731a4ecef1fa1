"""JESRL's networks, with the released state-dict keys (``nets.py`` of zhangxi1997/JESRL-FER).

- :class:`Normalization`: L2 over channels at each pixel, then scalar ``alpha * x + beta``; in the
  encoder, decoder and discriminators the layer's activation runs inside it (one autograd function
  keeping one full-size tensor per layer instead of three), its own module slot an ``nn.Identity``.
- :class:`Encoder`: 5 x [Conv3 s2 -> Norm -> LReLU(0.2)], 3 -> 64 -> 128 -> 256 -> 512 -> 512; the
  first four stage outputs are the skips. 256 px -> z ``[B, 512, 8, 8]``.
- :class:`LabelDecoder` (``Decoder_label``): ``[z1, z2, tiled change vector]`` -> 4 x [ConvT3 s2 ->
  Norm -> ReLU, + skip] -> ConvT3 s2 -> ``2 tanh``: a residual image.
- :class:`Discriminator`: conditional, sigmoid output; average-pools its input down to
  ``img_size`` first (D2 sees 128 px), then concatenates the label maps.
- :class:`VGGFx` (``VGG_fx``): the recogniser, VGG19-BN features fused with the encoder's fx
  through the shared ``fx_linear`` applied twice, as released.

The convolutions are ``SumBiasConv2d`` / ``SumBiasConvTranspose2d`` (``nn.Conv2d`` /
``nn.ConvTranspose2d`` whose CPU backward sums the bias gradient instead of asking the library's
kernel for it). Widths are arguments so that tests can build narrow networks; the defaults are the
release's.
Key names equal the release's, so its checkpoints load without conversion.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from genfer.models.layers.sum_bias import SumBiasConv2d, SumBiasConvTranspose2d
from genfer.models.layers.vgg import vgg19_bn_features, vgg_head


class _PixelNormAffine(torch.autograd.Function):
    """``x / max(||x||_c, eps) * alpha + beta``, then a ReLU when ``relu``, with a hand-written backward.

    The function of ``F.normalize(x, dim=1) * alpha + beta``, but autograd keeps one per-pixel
    scale instead of the graph of norm, clamp, expand, divide, multiply and add: at 256 px these
    layers cost a quarter of a training iteration on CPU. The ReLU's mask is recomputed from ``x``
    in the backward, so the activated map is not kept besides ``x``. Not twice differentiable.
    """

    @staticmethod
    def forward(ctx, x: Tensor, alpha: Tensor, beta: Tensor, eps: float, relu: bool = False) -> Tensor:
        norm, inv = _norm_and_inverse(x, eps)
        ctx.relu = relu
        ctx.save_for_backward(x, inv, alpha, beta, (norm > eps))
        y = torch.addcmul(beta.to(x.dtype), x, inv * alpha.to(x.dtype))
        return y.relu_() if relu else y

    @staticmethod
    def backward(ctx, g: Tensor):
        x, inv, alpha, beta, unclamped = ctx.saved_tensors
        scale = inv * alpha.to(x.dtype)
        if ctx.relu:  # the ReLU's gradient, its mask from the recomputed pre-activation
            g = torch.ops.aten.threshold_backward(g, torch.addcmul(beta.to(x.dtype), x, scale), 0)
        t = _channel_dot(g, x)  # [B, 1, H, W]
        # d/dx of x * r with r = 1/||x||: r (g - x r^2 <g, x>) where the norm is not clamped;
        # as g * s - x * (c * s): two passes over the full-size tensors instead of four
        coef = torch.where(unclamped, inv * inv * t, torch.zeros_like(t))
        gx = (g * scale).addcmul_(x, coef * scale, value=-1) if ctx.needs_input_grad[0] else None
        ga = (t * inv).sum().reshape(alpha.shape).to(alpha.dtype) if ctx.needs_input_grad[1] else None
        gb = g.sum().reshape(alpha.shape).to(alpha.dtype) if ctx.needs_input_grad[2] else None
        return gx, ga, gb, None, None


class _PixelNormAffineLeakyReLU(torch.autograd.Function):
    """``leaky_relu(x / max(||x||_c, eps) * alpha + beta, slope)``, keeping only its output.

    The leaky ReLU is invertible, so the backward recovers ``alpha x_hat = lrelu(z, 1/slope) - beta``
    from the output ``z``: autograd keeps ``z`` (which the next convolution keeps anyway) and the
    per-pixel scale, not the conv output and the normalised map besides (two of every layer's three
    full-size tensors in the encoder and the discriminators). Not twice differentiable.
    """

    @staticmethod
    def forward(ctx, x: Tensor, alpha: Tensor, beta: Tensor, eps: float, slope: float) -> Tensor:
        norm, inv = _norm_and_inverse(x, eps)
        z = torch.addcmul(beta.to(x.dtype), x, inv * alpha.to(x.dtype))
        torch.nn.functional.leaky_relu_(z, slope)
        ctx.slope = slope
        ctx.save_for_backward(z, inv, alpha, beta, (norm > eps))
        return z

    @staticmethod
    def backward(ctx, g: Tensor):
        z, inv, alpha, beta, unclamped = ctx.saved_tensors
        a = alpha.to(z.dtype)
        a = torch.where(a.abs() < 1e-12, torch.full_like(a, 1e-12).copysign(a), a)  # alpha = 0 erases x
        gy = torch.ops.aten.leaky_relu_backward(g, z, ctx.slope, True)
        ym = F.leaky_relu(z, 1.0 / ctx.slope).sub_(beta.to(z.dtype))  # alpha * x_hat
        d = _channel_dot(gy, ym) / a  # <gy, x_hat> per pixel, [B, 1, H, W]
        gx = None
        if ctx.needs_input_grad[0]:
            # d/dx of alpha x r + beta with r = 1/||x||: alpha r (gy - x_hat <gy, x_hat>) where not clamped
            gx = gy * (inv * a)
            gx.addcmul_(ym, torch.where(unclamped, inv * d, torch.zeros_like(d)), value=-1)
        ga = d.sum().reshape(alpha.shape).to(alpha.dtype) if ctx.needs_input_grad[1] else None
        gb = gy.sum().reshape(alpha.shape).to(alpha.dtype) if ctx.needs_input_grad[2] else None
        return gx, ga, gb, None, None


def _norm_and_inverse(x: Tensor, eps: float) -> tuple[Tensor, Tensor]:
    """``x`` ``[B, C, H, W]`` -> its L2 norm over channels and ``1 / max(norm, eps)``, both ``[B, 1, H, W]``."""
    norm = torch.linalg.vector_norm(x, dim=1, keepdim=True)
    return norm, norm.clamp_min(eps).reciprocal_()


def _channel_dot(g: Tensor, x: Tensor) -> Tensor:
    """``(g * x).sum(1, keepdim=True)``: ``[B, C, H, W]`` twice -> ``[B, 1, H, W]``.

    On fp32 channels-last memory each pixel's channels are a contiguous row, and one batched
    matrix product of rows computes the dots about 4x faster than the full-size product and its
    reduction (measured at ``[20, 64, 128, 128]``, one thread: 11.5 against 47 ms).
    """
    cl = torch.channels_last
    if g.dtype != torch.float32 or x.dtype != g.dtype or not (g.is_contiguous(memory_format=cl)
                                                             and x.is_contiguous(memory_format=cl)):
        return (g * x).sum(1, keepdim=True)
    b, c, h, w = x.shape
    dots = torch.bmm(g.permute(0, 2, 3, 1).reshape(-1, 1, c), x.permute(0, 2, 3, 1).reshape(-1, c, 1))
    return dots.view(b, h, w, 1).permute(0, 3, 1, 2)


class Normalization(nn.Module):
    """``F.normalize(x, dim=1) * alpha + beta`` with learned scalars (init 1 and 0).

    Args:
        activation: ``"leaky_relu"`` (slope 0.2) or ``"relu"`` to apply the layer's activation inside
            the same autograd function, which keeps one full-size tensor per layer fewer for the
            backward (the ``nn.LeakyReLU`` / ``nn.ReLU`` slot then holds an ``nn.Identity``, so the
            released module indices and keys stay); None for the bare norm.
        overwrite_input: without autograd (swap inference), write the result into ``x``: for
            layers whose input is a convolution's output that nothing else reads, it saves one
            full-size tensor at the peak.
    """

    def __init__(self, activation: str | None = None, overwrite_input: bool = False) -> None:
        super().__init__()
        if activation not in (None, "leaky_relu", "relu"):
            raise ValueError(f"Normalization: activation must be None, 'leaky_relu' or 'relu', not {activation!r}")
        self.alpha = nn.Parameter(torch.ones(1))
        self.beta = nn.Parameter(torch.zeros(1))
        self.activation = activation
        self.overwrite_input = overwrite_input

    def forward(self, x: Tensor) -> Tensor:
        """``x`` ``[B, C, H, W]``: L2 over channels at each pixel (eps 1e-12), then ``alpha x + beta``."""
        if torch.is_autocast_enabled(x.device.type):
            x = x.float()  # the norm in fp32 under autocast, as F.normalize's reduction would be
        if self.overwrite_input and not torch.is_grad_enabled():
            _, inv = _norm_and_inverse(x, 1e-12)
            y = x.mul_(inv.mul_(self.alpha.to(x.dtype))).add_(self.beta.to(x.dtype))
            if self.activation == "leaky_relu":
                return F.leaky_relu_(y, 0.2)
            return y.relu_() if self.activation == "relu" else y
        if self.activation == "leaky_relu":
            return _PixelNormAffineLeakyReLU.apply(x, self.alpha, self.beta, 1e-12, 0.2)
        return _PixelNormAffine.apply(x, self.alpha, self.beta, 1e-12, self.activation == "relu")

    def extra_repr(self) -> str:
        return "" if self.activation is None else f"activation={self.activation}"


def _norm_act(activation: str) -> list[nn.Module]:
    """Normalization with the activation inside, and the empty slot where the release has it."""
    return [Normalization(activation, overwrite_input=True), nn.Identity()]  # input: a conv's output


def _like(x: Tensor, ref: Tensor) -> Tensor:
    """``x`` in ``ref``'s memory layout (channels-last or not).

    ``torch.cat`` with a broadcast label map, or of tensors with a 1x1 or 2x2 side, returns NCHW
    strides; the convolutions then run NCHW and the per-pixel norm over channels takes a reduction
    path 10-25x slower than on channels-last strides.
    """
    cl = ref.dim() == 4 and ref.is_contiguous(memory_format=torch.channels_last) and not ref.is_contiguous()
    return x.contiguous(memory_format=torch.channels_last) if cl else x


class _GradLayoutOf(torch.autograd.Function):
    """Identity whose backward hands the gradient back in the input's channels-last layout.

    A flattened map gets its gradient from the flatten's backward in NCHW; the norm backward before
    it would then mix layouts, which runs its element-wise passes and per-pixel dots several times
    slower.
    """

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        ctx.cl = x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g: Tensor) -> Tensor:
        return g.contiguous(memory_format=torch.channels_last) if ctx.cl else g


class _AddShared(torch.autograd.Function):
    """``y + skip`` for ``y`` ``[k * b, ...]`` and ``skip`` ``[b, ...]``: item ``n`` gets skip ``n % b``.

    Autograd's broadcast reduction of the skip's gradient (a sum over the ``k`` copies) runs 7x
    slower than ``k - 1`` adds of the slices here (94 against 12 ms at ``3 x [20, 64, 128, 128]``,
    channels-last), and returns NCHW strides, which the encoder's norm backward would then mix with
    channels-last ones; the adds keep the gradient's layout.
    """

    @staticmethod
    def forward(ctx, y: Tensor, skip: Tensor) -> Tensor:
        ctx.b = skip.shape[0]
        return (y.unflatten(0, (-1, ctx.b)) + skip).flatten(0, 1)

    @staticmethod
    @once_differentiable
    def backward(ctx, g: Tensor):
        parts = g.split(ctx.b)
        gs = torch.add(parts[0], parts[1])
        for p in parts[2:]:
            gs.add_(p)
        return g, gs


def _down(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(SumBiasConv2d(cin, cout, 3, 2, 1), *_norm_act("leaky_relu"))


def _up(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(SumBiasConvTranspose2d(cin, cout, 3, 2, 1, output_padding=1), *_norm_act("relu"))


class Encoder(nn.Module):
    """``x`` ``[B, C, H, W]`` in [-1, 1] -> ``z`` ``[B, widths[-1], H/32, W/32]`` and four skips.

    Args:
        in_channels: image channels.
        widths: output channels of the five stride-2 stages (release: 64, 128, 256, 512, 512).
    """

    def __init__(self, in_channels: int = 3, widths: Sequence[int] = (64, 128, 256, 512, 512)) -> None:
        super().__init__()
        cins = (in_channels, *widths[:-1])
        self.main = nn.ModuleList(_down(a, b) for a, b in zip(cins, widths, strict=True))

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        """Returns ``(z, skips)``; ``skips`` are the first four stage outputs, shallow first."""
        skips = []
        for m in self.main:
            x = m(x)
            skips.append(x)
        return x, skips[:-1]


class LabelDecoder(nn.Module):
    """The released ``Decoder_label``: two latents and a tiled change vector -> a residual image.

    Args:
        latent: channels of each latent (release: 512).
        label_length: classes of the change vector (release: 6).
        label_copy: how many times the change vector is tiled (release: 20).
        widths: output channels of the four Norm + ReLU stages (release: 512, 256, 128, 64); each
            must equal the channels of the matching encoder skip.
        out_channels: image channels.
    """

    def __init__(self, latent: int = 512, label_length: int = 6, label_copy: int = 20,
                 widths: Sequence[int] = (512, 256, 128, 64), out_channels: int = 3) -> None:
        super().__init__()
        self.label_length, self.label_copy = label_length, label_copy
        cins = (2 * latent + label_length * label_copy, *widths[:-1])
        stages: list[nn.Module] = [_up(a, b) for a, b in zip(cins, widths, strict=True)]
        stages.append(nn.Sequential(SumBiasConvTranspose2d(widths[-1], out_channels, 3, 2, 1, output_padding=1),
                                    nn.Tanh()))
        self.main = nn.ModuleList(stages)

    def tile(self, c: Tensor) -> Tensor:
        """Change vector ``[B, L]`` -> ``[B, L * label_copy]`` with channel ``k`` = ``c[k % L]``."""
        return c.repeat(1, self.label_copy)

    def forward(self, z1: Tensor, z2: Tensor, label: Tensor, skips: Sequence[Tensor]) -> Tensor:
        """``z1``, ``z2`` ``[B, latent, h, w]``, ``label`` tiled ``[B, L * copies]``, skips as the encoder
        gives them -> residual ``[B, C, 32h, 32w]`` in [-2, 2].

        The skips' batch may divide ``B`` (``B = k * b``): item ``n`` then gets skip ``n % b``, which
        decodes several latents of the same faces in one call without copying their skips.
        """
        b, _, h, w = z1.shape
        x = torch.cat((z1, z2, label.view(b, -1, 1, 1).expand(-1, -1, h, w)), 1)
        for i, m in enumerate(self.main[:-1]):
            skip = skips[-i - 1]
            y = m(_like(x, skips[0]))  # the largest skip's layout: a 1-2 px side cannot tell
            if not torch.is_grad_enabled():  # y is the norm's fresh output: add in place
                (y if skip.shape[0] == b else y.unflatten(0, (-1, skip.shape[0]))).add_(skip)
                x = y
            else:
                x = y + skip if skip.shape[0] == b else _AddShared.apply(y, skip)
        return 2 * self.main[-1](x)


class Discriminator(nn.Module):
    """Conditional discriminator: ``(x, y)`` -> real probability ``[B, 1]`` (sigmoid).

    Args:
        num_classes: length of the label ``y``; its values are tiled into maps.
        img_size: the side the image is average-pooled down to (D1: 256, D2: 128).
        in_channels: image channels.
        widths: channels of the four stride-2 stages (release: 64, 128, 256, 512).
        projection: add the projection term ``<embed(y), features>`` to the logit (not released).
    """

    def __init__(self, num_classes: int = 6, img_size: int = 256, in_channels: int = 3,
                 widths: Sequence[int] = (64, 128, 256, 512), projection: bool = False) -> None:
        super().__init__()
        self.img_size = img_size
        layers: list[nn.Module] = []
        c = in_channels + num_classes
        for w in widths:
            layers += [SumBiasConv2d(c, w, 3, 2, 1), *_norm_act("leaky_relu")]
            c = w
        self.conv = nn.Sequential(*layers)
        side = img_size // 2 ** len(widths)
        self.linear = nn.Sequential(nn.Linear(c * side * side, 1), nn.Sigmoid())
        # projection discriminator (Miyato & Koyama 2018): logit += <embed(y), features>
        self.embed = nn.Linear(num_classes, c * side * side, bias=False) if projection else None
        if self.embed is not None:
            nn.init.normal_(self.embed.weight, std=0.02)

    def logits(self, x: Tensor, y: Tensor) -> Tensor:
        """``x`` ``[B, C, S, S]`` (S = img_size * 2^k), ``y`` float ``[B, K]`` -> logit ``[B, 1]``."""
        while x.shape[-1] > self.img_size:
            x = F.avg_pool2d(x, 2)
        maps = y.to(x.dtype)[:, :, None, None].expand(-1, -1, *x.shape[-2:])
        h = _GradLayoutOf.apply(self.conv(_like(torch.cat((x, maps), 1), x))).flatten(1)  # flatten's grad: NCHW
        out = self.linear[0](h)
        if self.embed is not None:
            out = out + (self.embed(y.to(h.dtype)) * h).sum(1, keepdim=True)
        return out

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """Real probability ``[B, 1]``."""
        return torch.sigmoid(self.logits(x, y))


class VGGFx(nn.Module):
    """The released recogniser ``VGG_fx``: VGG19-BN features fused with the GAN encoder's fx.

    ``forward(x, fx)``: ``f = features(x)``; ``h = fx_linear(cat(f, fx_linear(fx)))`` (the same
    ``fx_linear`` twice, as released); 7x7 adaptive average pool; ``classifier``; ``new_fc``.

    Args:
        num_classes: outputs of ``new_fc``.
        in_channels: image channels.
        width: divides every VGG trunk width (1 = the release); the trunk's last width must equal
            the encoder's latent channels.
        hidden: width of the two hidden FC layers (release: 4096); 0 = a global average pool
            straight into ``new_fc`` (``genfer.models.layers.vgg.vgg_head``).
        dropout: dropout after each hidden FC.
    """

    def __init__(self, num_classes: int = 6, in_channels: int = 3, width: int = 1, hidden: int = 4096,
                 dropout: float = 0.5) -> None:
        super().__init__()
        self.features = vgg19_bn_features(in_channels, width)
        c = 512 // width
        self.fx_linear = nn.Sequential(nn.Conv2d(2 * c, c, 1), Normalization(), nn.LeakyReLU(0.2))
        self.avgpool, self.classifier, self.new_fc = vgg_head(c, num_classes, hidden, dropout)

    def forward(self, x: Tensor, fx: Tensor) -> Tensor:
        """``x`` ``[B, C, H, W]`` in [-1, 1], ``fx`` ``[B, 2c, H/32, W/32]`` -> logits ``[B, num_classes]``."""
        f = self.features(x)
        h = self.fx_linear(torch.cat((f, self.fx_linear(fx)), 1))
        return self.new_fc(self.classifier(self.avgpool(h).flatten(1)))


def chunk_bounds(channels: int, n: int) -> list[int]:
    """Boundaries of the ``n`` expression chunks of a latent: ``round(channels * i / n)`` (as ``np.rint``)."""
    return [round(channels / n * i) for i in range(n + 1)]


def chunk_index(channels: int, n: int) -> Tensor:
    """long ``[channels]``: the chunk each latent channel belongs to."""
    b = chunk_bounds(channels, n)
    return torch.cat([torch.full((b[k + 1] - b[k],), k, dtype=torch.long) for k in range(n)])


def swap_latents(z_a: Tensor, z_b: Tensor, i: Tensor, j: Tensor, n: int) -> tuple[Tensor, Tensor]:
    """Exchange chunks ``i`` and ``j`` (per sample) between two latents.

    Args:
        z_a, z_b: ``[B, C, h, w]``.
        i, j: long ``[B]``: a's expression and b's, in ``0 .. n-1``.
        n: number of chunks (classes).

    Returns:
        ``(z_c, z_d)``: ``z_a`` with chunks i and j from ``z_b``, and ``z_b`` with them from ``z_a``.
    """
    owner = chunk_index(z_a.shape[1], n).to(z_a.device)
    mask = ((owner[None] == i[:, None]) | (owner[None] == j[:, None]))[:, :, None, None]
    return torch.where(mask, z_b, z_a), torch.where(mask, z_a, z_b)


def change_vector(i: Tensor, j: Tensor, n: int) -> Tensor:
    """float ``[B, n]`` with ones at ``i`` and ``j``: the decoder's label for a swap."""
    c = F.one_hot(i, n) | F.one_hot(j, n)
    return c.float()


def swap_labels(y_a: Tensor, y_b: Tensor, i: Tensor, j: Tensor) -> tuple[Tensor, Tensor]:
    """``y_c`` = ``y_a`` with entries i, j from ``y_b``; ``y_d`` symmetric (float ``[B, n]``)."""
    n = y_a.shape[1]
    mask = change_vector(i, j, n).bool()
    return torch.where(mask, y_b, y_a), torch.where(mask, y_a, y_b)


__all__ = [
    "Discriminator",
    "Encoder",
    "LabelDecoder",
    "Normalization",
    "VGGFx",
    "change_vector",
    "chunk_bounds",
    "chunk_index",
    "swap_labels",
    "swap_latents",
]
