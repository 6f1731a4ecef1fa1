"""Optimisation-based projection of images into a StyleGAN2 generator (rosinality's ``projector.py``).

The algorithm (Karras et al. 2020, section 5): start from the mean w; optimise w (one for all
layers, or W+ with ``w_plus``) and the per-layer noise maps with Adam, at a learning rate that
ramps up over the first 5 % of the steps and down (cosine) over the last 25 %; perturb w with
Gaussian noise of ``std(w) * noise * max(0, 1 - t / noise_ramp)^2`` so the early steps explore;
minimise ``distance(G(w), x) + noise_regularize * R(noise) + mse * |G(w) - x|^2``, where R sums the
squared autocorrelations of every noise map at shift 1 along both axes over a pyramid down to 8 x 8
(so the noise cannot carry the image); renormalise each noise map to zero mean, unit std after
every step. Generated images larger than 256 px are average-pooled to 256 px before the distance.

``distance`` is a callable on images in [-1, 1]: rosinality's is LPIPS (VGG); ``genfer.apps``
builds LPIPS from user-supplied weights, or documented stand-ins when they are absent (never an
untrained LPIPS). Deviation: the random draws come from ``seed`` (the release uses the global RNG).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from genfer.models.stylegan2.networks import Generator

Distance = Callable[[Tensor, Tensor], Tensor]
"""``distance(generated, target)``: images ``[B, C, H, W]`` in [-1, 1] -> per-image distances ``[B]``."""


@dataclass
class ProjectConfig:
    """rosinality's ``projector.py`` options and defaults.

    Args:
        steps: optimisation steps (1000).
        lr: peak learning rate (0.1).
        lr_rampup, lr_rampdown: fractions of the steps for the linear ramp-up and cosine ramp-down.
        noise: initial strength of the noise added to w, in units of std(w) (0.05).
        noise_ramp: fraction of the steps over which that noise decays to 0 (0.75).
        noise_regularize: weight of the noise-map autocorrelation penalty (1e5).
        mse: weight of the pixel mean squared error (0).
        w_plus: optimise one w per layer (W+) instead of one w for all (the release's default: w).
        mean_samples: mapped z for the mean and std of w (10,000).
    """

    steps: int = 1000
    lr: float = 0.1
    lr_rampup: float = 0.05
    lr_rampdown: float = 0.25
    noise: float = 0.05
    noise_ramp: float = 0.75
    noise_regularize: float = 1e5
    mse: float = 0.0
    w_plus: bool = False
    mean_samples: int = 10_000


@dataclass
class Projection:
    """What ``project`` returns.

    Attributes:
        images: the projections ``[B, C, H, W]`` in about [-1, 1] (final w and noise, no perturbation).
        latents: W+ codes ``[B, n_latent, style_dim]`` (w repeated per layer unless ``w_plus``).
        noises: the optimised noise maps, ``[B, 1, r, r]`` per layer.
        distance: the final ``distance`` per image ``[B]``.
    """

    images: Tensor
    latents: Tensor
    noises: list[Tensor]
    distance: Tensor


def lr_at(t: float, lr: float, rampdown: float = 0.25, rampup: float = 0.05) -> float:
    """The learning rate at progress ``t`` in [0, 1): linear ramp-up, cosine ramp-down."""
    ramp = min(1.0, (1 - t) / rampdown)
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    return lr * ramp * min(1.0, t / rampup)


def noise_regularize(noises: list[Tensor]) -> Tensor:
    """Sum over maps and pyramid levels (down to 8 x 8) of the squared shift-1 autocorrelations."""
    loss = noises[0].new_zeros(())
    for noise in noises:
        size = noise.shape[2]
        while True:
            loss = loss + (noise * torch.roll(noise, 1, dims=3)).mean().square() \
                + (noise * torch.roll(noise, 1, dims=2)).mean().square()
            if size <= 8:
                break
            noise = noise.reshape(-1, 1, size // 2, 2, size // 2, 2).mean([3, 5])
            size //= 2
    return loss


@torch.no_grad()
def noise_normalize_(noises: list[Tensor]) -> None:
    """Each map to zero mean and unit std, in place."""
    for n in noises:
        n.sub_(n.mean()).div_(n.std())


def _to_256(img: Tensor) -> Tensor:
    if img.shape[-1] <= 256:
        return img
    f = img.shape[-1] // 256
    b, c, h, w = img.shape
    return img.reshape(b, c, h // f, f, w // f, f).mean([3, 5])


def project(g: Generator, targets: Tensor, distance: Distance, cfg: ProjectConfig | None = None, seed: int = 0,
            callback: Callable[[int, dict[str, float]], None] | None = None) -> Projection:
    """Project ``targets`` (``[B, C, size, size]`` in [-1, 1]) into ``g``.

    Args:
        g: the generator (its weights are not changed; use the EMA generator).
        targets: images at the generator's size.
        distance: perceptual distance on [-1, 1] images (per image).
        cfg: the options (rosinality's defaults).
        seed: seeds the noise maps' start and the w perturbations.
        callback: called as ``callback(step, {"distance", "noise_reg", "mse", "lr"})`` after each step.
    """
    cfg = cfg or ProjectConfig()
    if targets.shape[-1] != g.size or targets.shape[-2] != g.size:
        raise ValueError(f"targets are {tuple(targets.shape[-2:])}; the generator makes {g.size} x {g.size}")
    dev = g.input.input.device
    targets = targets.to(dev).float()
    b = targets.shape[0]
    params = [p.requires_grad for p in g.parameters()]
    g.requires_grad_(False)
    was = g.training
    g.eval()
    gen = torch.Generator().manual_seed(seed)
    try:
        with torch.no_grad():
            z = torch.randn(cfg.mean_samples, g.style_dim, generator=gen).to(dev)
            w = g.style(z)
            w_mean = w.mean(0)
            w_std = float(((w - w_mean).square().sum() / cfg.mean_samples) ** 0.5)
        noises = [torch.randn(b, 1, n.shape[2], n.shape[3], generator=gen).to(dev).requires_grad_(True)
                  for n in g.make_noise()]
        start = w_mean.detach().clone().unsqueeze(0).repeat(b, 1)
        if cfg.w_plus:
            start = start.unsqueeze(1).repeat(1, g.n_latent, 1)
        latent = start.requires_grad_(True)
        opt = torch.optim.Adam([latent, *noises], lr=cfg.lr)
        target_256 = _to_256(targets)
        for i in range(cfg.steps):
            t = i / cfg.steps
            lr = lr_at(t, cfg.lr, cfg.lr_rampdown, cfg.lr_rampup)
            for group in opt.param_groups:
                group["lr"] = lr
            strength = w_std * cfg.noise * max(0.0, 1 - t / cfg.noise_ramp) ** 2
            latent_n = latent + torch.randn(latent.shape, generator=gen).to(dev) * strength
            img = _to_256(g([latent_n], input_is_latent=True, noise=noises)[0])
            p_loss = distance(img, target_256).sum()
            n_loss = noise_regularize(noises)
            mse = F.mse_loss(img, target_256)
            loss = p_loss + cfg.noise_regularize * n_loss + cfg.mse * mse
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            noise_normalize_(noises)
            if callback is not None:
                callback(i, {"distance": float(p_loss) / b, "noise_reg": float(n_loss), "mse": float(mse), "lr": lr})
        with torch.no_grad():
            final = latent.detach()
            img = g([final], input_is_latent=True, noise=noises)[0]
            dist = distance(_to_256(img), target_256).reshape(b)
            wplus = final if cfg.w_plus else final.unsqueeze(1).repeat(1, g.n_latent, 1)
        return Projection(img, wplus, [n.detach() for n in noises], dist)
    finally:
        for p, r in zip(g.parameters(), params):
            p.requires_grad_(r)
        g.train(was)


def psnr(x: Tensor, y: Tensor) -> Tensor:
    """Per-image PSNR in dB of images in [0, 1]: ``[B]``."""
    mse = (x.float() - y.float()).square().flatten(1).mean(1).clamp_min(1e-12)
    return 10 * torch.log10(1 / mse)


__all__ = ["Distance", "ProjectConfig", "Projection", "lr_at", "noise_normalize_", "noise_regularize", "project",
           "psnr"]
