"""AU-conditioned cycle GAN (SA-C-CC-GAN, gtesei): edit a face to any vector of Action Units.

Seed: "Facial Unpaired Image-to-Image Translation with (Self-Attention) Conditional
Cycle-Consistent GANs", github.com/gtesei/facial_unpaired_i2i_translation_SA_C_CC_GAN, final
version e8 (``models_gan_pytorch_4`` + ``train_gan_pytorch_4``).

A generator G(x, a) edits a face x to the 17-AU condition a; a critic D scores realism and
predicts AUs. One iteration (``phases``): the critic step, then, when ``step % d_g_ratio == 0``,
the generator step. With target AUs a' taken from another training sample:

- D: adv_D(D(x), D(G(x, a'))) + lambda_cl * AU(D_au(x), a) + lambda_gp * GP
- G: adv_G(D(G(x, a'))) + lambda_cl * AU(D_au(G(x, a')), a') + lambda_cyc * L1(G(x, a), x)
  [+ lambda_cycle * L1(G(G(x, a'), a), x)] [+ mask regularisers]

Deliberate deviations from the released code (see docs/methods/au_cyclegan.md):

- The fakes are detached in the critic step. The release backpropagated the critic loss into G
  and then discarded those gradients (G's ``zero_grad`` before its own step), so results are the
  same; only the wasted work is gone.
- Images are in [-1, 1] everywhere, matching the generator's tanh. The release fed [0, 1] images
  and compared tanh outputs against them (``faithful`` restores that).
- Target AUs are a random cyclic shuffle of the batch's own AU vectors (every sample gets another
  sample's vector). The release drew random training samples, and drew them anew for the G step;
  here the critic and generator steps of an iteration share one draw, so G(x, a') is generated
  once per iteration and reused by the generator step (G has not changed in between, so the
  values are the same as recomputing them).
- ``au2idx[45] = 17`` (out of range in the release's emotion table) has no counterpart: emotion
  presets are built by AU name (``editing.emotion_aus``).
- The critic sees real and fake images in one pass (instance norm is per sample, so the scores are
  the same), the gradient penalty runs the adversarial head only (the release also evaluated the
  unused AU head), and the critic's weights are frozen during the G step as released.
- ``critic_shift`` (0 by default, as released) optionally shows the critic randomly translated
  images (DiffAugment-style), so its AU head cannot be satisfied by pixel-exact patterns.
- BatchNorm running statistics of G are updated once per G forward that happens: the encoder once
  and the decoder once per decode per iteration; the release ran the fake generation twice, so its
  running averages (used only in eval mode) move at a slightly different rate.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genfer.core.registry import METHODS
from genfer.data.aus import AU_MAX
from genfer.losses import adversarial as adv
from genfer.losses.tv import total_variation
from genfer.models.au_cyclegan import editing
from genfer.models.au_cyclegan.config import AUCycleGANConfig
from genfer.models.au_cyclegan.networks import Critic, Generator
from genfer.models.base import LossOut, Method, frozen
from genfer.models.layers.shift import random_shift


def _release_grads(module: nn.Module) -> None:
    """Drop a group's gradients once its optimizer has used them (they are rebuilt from None by its
    next backward), so the other phase runs without them in memory (-120 / -174 MB at defaults)."""
    for p in module.parameters():
        p.grad = None


@METHODS.register("au_cyclegan")
class AUCycleGAN(Method):
    """The generator ``G``, the critic ``D``, their two-phase update and AU editing.

    Training batches (``data_kind = "expressions"``) need ``image`` [B, C, H, W] (uint8) and
    ``aus`` float [B, 17] intensities on the 0..5 scale (``AU_NAMES`` order); ``prepare`` adds
    ``cond``, the training condition (presence for ``au_loss: bce``, ``aus / 5`` for ``l1``/``mse``).

    Args:
        cfg: hyper-parameters; ``None`` gives the released defaults.
    """

    Config = AUCycleGANConfig
    data_kind = "expressions"
    best_metric = None

    def __init__(self, cfg: AUCycleGANConfig | None = None) -> None:
        cfg = cfg if cfg is not None else AUCycleGANConfig()
        super().__init__(cfg)
        self.G = Generator(
            cfg.image_size, cfg.channels, cfg.num_aus, cfg.g_dim, cfg.g_dim, cfg.n_layers, cfg.max_width,
            cfg.shortcut_layers, cfg.inject_layers, cfg.g_attention, cfg.mask_output,
        )
        self.D = Critic(
            cfg.image_size, cfg.channels, cfg.num_aus, cfg.d_dim, cfg.n_layers, cfg.max_width, cfg.d_fc_dim,
            cfg.d_attention,
        )

    # --- engine contract -------------------------------------------------------------------
    def groups(self) -> dict[str, list[nn.Module]]:
        """One Adam for the critic, one for the generator (as released)."""
        return {"D": [self.D], "G": [self.G]}

    def ema_modules(self) -> list[str]:
        """The generator (the critic is only needed for training and AU estimates)."""
        return ["G"]

    def phases(self, step: int) -> list[str]:
        """``D`` every iteration, then ``G`` when ``step % d_g_ratio == 0``."""
        return ["D", "G"] if step % self.cfg.d_g_ratio == 0 else ["D"]

    def prepare(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """uint8 images -> model range and layout; ``aus`` -> adds the training condition ``cond``."""
        out = dict(batch)
        if "image" in out and out["image"].dtype == torch.uint8:
            out["image"] = self.to_input(out["image"])
        if "aus" in out and "cond" not in out:
            out["cond"] = self.train_condition(out["aus"].to(self.device).float())
        return out

    def training_step(self, batch: dict[str, Tensor], phase: str, cache: dict[str, Any]) -> LossOut:
        """Loss of ``D`` or ``G``; ``cache`` carries G(x, a') and the encoder maps between them."""
        if "cond" not in batch:
            batch = self.prepare(batch)
            if "cond" not in batch:
                raise ValueError(
                    "au_cyclegan trains on AU labels: batches need 'aus' [B, 17] (SynthFace provides them; "
                    "for other data use a reader with Action Units)"
                )
        if phase == "D":
            _release_grads(self.G)
            return self._step_d(batch, cache)
        if phase == "G":
            _release_grads(self.D)
            return self._step_g(batch, cache)
        raise KeyError(f"au_cyclegan has no phase {phase!r}; known: D, G")

    # --- the two phases ----------------------------------------------------------------------
    def sample_target(self, cond: Tensor) -> Tensor:
        """Target conditions: each sample gets another sample's ``cond`` (random cyclic shuffle).

        ``target_noise`` adds U(-n, n) noise, clipped to [0, 1]. A batch of one keeps its own.
        """
        b = cond.shape[0]
        target = cond.clone()
        if b > 1:
            perm = torch.randperm(b, device=cond.device)
            target[perm] = cond[perm.roll(1)]
        n = self.cfg.target_noise
        if n > 0:
            target = (target + (torch.rand_like(target) * 2 - 1) * n).clamp_(0, 1)
        return target

    def sample_alpha(self, n: int, device: torch.device, dtype: torch.dtype) -> Tensor:
        """Per-sample real/fake mixing weights U[0, 1) ``[n, 1, 1, 1]`` for the gradient penalty."""
        return torch.rand(n, 1, 1, 1, device=device, dtype=dtype)

    def _generate(self, batch: dict[str, Tensor], cache: dict[str, Any]) -> dict[str, Any]:
        """G(x, a') with its graph, once per iteration (shared by both phases). When this iteration
        also steps G with the self-reconstruction, G(x, a) is decoded with it (``decode_many``: the
        two decodes share the products of the encoder's maps)."""
        if "fake" not in cache:
            x, c = batch["image"], batch["cond"]
            c_trg = self.sample_target(c)
            feats = self.G.encode(x)
            with_rec = self.cfg.lambda_cyc > 0 and "step" in cache and "G" in self.phases(cache["step"])
            outs = self.G.decode_many(feats, [c_trg, c] if with_rec else [c_trg], x)
            fake, mask = outs[0]
            cache.update(fake=self._layout(fake), fake_mask=mask, feats=feats, c_trg=c_trg)
            if with_rec:
                cache["rec"] = outs[1]
        return cache

    def _au_loss(self, out: Tensor, target: Tensor) -> Tensor:
        if self.cfg.au_loss == "bce":
            return F.binary_cross_entropy_with_logits(out, target)
        if self.cfg.au_loss == "mse":
            return F.mse_loss(out, target)
        return F.l1_loss(out, target)

    def critic_view(self, x: Tensor) -> Tensor:
        """What the critic sees of images [B, C, H, W]: each shifted by up to ``critic_shift`` of the
        side (whole pixels, edges repeated), differentiably; unchanged when the option is off."""
        if self.cfg.critic_shift == 0:
            return x
        return self._layout(random_shift(x, self.cfg.critic_shift))

    def _step_d(self, batch: dict[str, Tensor], cache: dict[str, Any]) -> LossOut:
        cfg = self.cfg
        x, c = batch["image"], batch["cond"]
        b = x.shape[0]
        fake = self._generate(batch, cache)["fake"].detach()
        x, fake = self.critic_view(x), self.critic_view(fake)
        h = self.D.features(torch.cat((x, fake)))
        scores = self.D.adv(h)
        d_adv = adv.d_loss(cfg.adversarial, scores[:b], scores[b:])
        d_cl = self._au_loss(self.D.aus(h[:b]), c)
        loss = d_adv + cfg.lambda_cl * d_cl
        terms = {"d_adv": d_adv, "d_cl": d_cl}
        if cfg.lambda_gp > 0:
            alpha = self.sample_alpha(b, x.device, x.dtype)
            gp = adv.gradient_penalty(self.D.score, x, fake, alpha)
            loss = loss + cfg.lambda_gp * gp
            terms["gp"] = gp
        return LossOut(loss, {k: v.detach() for k, v in terms.items()})

    def _step_g(self, batch: dict[str, Tensor], cache: dict[str, Any]) -> LossOut:
        cfg = self.cfg
        x, c = batch["image"], batch["cond"]
        cache = self._generate(batch, cache)
        fake, c_trg = cache["fake"], cache["c_trg"]
        with frozen(self.D):
            scores, au_fake = self.D(self.critic_view(fake))
        g_adv = adv.g_loss(cfg.adversarial, scores)
        g_cl = self._au_loss(au_fake, c_trg)
        loss = g_adv + cfg.lambda_cl * g_cl
        terms = {"g_adv": g_adv, "g_cl": g_cl}
        masks = [cache["fake_mask"]]
        if cfg.lambda_cyc > 0:
            rec, m = cache["rec"] if "rec" in cache else self.G.decode(cache["feats"], c, x)
            terms["rec"] = F.l1_loss(rec, x)
            loss = loss + cfg.lambda_cyc * terms["rec"]
            masks.append(m)
        if cfg.lambda_cycle > 0:
            cyc, m = self.G(fake, c)
            terms["cycle"] = F.l1_loss(cyc, x)
            loss = loss + cfg.lambda_cycle * terms["cycle"]
            masks.append(m)
        if cfg.mask_output:
            terms["mask"] = torch.stack([m.mean() for m in masks]).mean()
            terms["mask_tv"] = torch.stack([total_variation(m) for m in masks]).mean()
            loss = loss + cfg.lambda_mask * terms["mask"] + cfg.lambda_mask_tv * terms["mask_tv"]
        return LossOut(loss, {k: v.detach() for k, v in terms.items()})

    # --- ranges and conditions ---------------------------------------------------------------
    def _layout(self, x: Tensor) -> Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.cfg.channels_last else x.contiguous()

    def to_input(self, images: Tensor) -> Tensor:
        """Images (uint8 0..255 or float [0, 1]) [B, C, H, W] -> model input: [-1, 1] ([0, 1] if faithful)."""
        if images.dtype == torch.uint8:
            x = images.to(self.device).float().div_(255)
        elif images.is_floating_point():
            x = images.to(self.device, torch.float32)
        else:
            raise TypeError(f"au_cyclegan: images must be uint8 or float, got {images.dtype}")
        if x.shape[1] != self.cfg.channels:
            raise ValueError(f"au_cyclegan: expected {self.cfg.channels}-channel images, got {x.shape[1]}")
        if not self.cfg.faithful:
            x = x.mul_(2).sub_(1) if images.dtype == torch.uint8 else x * 2 - 1
        return self._layout(x)

    def to_unit(self, y: Tensor) -> Tensor:
        """Model-range images -> float [0, 1] (plain NCHW), for saving and judging."""
        y = y.float() if self.cfg.faithful else (y.float() + 1) / 2
        return y.clamp(0, 1).contiguous()

    def train_condition(self, aus: Tensor) -> Tensor:
        """Intensities [B, 17] (0..5) -> the training condition: presence (bce) or ``aus / 5`` (l1, mse)."""
        if self.cfg.au_loss == "bce":
            return (aus >= self.cfg.au_threshold).to(aus.dtype)
        return (aus / AU_MAX).clamp(0, 1)

    @staticmethod
    def condition(aus: Tensor) -> Tensor:
        """Intensities [B, 17] (0..5) -> the editing condition ``aus / 5`` in [0, 1].

        For an ``l1`` or ``mse`` model this is its training condition. A ``bce`` model learned presence
        (0/1) only; intensities map linearly onto its condition (5 = fully present), which is how
        the seed's editing figure varied it (0, .33, .66, 1).
        """
        return (aus / AU_MAX).clamp(0, 1)

    # --- inference ---------------------------------------------------------------------------
    def edit_condition(self, x: Tensor, cond: Tensor) -> Tensor:
        """G(x, cond) in eval mode: images [B, C, H, W] (uint8 or [0, 1]) and conditions [B, 17] in [0, 1].

        Returns:
            edited images [B, C, H, W], float in [0, 1].
        """
        with self._inference():
            x = self.to_input(x)
            cond = cond.to(x.device, x.dtype).expand(x.shape[0], -1)
            return self.to_unit(self.G(x, cond)[0])

    def edit(self, x: Tensor, aus: Tensor) -> Tensor:
        """Edit faces to target AU intensities.

        Args:
            x: face crops [B, C, H, W], uint8 or float in [0, 1], at ``image_size``.
            aus: target intensities [B, 17] or [17] (0..5, ``AU_NAMES`` order).

        Returns:
            x' [B, C, H, W], float in [0, 1].
        """
        return self.edit_condition(x, self.condition(aus.float().reshape(-1, self.cfg.num_aus)))

    def reconstruct(self, x: Tensor) -> Tensor:
        """G(x, a) with ``a`` the critic's estimate of x's own AUs: [B, C, H, W] -> float [B, C, H, W] in [0, 1]."""
        return self.edit(x, self.estimate_aus(x))

    def estimate_aus(self, x: Tensor) -> Tensor:
        """The critic's AU estimate of images, as intensities [B, 17] (0..5).

        ``l1``/``mse`` models regress ``aus / 5``; ``bce`` models give presence probabilities, returned
        times 5 (the editing condition's scale).
        """
        with self._inference():
            out = self.D.aus(self.D.features(self.to_input(x))).float()
        out = torch.sigmoid(out) if self.cfg.au_loss == "bce" else out.clamp(0, 1)
        return out * AU_MAX

    def strip(self, x: Tensor, target: Tensor, steps: int = 5, source: Tensor | None = None) -> Tensor:
        """Interpolation strip of one face from its source AUs to ``target``.

        Args:
            x: one face [1, C, H, W] (or [C, H, W]).
            target: intensities [17].
            steps: images in the strip (>= 2), source and target included.
            source: intensities [17]; default the critic's estimate of ``x``.

        Returns:
            [steps, C, H, W] in [0, 1].
        """
        x = x.reshape(1, *x.shape[-3:])
        src = self.estimate_aus(x)[0] if source is None else source.float()
        path = editing.interpolation(src.cpu(), target.float().cpu(), steps)
        return self.edit(x.expand(steps, -1, -1, -1), path)

    def au_grid(
        self,
        x: Tensor,
        aus: tuple[str, ...] = editing.GRID_AUS,
        intensities: tuple[float, ...] = editing.GRID_INTENSITIES,
        base: Tensor | None = None,
    ) -> Tensor:
        """Single-AU edits of one face, as in the seed's qualitative figure.

        Args:
            x: one face [1, C, H, W] (or [C, H, W]).
            aus: AU names, one per column.
            intensities: one per row (0..5).
            base: intensities [17] the other AUs keep; default the critic's estimate of ``x``.

        Returns:
            ([len(intensities) * len(aus), C, H, W] in [0, 1], row-major; ``len(aus)`` columns).
        """
        x = x.reshape(1, *x.shape[-3:])
        base = self.estimate_aus(x)[0] if base is None else base.float()
        targets = editing.single_au_grid(base.cpu(), aus, intensities)
        return self.edit(x.expand(targets.shape[0], -1, -1, -1), targets)

    # --- evaluation and samples ----------------------------------------------------------------
    def evaluate(self, batches: Iterable[dict[str, Tensor]]) -> dict[str, Any]:
        """Held-out figures: reconstruction L1 (in [0, 1] units) of G(x, a) and, with AU labels, the
        critic's AU error (``d_au_mae`` in intensity units for l1/mse; ``d_au_acc`` presence accuracy
        for bce). Without labels ``a`` is the critic's estimate."""
        rec_sum = err_sum = 0.0
        n = n_au = 0
        with self._inference():
            for batch in batches:
                batch = self.prepare(batch)
                x = batch["image"]
                out = self.D.aus(self.D.features(x)).float()
                est = torch.sigmoid(out) if self.cfg.au_loss == "bce" else out.clamp(0, 1)
                if "cond" in batch:
                    c = batch["cond"].float()
                    if self.cfg.au_loss == "bce":
                        err_sum += float(((est > 0.5).float() == c).float().mean(1).sum())
                    else:
                        err_sum += float((est - c).abs().mean(1).sum() * AU_MAX)
                    n_au += x.shape[0]
                else:
                    c = est
                rec = self.G(x, c.to(x.dtype))[0]
                rec_sum += float((self.to_unit(rec) - self.to_unit(x)).abs().flatten(1).mean(1).sum())
                n += x.shape[0]
        out_metrics: dict[str, Any] = {"rec_l1": rec_sum / max(n, 1)}
        if n_au:
            out_metrics["d_au_acc" if self.cfg.au_loss == "bce" else "d_au_mae"] = err_sum / n_au
        return out_metrics

    def samples(self, batch: dict[str, Tensor]) -> tuple[Tensor, int]:
        """Rows of [x, G(x, a) (its own AUs, or the critic's estimate), G(x, emotion) x 7] for up to 8 faces.

        ``batch["image"]`` is uint8 or already prepared (model range). Emotions are the FACS
        prototypes of neutral .. anger at their typical intensities.

        Returns:
            (grid [9N, C, H, W] in [0, 1], 9).
        """
        img = batch["image"][:8]
        unit = img.float() / 255 if img.dtype == torch.uint8 else self.to_unit(img)
        src = batch["aus"][:8].float() if "aus" in batch else self.estimate_aus(unit)
        cols = [unit.cpu(), self.edit(unit, src).cpu()]
        for e in range(7):
            cols.append(self.edit(unit, editing.emotion_aus(e).expand(unit.shape[0], -1)).cpu())
        grid = torch.stack(cols, 1)  # [N, 9, C, H, W]
        return grid.flatten(0, 1), len(cols)
