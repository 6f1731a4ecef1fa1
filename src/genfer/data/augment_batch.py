"""timm's ImageNet training augmentations, on batches in torch (no torchvision, no PIL).

IFER trains its classifier with timm's recipe: RandAugment ``rand-m9-mstd0.5-inc1``,
RandomResizedCrop (scale 0.08-1, ratio 3/4-4/3), horizontal flip 0.5, colour jitter 0.4, random
erasing 0.25 (per-pixel normal noise), and Mixup 0.8 / CutMix 1.0 with label smoothing 0.1.
These work on float batches ``[B, C, H, W]``, every random draw from the given generator, so a
batch's augmentation is a function of its seed. Images are in [0, 1] except for random
erasing, which (as in timm) runs after normalisation.

Differences from timm's PIL pipeline: resampling is bilinear ``grid_sample`` in float (PIL
rounds to uint8 after each op); colour jitter applies brightness, contrast and saturation in
that fixed order (torchvision shuffles the order, and timm's 0.4 leaves hue at 0); RandAugment's
ops follow timm's magnitude ranges (``_RAND_INCREASING_TRANSFORMS``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

RAND_OPS = ("AutoContrast", "Equalize", "Invert", "Rotate", "PosterizeIncreasing", "SolarizeIncreasing",
            "SolarizeAdd", "ColorIncreasing", "ContrastIncreasing", "BrightnessIncreasing", "SharpnessIncreasing",
            "ShearX", "ShearY", "TranslateXRel", "TranslateYRel")
"""timm's ``_RAND_INCREASING_TRANSFORMS`` (the ``inc1`` op set)."""


def _u(n: int, g: torch.Generator | None, device: torch.device) -> Tensor:
    return torch.rand(n, generator=g).to(device)


def _grey(x: Tensor) -> Tensor:
    """ITU-R 601 luma ``[B, 1, H, W]`` (PIL's ``L`` conversion)."""
    if x.shape[1] == 1:
        return x
    return (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3])


def _blend(a: Tensor, b: Tensor, factor: Tensor) -> Tensor:
    """PIL ``ImageEnhance``: ``b + factor (a - b)`` clamped to [0, 1]; ``factor [B]``."""
    return (b + factor.view(-1, 1, 1, 1) * (a - b)).clamp(0, 1)


def _affine(x: Tensor, theta: Tensor, fill: float = 0.5) -> Tensor:
    """Warp by ``theta [B, 2, 3]`` (output -> input, normalised coordinates), filling outside with ``fill``."""
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    ones = torch.ones_like(x[:, :1])
    out = F.grid_sample(torch.cat([x, ones], 1), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    img, mask = out[:, :-1], out[:, -1:]
    return img + (1 - mask) * fill


def equalize(x: Tensor) -> Tensor:
    """Histogram equalisation per image and channel on 256 levels (PIL's ``ImageOps.equalize`` table)."""
    b, c, h, w = x.shape
    q = (x * 255).round().long().clamp(0, 255).view(b * c, -1)
    hist = torch.zeros(b * c, 256, device=x.device).scatter_add_(1, q, torch.ones_like(q, dtype=torch.float))
    last_bin = ((hist > 0) * torch.arange(256, device=x.device)).argmax(1, keepdim=True)
    step = torch.floor((h * w - hist.gather(1, last_bin)) / 255)  # PIL: (total - count of the top level) // 255
    cum = hist.cumsum(1) - hist
    lut = torch.floor((cum + torch.floor(step / 2)) / step.clamp(min=1)).clamp(max=255) / 255
    lut = torch.where(step > 0, lut, torch.arange(256, device=x.device) / 255)
    return lut.gather(1, q).view(b, c, h, w)


def autocontrast(x: Tensor) -> Tensor:
    """Stretch each channel of each image to [0, 1]."""
    lo, hi = x.amin((2, 3), keepdim=True), x.amax((2, 3), keepdim=True)
    return torch.where(hi > lo, (x - lo) / (hi - lo).clamp(min=1e-8), x)


def _apply_op(name: str, x: Tensor, level: Tensor, sign: Tensor) -> Tensor:
    """One RandAugment op on ``x [B, C, H, W]`` with magnitudes ``level [B]`` in [0, 1] and signs ``[B]``."""
    b, dev = x.shape[0], x.device
    if name == "AutoContrast":
        return autocontrast(x)
    if name == "Equalize":
        return equalize(x)
    if name == "Invert":
        return 1 - x
    if name in ("Rotate", "ShearX", "ShearY", "TranslateXRel", "TranslateYRel"):
        theta = torch.zeros(b, 2, 3, device=dev)
        theta[:, 0, 0] = theta[:, 1, 1] = 1
        if name == "Rotate":
            a = (level * 30 * sign) * math.pi / 180
            theta[:, 0, 0], theta[:, 0, 1] = torch.cos(a), -torch.sin(a)
            theta[:, 1, 0], theta[:, 1, 1] = torch.sin(a), torch.cos(a)
        elif name == "ShearX":
            theta[:, 0, 1] = level * 0.3 * sign
        elif name == "ShearY":
            theta[:, 1, 0] = level * 0.3 * sign
        elif name == "TranslateXRel":
            theta[:, 0, 2] = level * 0.45 * sign * 2  # normalised coordinates span 2
        else:
            theta[:, 1, 2] = level * 0.45 * sign * 2
        return _affine(x, theta, fill=128 / 255)
    if name == "PosterizeIncreasing":
        bits = (4 - (level * 4).long()).clamp(0, 8)
        step = (2.0 ** (8 - bits)).view(-1, 1, 1, 1)
        return (torch.floor(x * 255 / step) * step / 255).clamp(0, 1)
    if name == "SolarizeIncreasing":
        thr = (1 - level).view(-1, 1, 1, 1)
        return torch.where(x >= thr, 1 - x, x)
    if name == "SolarizeAdd":
        add = (level * 110 / 255).view(-1, 1, 1, 1)
        return torch.where(x < 128 / 255, (x + add).clamp(0, 1), x)
    factor = 1 + level * 0.9 * sign
    if name == "ColorIncreasing":
        return _blend(x, _grey(x).expand_as(x), factor)
    if name == "ContrastIncreasing":
        return _blend(x, _grey(x).mean((1, 2, 3), keepdim=True).expand_as(x), factor)
    if name == "BrightnessIncreasing":
        return _blend(x, torch.zeros_like(x), factor)
    if name == "SharpnessIncreasing":
        k = torch.tensor([[1.0, 1, 1], [1, 5, 1], [1, 1, 1]], device=dev, dtype=x.dtype) / 13
        c = x.shape[1]
        smooth = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), k.expand(c, 1, 3, 3), groups=c)
        smooth[:, :, 0], smooth[:, :, -1], smooth[:, :, :, 0], smooth[:, :, :, -1] = (
            x[:, :, 0], x[:, :, -1], x[:, :, :, 0], x[:, :, :, -1])  # PIL leaves the border
        return _blend(x, smooth, factor)
    raise ValueError(f"unknown RandAugment op {name!r}")


def rand_augment(x: Tensor, n: int = 2, m: float = 9, mstd: float = 0.5, prob: float = 0.5,
                 generator: torch.Generator | None = None, ops: tuple[str, ...] = RAND_OPS) -> Tensor:
    """timm's RandAugment ``rand-m{m}-n{n}-mstd{mstd}-inc1`` on a batch in [0, 1].

    Each image gets ``n`` ops drawn uniformly (with replacement), each applied with probability
    ``prob``, at magnitude ``N(m, mstd)`` clipped to [0, 10] (out of 10), with a random sign
    where the op has one.
    """
    b, dev = x.shape[0], x.device
    for _ in range(n):
        which = torch.randint(0, len(ops), (b,), generator=generator)
        apply = torch.rand(b, generator=generator) < prob
        mag = (m + mstd * torch.randn(b, generator=generator)).clamp(0, 10) / 10
        sign = torch.where(torch.rand(b, generator=generator) < 0.5, -1.0, 1.0)
        out = x.clone()
        for k in which[apply].unique().tolist():
            idx = torch.nonzero(apply & (which == k)).squeeze(1)
            out[idx.to(dev)] = _apply_op(ops[k], x[idx.to(dev)], mag[idx].to(dev), sign[idx].to(dev)).to(x.dtype)
        x = out
    return x


def random_resized_crop(x: Tensor, size: int | None = None, scale: tuple[float, float] = (0.08, 1.0),
                        ratio: tuple[float, float] = (3 / 4, 4 / 3), generator: torch.Generator | None = None,
                        attempts: int = 10) -> Tensor:
    """torchvision's RandomResizedCrop per image: a box of ``scale`` area and ``ratio`` aspect, resized (bilinear).

    As torchvision: up to ``attempts`` draws per image, then a centre crop clamped to the ratio range.
    """
    b, _, h, w = x.shape
    size = size or h
    area = h * w
    log_r = (math.log(ratio[0]), math.log(ratio[1]))
    cw, ch = torch.full((b,), float(w)), torch.full((b,), float(h))
    found = torch.zeros(b, dtype=torch.bool)
    for _ in range(attempts):
        t_area = area * torch.empty(b).uniform_(scale[0], scale[1], generator=generator)
        ar = torch.exp(torch.empty(b).uniform_(log_r[0], log_r[1], generator=generator))
        bw, bh = torch.sqrt(t_area * ar).round(), torch.sqrt(t_area / ar).round()
        ok = (~found) & (bw > 0) & (bh > 0) & (bw <= w) & (bh <= h)
        cw, ch = torch.where(ok, bw, cw), torch.where(ok, bh, ch)
        found |= ok
    in_ratio = w / h
    if in_ratio < ratio[0]:
        fw, fh = float(w), float(round(w / ratio[0]))
    elif in_ratio > ratio[1]:
        fw, fh = float(round(h * ratio[1])), float(h)
    else:
        fw, fh = float(w), float(h)
    cw, ch = torch.where(found, cw, torch.tensor(fw)), torch.where(found, ch, torch.tensor(fh))
    x0 = torch.floor(torch.rand(b, generator=generator) * (w - cw + 1))
    y0 = torch.floor(torch.rand(b, generator=generator) * (h - ch + 1))
    x0, y0 = torch.where(found, x0, ((w - cw) / 2).floor()), torch.where(found, y0, ((h - ch) / 2).floor())
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0], theta[:, 1, 1] = cw / w, ch / h
    theta[:, 0, 2] = (2 * x0 + cw) / w - 1
    theta[:, 1, 2] = (2 * y0 + ch) / h - 1
    grid = F.affine_grid(theta.to(x), [b, x.shape[1], size, size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def hflip(x: Tensor, p: float = 0.5, generator: torch.Generator | None = None) -> Tensor:
    """Mirror each image left-right with probability ``p``."""
    flip = (torch.rand(x.shape[0], generator=generator) < p).to(x.device).view(-1, 1, 1, 1)
    return torch.where(flip, x.flip(-1), x)


def color_jitter(x: Tensor, strength: float = 0.4, generator: torch.Generator | None = None) -> Tensor:
    """Brightness, contrast and saturation factors ``U[1 - s, 1 + s]`` per image (timm's ``--color-jitter 0.4``)."""
    b = x.shape[0]
    f = [(1 + strength * (2 * _u(b, generator, x.device) - 1)) for _ in range(3)]
    x = _blend(x, torch.zeros_like(x), f[0])
    x = _blend(x, _grey(x).mean((1, 2, 3), keepdim=True).expand_as(x), f[1])
    return _blend(x, _grey(x).expand_as(x), f[2])


def random_erasing(x: Tensor, p: float = 0.25, area: tuple[float, float] = (0.02, 1 / 3),
                   log_ratio: tuple[float, float] = (math.log(0.3), math.log(1 / 0.3)),
                   generator: torch.Generator | None = None, attempts: int = 10) -> Tensor:
    """timm's RandomErasing (``mode='pixel'``, one box): with probability ``p`` a box gets N(0, 1) noise.

    Runs on normalised images (timm erases after normalisation).
    """
    b, c, h, w = x.shape
    out = x.clone()
    for i in range(b):
        if float(torch.rand((), generator=generator)) >= p:
            continue
        for _ in range(attempts):
            a = h * w * float(torch.empty(()).uniform_(*area, generator=generator))
            r = math.exp(float(torch.empty(()).uniform_(*log_ratio, generator=generator)))
            eh, ew = round(math.sqrt(a * r)), round(math.sqrt(a / r))
            if 0 < eh < h and 0 < ew < w:
                top = int(torch.randint(0, h - eh + 1, (), generator=generator))
                left = int(torch.randint(0, w - ew + 1, (), generator=generator))
                out[i, :, top:top + eh, left:left + ew] = torch.randn(c, eh, ew, generator=generator).to(x)
                break
    return out


def smooth_one_hot(y: Tensor, num_classes: int, smoothing: float = 0.1) -> Tensor:
    """timm's smoothed targets: ``1 - s + s/K`` on the label, ``s/K`` elsewhere; ``[B, K]``."""
    off = smoothing / num_classes
    return torch.full((y.shape[0], num_classes), off, device=y.device).scatter_(1, y.view(-1, 1), 1 - smoothing + off)


def mixup_cutmix(x: Tensor, y: Tensor, num_classes: int, mixup_alpha: float = 0.8, cutmix_alpha: float = 1.0,
                 switch_prob: float = 0.5, prob: float = 1.0, smoothing: float = 0.1,
                 generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """timm's ``Mixup`` in batch mode: with probability ``prob`` the batch is mixed with its reverse.

    CutMix (``lam ~ Beta(cutmix_alpha)``, a box of area ``1 - lam`` pasted, ``lam`` corrected to
    the box actually pasted) with probability ``switch_prob``, else Mixup (``lam ~ Beta(mixup_alpha)``,
    ``x lam + x.flip(0) (1 - lam)``). Targets: ``lam t + (1 - lam) t.flip(0)`` of smoothed one-hots.

    Returns:
        mixed images and soft targets ``[B, num_classes]``.
    """
    t = smooth_one_hot(y, num_classes, smoothing)
    if float(torch.rand((), generator=generator)) >= prob:
        return x, t
    use_cutmix = float(torch.rand((), generator=generator)) < switch_prob
    alpha = cutmix_alpha if use_cutmix else mixup_alpha
    ga = _gamma(alpha, generator)  # Beta(a, a) = Ga / (Ga + Gb), drawn from the generator
    gb = _gamma(alpha, generator)
    lam = ga / (ga + gb)
    if use_cutmix:
        h, w = x.shape[-2:]
        cut = math.sqrt(1 - lam)
        ch, cw = int(h * cut), int(w * cut)
        cy, cx = int(torch.randint(0, h, (), generator=generator)), int(torch.randint(0, w, (), generator=generator))
        y0, y1 = max(cy - ch // 2, 0), min(cy + ch // 2, h)
        x0, x1 = max(cx - cw // 2, 0), min(cx + cw // 2, w)
        x = x.clone()
        x[:, :, y0:y1, x0:x1] = x.flip(0)[:, :, y0:y1, x0:x1]
        lam = 1 - (y1 - y0) * (x1 - x0) / (h * w)
    else:
        x = x * lam + x.flip(0) * (1 - lam)
    return x, t * lam + t.flip(0) * (1 - lam)


def _gamma(alpha: float, generator: torch.Generator | None) -> float:
    """A Gamma(alpha, 1) draw from ``generator`` (Marsaglia-Tsang; boosted for alpha < 1)."""
    boost = 1.0
    if alpha < 1:
        boost = float(torch.rand((), generator=generator)) ** (1 / alpha)
        alpha += 1
    d = alpha - 1 / 3
    c = 1 / math.sqrt(9 * d)
    while True:
        z = float(torch.randn((), generator=generator))
        v = (1 + c * z) ** 3
        if v <= 0:
            continue
        u = float(torch.rand((), generator=generator))
        if math.log(max(u, 1e-300)) < 0.5 * z * z + d - d * v + d * math.log(v):
            return d * v * boost


def soft_target_cross_entropy(logits: Tensor, targets: Tensor) -> Tensor:
    """timm's ``SoftTargetCrossEntropy``: ``mean_b sum_k -t_bk log_softmax(logits)_bk``."""
    return (-targets * F.log_softmax(logits.float(), dim=-1)).sum(-1).mean()


__all__ = ["RAND_OPS", "autocontrast", "color_jitter", "equalize", "hflip", "mixup_cutmix", "rand_augment",
           "random_erasing", "random_resized_crop", "smooth_one_hot", "soft_target_cross_entropy"]
