"""StyleGAN2 training, rosinality's recipe (``train.py`` @ bef283a), through the genfer engine.

Karras, Laine, Aittala, Hellsten, Lehtinen, Aila, "Analyzing and Improving the Image Quality of
StyleGAN", CVPR 2020 (arXiv 1912.04958); code: rosinality/stylegan2-pytorch (MIT; its CUDA ops
under NVIDIA's licence are not used here).

One iteration is up to four updates, each a phase of the engine:

1. ``D``: non-saturating logistic loss on real images and on images generated from mixed z
   (the generator under ``no_grad``).
2. ``D:r1`` every ``d_reg_every`` (16) iterations: ``r1 / 2 * |grad_x D(x)|^2 * d_reg_every`` on reals.
3. ``G``: non-saturating loss of ``D(G(z))``, D's weights frozen.
4. ``G:pl`` every ``g_reg_every`` (4) iterations: path-length penalty ``(|J^T y| - a)^2`` on a batch
   of ``batch / path_batch_shrink``, ``a`` the running mean path length (decay 0.01), weighted by
   ``path_regularize * g_reg_every``.

Style mixing with probability ``mixing`` (0.9): two z and one crossover index for the batch.
``lazy_intervals()`` asks the engine for Adam's lazy-regularisation correction (rate x c, betas
** c, c = N / (N + 1)); the generator EMA is the engine's (``train.ema``, ``ema_modules() =
["G"]``). Images are in [-1, 1] (``to_input``).

Deviations from the release, none of which changes the function being optimised:

- the style-mixing coin and crossover index come from torch's RNG (not Python's ``random``), so
  the engine's checkpoints resume bit-identically;
- R1 is computed in fp32 with autocast off, and the path-length phase runs with autocast off, under
  any ``train.precision`` (the release has no mixed precision);
- the ``0 * output`` terms rosinality adds for DDP are not needed (the engine reduces gradients
  itself).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn

from genfer.core.registry import METHODS
from genfer.losses.adversarial import nonsaturating_d_loss, nonsaturating_g_loss, r1_penalty
from genfer.models.base import LossOut, Method, frozen
from genfer.models.stylegan2.config import StyleGAN2Config
from genfer.models.stylegan2.networks import Discriminator, Generator
from genfer.models.stylegan2.rosinality import mean_w


@METHODS.register("stylegan2")
class StyleGAN2(Method):
    """Generator ``G`` and discriminator ``D`` (rosinality's layout), trained as StyleGAN2 config F.

    Buffers beside the networks: ``mean_path_length`` (the path-length penalty's running target),
    ``latent_avg`` (mean w, the truncation centre) and ``latent_avg_samples`` (how many mapped z it
    averages; 0 until computed, -1 when it came from a converted checkpoint's ``latent_avg``).
    """

    Config = StyleGAN2Config
    data_kind = "unlabelled"
    best_metric = None

    def __init__(self, cfg: StyleGAN2Config | None = None) -> None:
        cfg = cfg if cfg is not None else StyleGAN2Config()
        super().__init__(cfg)
        self.G = Generator(cfg.image_size, cfg.style_dim, cfg.n_mlp, cfg.channel_multiplier, lr_mlp=cfg.lr_mlp,
                           channel_max=cfg.channel_max, img_channels=cfg.channels)
        self.D = Discriminator(cfg.image_size, cfg.channel_multiplier, channel_max=cfg.channel_max,
                               img_channels=cfg.channels)
        self.register_buffer("mean_path_length", torch.zeros(()))
        self.register_buffer("latent_avg", torch.zeros(cfg.style_dim))
        self.register_buffer("latent_avg_samples", torch.zeros((), dtype=torch.long))

    # --- contract ---------------------------------------------------------------------------------
    def groups(self) -> dict[str, list[nn.Module]]:
        return {"G": [self.G], "D": [self.D]}

    def ema_modules(self) -> list[str]:
        return ["G"]

    def lazy_intervals(self) -> dict[str, int]:
        c = self.cfg
        return {k: n for k, n, w in (("G", c.g_reg_every, c.path_regularize), ("D", c.d_reg_every, c.r1))
                if n > 0 and w > 0}

    def phases(self, step: int) -> list[str]:
        lazy = self.lazy_intervals()
        out = ["D"]
        if "D" in lazy and step % lazy["D"] == 0:
            out.append("D:r1")
        out.append("G")
        if "G" in lazy and step % lazy["G"] == 0:
            out.append("G:pl")
        return out

    def to_input(self, images: Tensor) -> Tensor:
        """uint8 ``[B, C, H, W]`` -> float in [-1, 1]."""
        return images.float().div_(127.5).sub_(1.0)

    # --- training ---------------------------------------------------------------------------------
    def mixing_styles(self, batch: int) -> tuple[list[Tensor], int | None]:
        """z for a batch: two ``[B, style_dim]`` and a crossover index with probability ``mixing``, else one."""
        dev, d = self.device, self.cfg.style_dim
        if self.cfg.mixing > 0 and float(torch.rand(())) < self.cfg.mixing:
            inject = int(torch.randint(1, self.G.n_latent, ()))
            return list(torch.randn(2, batch, d, device=dev).unbind(0)), inject
        return [torch.randn(batch, d, device=dev)], None

    def training_step(self, batch: dict[str, Tensor], phase: str, cache: dict[str, Any]) -> LossOut:
        c = self.cfg
        real = batch["image"]
        b = real.shape[0]
        if phase == "D":
            styles, inject = self.mixing_styles(b)
            with torch.no_grad():
                fake = self.G(styles, inject_index=inject)[0]
            real_pred, fake_pred = self.D(real), self.D(fake)
            loss = nonsaturating_d_loss(real_pred, fake_pred)
            return LossOut(loss, {"real_score": real_pred.detach().mean(), "fake_score": fake_pred.detach().mean()})
        if phase == "D:r1":
            r1 = r1_penalty(self.D, real)
            return LossOut(r1 * (c.r1 / 2 * c.d_reg_every), {"r1": r1.detach()})
        if phase == "G":
            styles, inject = self.mixing_styles(b)
            with frozen(self.D):
                fake_pred = self.D(self.G(styles, inject_index=inject)[0])
            loss = nonsaturating_g_loss(fake_pred)
            return LossOut(loss, {"g_adv": loss.detach()})
        if phase == "G:pl":
            styles, inject = self.mixing_styles(max(1, b // c.path_batch_shrink))
            with torch.autocast(real.device.type, enabled=False):
                fake, latents = self.G(styles, inject_index=inject, return_latents=True)
                penalty, lengths = self.path_length_penalty(fake, latents)
            return LossOut(penalty * (c.path_regularize * c.g_reg_every),
                           {"path_penalty": penalty.detach(), "path_length": lengths.detach().mean(),
                            "mean_path_length": self.mean_path_length.clone()})
        raise ValueError(f"stylegan2 has no phase {phase!r}")

    def path_length_penalty(self, fake: Tensor, latents: Tensor) -> tuple[Tensor, Tensor]:
        """``mean((|J_w^T y| - a)^2)`` with ``y ~ N(0, I) / sqrt(HW)``; updates ``a`` (``mean_path_length``).

        Returns:
            the penalty (scalar) and the path lengths ``[B]``.
        """
        noise = torch.randn_like(fake) / math.sqrt(fake.shape[2] * fake.shape[3])
        (grad,) = torch.autograd.grad((fake * noise).sum(), latents, create_graph=True)
        lengths = torch.sqrt(grad.square().sum(2).mean(1))
        target = self.mean_path_length + self.cfg.path_decay * (lengths.mean() - self.mean_path_length)
        penalty = (lengths - target).square().mean()
        self.mean_path_length.copy_(target.detach())
        return penalty, lengths

    # --- generation -------------------------------------------------------------------------------
    @torch.no_grad()
    def mean_latent(self, samples: int = 10_000) -> Tensor:
        """``latent_avg`` ``[style_dim]``, computed from ``samples`` mapped z (seed 0) if not yet known."""
        if int(self.latent_avg_samples) == 0:
            self.latent_avg.copy_(mean_w(self.G, samples))
            self.latent_avg_samples.fill_(samples)
        return self.latent_avg

    @torch.no_grad()
    def sample(self, n: int, truncation: float = 1.0, seed: int = 0, batch_size: int = 16,
               noise: str = "const", truncation_latent: Tensor | None = None) -> Tensor:
        """``n`` images float ``[n, C, H, W]`` in [0, 1] from z drawn with ``seed`` (truncated towards ``latent_avg``).

        Args:
            noise: ``const`` (the stored noise maps, reproducible) or ``random``.
            truncation_latent: the centre ``[style_dim]`` (default: ``mean_latent()``).
        """
        was = self.training
        self.eval()
        try:
            gen = torch.Generator().manual_seed(seed)
            z = torch.randn(n, self.cfg.style_dim, generator=gen).to(self.device)
            avg = None
            if truncation < 1:
                avg = truncation_latent if truncation_latent is not None else self.mean_latent()
            outs = []
            for i in range(0, n, batch_size):
                img = self.G([z[i:i + batch_size]], truncation=truncation, truncation_latent=avg,
                             randomize_noise=noise != "const")[0]
                outs.append(to_unit(img).cpu())
            return torch.cat(outs)
        finally:
            self.train(was)

    @torch.no_grad()
    def generate(self, codes: Tensor) -> Tensor:
        """W+ codes ``[B, n_latent, style_dim]`` (or w ``[B, style_dim]``) -> images ``[B, C, H, W]`` in [0, 1]."""
        was = self.training
        self.eval()
        try:
            return to_unit(self.G([codes.to(self.device)], input_is_latent=True, randomize_noise=False)[0])
        finally:
            self.train(was)

    # --- evaluation and samples -------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, batches: Iterable[dict[str, Tensor]]) -> dict[str, Any]:
        """Mean D logits of held-out reals and of ``eval_fakes`` generated images, and the mean path length."""
        was = self.training
        self.eval()
        try:
            real = [self.D(self.to_input(b["image"].to(self.device)) if b["image"].dtype == torch.uint8
                           else b["image"].to(self.device) * 2 - 1).mean() for b in batches]
            fakes = self.sample(self.cfg.eval_fakes, seed=1234, noise="random") * 2 - 1
            fake = self.D(fakes.to(self.device)).mean()
        finally:
            self.train(was)
        out = {"real_score": float(torch.stack(real).mean()) if real else float("nan"), "fake_score": float(fake)}
        return out | {"mean_path_length": float(self.mean_path_length)}

    @torch.no_grad()
    def samples(self, batch: dict[str, Tensor]) -> tuple[Tensor, int]:
        """16 images from fixed z (seed 0, stored noise) in 8 columns."""
        # while training the mean w moves: a fresh one, leaving the buffers (the saved state) alone
        avg = mean_w(self.G, 2000) if self.cfg.sample_truncation < 1 else None
        return self.sample(16, self.cfg.sample_truncation, seed=0, truncation_latent=avg), 8


def to_unit(img: Tensor) -> Tensor:
    """Generator output (about [-1, 1]) -> [0, 1], clamped, float32."""
    return img.float().add(1).div_(2).clamp_(0, 1)


__all__ = ["StyleGAN2", "to_unit"]
