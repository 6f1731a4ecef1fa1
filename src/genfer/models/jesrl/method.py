"""JESRL: Joint Expression Synthesis and Representation Learning for facial expression recognition.

Released code: github.com/zhangxi1997/JESRL-FER (``train.py`` class ``ELEGANT``, ``nets.py``,
``train_VGG_multi.py``). Two parts:

- an ELEGANT-style **expression swap**: two faces A (expression i) and B (expression j) are encoded,
  the latent chunks of i and j are exchanged, and each face is decoded (conditioned on the change
  vector) as a residual: C = A + R_C carries B's expression on A's face, D = B + R_D the reverse;
- a **recogniser** ``VGG_fx`` (VGG19-BN features fused with the encoder's features) trained on real
  faces plus faces the GAN synthesises, with a curriculum of more synthetic batches as it trains.

Training stages (``stages``): an optional ``perceptual`` stage that trains the VGG19-BN expression
classifier whose trunk is the perceptual loss; then ``rounds`` x [``gan_<r>`` (``gan_epochs`` GAN
epochs), ``recogniser_<r>`` (``rec_epochs`` recogniser epochs)]. Each recogniser stage begins by
synthesising: every training face is paired with ``synth_neutrals`` neutral faces of other
identities and D (the neutral face wearing the training face's expression) is saved with the
face's label, and fx = cat(z_D, z_B), as the release's ``images_gan_nature.list`` protocol does.
The set goes to ``<run>/synth/<stage>/`` (PNG images, ``fx.npy``, ``manifest.json``), so it can be
inspected, and a run resumed inside the stage reads it back instead of synthesising again.

Losses, as released: D = λ_D [L_D1 + ½ L_D2], L_Dk = BCE(real A, B -> N(1, s)) + BCE(fakes C, D,
C_5, D_5 -> N(0, s)); G = adv1 + ½ adv2 (fakes -> N(1, s)) + 15 VGG(D, A; C, B) + 5 L1(A + B, C + D)
+ 10 [MSE(A1, A) + MSE(B1, B)] + 5 TV(C, D). D is not updated while the previous G loss is >= 22.

Deliberate deviations from the released code (``faithful`` restores the first two):

- An epoch is ``gan_epoch_steps`` iterations (Multi-PIE's 6,124 faces / batch 10 by default); the
  release ran one iteration per "epoch".
- The TV term has a gradient; the release computed it on detached images, so it did nothing.
- Pairs come from the ``swap_pairs`` data kind: face a runs through the epoch, b is a face of
  another identity; i = a's expression and j = b's are per sample. The release drew one attribute
  i per batch and B among the faces without it, so i != j always; here a pair may share its
  expression (the swap then exchanges one chunk and asks for no change).
- The perceptual net is a VGG19-BN expression classifier that genfer trains (``perceptual`` stage)
  or takes from another run; the release loaded a checkpoint it does not ship. Its ImageNet
  initialisation needs user-supplied torchvision weights (``imagenet_weights``); offline it starts
  from random init.
- Each stage builds fresh optimizers (Adam moments and SGD momentum restart each round); the
  StepLR schedules continue across rounds (``Stage.schedule_offset``).
- One recogniser step = one real batch plus its k synthetic batches, one optimizer step on the sum
  of their mean losses; the release stepped after each batch.
- The decoder's skip additions are out of place and the two latents are swapped with ``where``
  (the release modified tensors in place, which modern autograd rejects). Encoder, decoder and
  discriminator passes are batched over A, B and the fakes: the same functions, fewer calls.
- The BCE is computed from the discriminators' logits (same value, stable) and allows the noisy
  targets outside [0, 1] that the release's older torch accepted.
- Runs on CPU and CUDA; the release's CPU path crashes (its decoder label is tiled on GPU only).
- Convolutions run on channels-last activations (``channels_last``), their CPU bias gradients are
  sums (``layers/sum_bias``), and ``Normalization`` is one autograd function (in place without a
  graph): the same functions, different float rounding.
- ``mismatch_negatives`` (off by default) adds the reals under wrong labels to D's fakes; the
  release has no such term.
- ``distinct_pairs`` (off by default) re-pairs the ``b`` faces within each batch so that the two
  expressions of a pair differ, as the release's always did.
- ``d_projection`` (off by default) adds a projection term <embed(y), features> to each D's logit;
  the release conditions D only through label maps at its input.
- The VGG term is P(D, A) + P(C, B) with a gradient through both fakes (the release's argument
  order of its second term, P(B, C), would detach C if its VGGLoss detached the second argument).
- With ``train.ema`` (off by default; the release keeps no average) the engine averages ``Enc`` and
  ``Dec``, and each recogniser stage adopts the average for good: its synthesis, the recogniser's
  fx and the next GAN round use the averaged generator, and so do swaps from the checkpoint.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genfer.core.errors import GenferError, UsageError
from genfer.core.registry import METHODS
from genfer.data.labels import MULTIPIE_CLASSES
from genfer.data.tensors import TensorSet, resize_uint8
from genfer.losses.tv import total_variation_l1
from genfer.models.base import LossOut, Method, Stage, frozen
from genfer.models.jesrl.config import JESRLConfig
from genfer.models.jesrl.networks import (
    Discriminator,
    Encoder,
    LabelDecoder,
    VGGFx,
    change_vector,
    swap_labels,
    swap_latents,
)
from genfer.models.jesrl.stages import enter_gan, enter_perceptual, enter_recogniser
from genfer.models.layers.vgg import VGG19BN, vgg_perceptual


def bce_logits_noisy(logits: Tensor, target: Tensor) -> Tensor:
    """Element-wise BCE(sigmoid(logits), target) for any real target (no [0, 1] check)."""
    return F.softplus(logits) - target * logits


def distinct_partners(y_a: Tensor, y_b: Tensor, id_a: Tensor, id_b: Tensor) -> Tensor:
    """A permutation ``p`` of a batch's ``b`` side after which ``y_a[r] != y_b[p[r]]`` wherever a swap allows.

    Each pair whose two expressions are equal exchanges its ``b`` with the first other pair for
    which both new pairs have differing expressions and differing identities; a batch with no such
    pair keeps it (long ``[B]`` labels and identities in, long ``[B]`` permutation out).
    """
    ya, yb, ia, ib = (t.tolist() for t in (y_a, y_b, id_a, id_b))
    p = list(range(len(ya)))
    for r in range(len(ya)):
        if ya[r] != yb[p[r]]:
            continue
        for k in range(len(ya)):
            pr, pk = p[r], p[k]
            if k != r and ya[r] != yb[pk] and ia[r] != ib[pk] and ya[k] != yb[pr] and ia[k] != ib[pr]:
                p[r], p[k] = pk, pr
                break
    return torch.tensor(p, device=y_a.device)


def forward_g(enc: Encoder, dec: LabelDecoder, a: Tensor, b: Tensor, i: Tensor, j: Tensor, num_classes: int,
              alpha5: bool = True, swap_only: bool = False) -> dict[str, Tensor]:
    """The released ``ELEGANT.forward_G``, batched (one encoder pass, one decoder pass).

    Args:
        enc, dec: the encoder and the label decoder.
        a, b: ``[B, C, S, S]`` in [-1, 1].
        i, j: long ``[B]``: a's expression and b's.
        num_classes: number of latent chunks (classes).
        alpha5: also decode the half-swaps C_5, D_5.
        swap_only: decode only C and D (inference; no self-reconstructions, no half-swaps).

    Returns:
        ``z_A, z_B, z_C, z_D`` ``[B, c, h, w]``; ``label_A_tiled``, ``label_C_tiled``; residuals
        ``R_A, R_B, R_C, R_D`` (+ ``R_C_5, R_D_5``) and images ``A1, B1, C, D`` (+ ``C_5, D_5``)
        ``[B, C, S, S]``, the images clamped to [-1, 1].
    """
    n = a.shape[0]
    z, skips = enc(torch.cat((a, b)))
    z_a, z_b = z[:n], z[n:]
    z_c, z_d = swap_latents(z_a, z_b, i, j, num_classes)
    lab = dec.tile(change_vector(i, j, num_classes))
    zero = torch.zeros_like(lab)
    z1, z2, labels = [z_a, z_b, z_c, z_d], [z_a, z_b, z_a, z_b], [zero, zero, lab, lab]
    names = ["A", "B", "C", "D", "C_5", "D_5"]
    if swap_only:
        z1, z2, labels, names = z1[2:], z2[2:], labels[2:], names[2:4]
    elif alpha5:
        z1 += [0.5 * (z_c - z_a) + z_a, 0.5 * (z_d - z_b) + z_b]
        z2 += [z_a, z_b]
        labels += [lab, lab]
    reps = len(z1) // 2
    r = dec(torch.cat(z1), torch.cat(z2), torch.cat(labels), skips).split(n)  # skips of (a, b), shared
    out = {"z_A": z_a, "z_B": z_b, "z_C": z_c, "z_D": z_d, "label_A_tiled": zero, "label_C_tiled": lab}
    for name, res, x in zip(names, r, [a, b] * reps, strict=False):
        out[f"R_{name}"] = res
        out[{"A": "A1", "B": "B1"}.get(name, name)] = (x + res).clamp(-1, 1)
    return out


@METHODS.register("jesrl")
class JESRL(Method):
    """JESRL's swap GAN (``Enc``, ``Dec``, ``D1``, ``D2``), perceptual net ``P`` and recogniser ``R``.

    Training batches (``swap_pairs``) hold ``x_a``, ``y_a``, ``x_b``, ``y_b`` (labels index
    ``cfg.classes``); recogniser stages feed ``x_real``, ``y_real``, ``x_syn``, ``y_syn``, ``fx_syn``.
    Images are uint8 or float in [0, 1] at the boundary; the networks see [-1, 1].

    Args:
        cfg: hyper-parameters; ``None`` gives the released defaults.
    """

    Config = JESRLConfig
    data_kind = "swap_pairs"
    best_metric = "acc"
    best_mode = "max"
    classes: tuple[str, ...] = MULTIPIE_CLASSES
    """Name of each column of ``classify``'s logits (``cfg.classes``)."""

    def __init__(self, cfg: JESRLConfig | None = None) -> None:
        cfg = cfg if cfg is not None else JESRLConfig()
        super().__init__(cfg)
        self.classes = tuple(cfg.classes)
        k, ch, s = cfg.num_classes, cfg.channels, cfg.image_size
        self.Enc = Encoder(ch, cfg.enc_widths)
        self.Dec = LabelDecoder(cfg.latent, k, cfg.label_copy, cfg.dec_widths, ch)
        self.D1 = Discriminator(k, s, ch, cfg.d_widths, cfg.d_projection)
        self.D2 = Discriminator(k, s // 2, ch, cfg.d_widths, cfg.d_projection)
        self.P = VGG19BN(k, ch, cfg.vgg_width, cfg.vgg_hidden)
        self.R = VGGFx(k, ch, cfg.vgg_width, cfg.vgg_hidden)
        # the previous G loss: D is not updated while it is >= g_max (a buffer, so resuming keeps it)
        self.register_buffer("last_loss_g", torch.zeros(()))
        self._gan_batches: Any = None

    # --- engine contract -------------------------------------------------------------------
    def groups(self) -> dict[str, list[nn.Module]]:
        """G = Enc + Dec and D = D1 + D2 (Adam, as released); P the perceptual classifier, R the
        recogniser (SGD)."""
        return {"P": [self.P], "D": [self.D1, self.D2], "G": [self.Enc, self.Dec], "R": [self.R]}

    def phases(self, step: int) -> list[str]:
        """P; D (unless the last G loss was >= ``g_max``), then G; R. The stage picks its groups."""
        d = ["D"] if float(self.last_loss_g) < self.cfg.g_max else []
        return ["P", *d, "G", "R"]

    def ema_modules(self) -> list[str]:
        """The swap generator (``Enc`` + ``Dec``)."""
        return ["Enc", "Dec"]

    def gan_steps(self) -> int:
        c = self.cfg
        return (1 if c.faithful else c.gan_epoch_steps) * c.gan_epochs

    def rec_steps(self) -> int:
        return self.cfg.rec_epoch_steps * self.cfg.rec_epochs

    def stages(self) -> list[Stage]:
        """``perceptual`` (when ``perceptual_steps`` > 0), then ``rounds`` x (``gan_r``, ``recogniser_r``)."""
        c = self.cfg
        gan_opts = {"betas": tuple(c.gan_betas), "weight_decay": c.gan_weight_decay, "step_size": c.gan_lr_step,
                    "gamma": c.gan_lr_gamma, "warmup_steps": 0}
        rec_opts = {"momentum": c.rec_momentum, "nesterov": False, "weight_decay": c.rec_weight_decay,
                    "step_size": c.rec_lr_step, "gamma": c.rec_lr_gamma, "warmup_steps": 0}
        adam = {**rec_opts, "betas": (0.9, 0.999), "weight_decay": 0.0}
        out = []
        if c.perceptual_steps > 0:
            p_opts = rec_opts if c.perceptual_optim == "sgd" else adam
            out.append(Stage("perceptual", c.perceptual_steps, ["P"], c.perceptual_optim, c.perceptual_lr,
                             c.perceptual_schedule, before=enter_perceptual, options=p_opts))
        g, r = self.gan_steps(), self.rec_steps()
        for k in range(c.rounds):
            out.append(Stage(f"gan_{k}", g, ["G", "D"], "adam", c.gan_lr, "steplr", before=enter_gan,
                             options=gan_opts, schedule_offset=k * g))
            out.append(Stage(f"recogniser_{k}", r, ["R"], c.rec_optim, c.rec_lr, "steplr", before=enter_recogniser,
                             options=rec_opts if c.rec_optim == "sgd" else adam, schedule_offset=k * r))
        return out

    def _layout(self, x: Tensor) -> Tensor:
        # only explicit channels-last strides make the CPU convolutions pick that (faster) layout
        return x.contiguous(memory_format=torch.channels_last) if self.cfg.channels_last else x.contiguous()

    def to_input(self, images: Tensor) -> Tensor:
        """uint8 ``[B, C, H, W]`` -> float in [-1, 1] (the release's ``Normalize(0.5, 0.5)``)."""
        return self._layout(images.float().div(127.5).sub_(1.0))

    def _unit_to_input(self, x: Tensor) -> Tensor:
        """Images uint8 or float in [0, 1] -> [-1, 1] on the device."""
        x = x.to(self.device)
        return self.to_input(x) if x.dtype == torch.uint8 else self._layout(x.float() * 2 - 1)

    # --- the swap --------------------------------------------------------------------------
    def forward_g(self, a: Tensor, b: Tensor, i: Tensor, j: Tensor, alpha5: bool = True) -> dict[str, Tensor]:
        """:func:`forward_g` with this method's encoder and decoder."""
        return forward_g(self.Enc, self.Dec, a, b, i, j, self.cfg.num_classes, alpha5)

    def _one_hot(self, y: Tensor) -> Tensor:
        return F.one_hot(y, self.cfg.num_classes).float()

    def _gan_forward(self, batch: dict[str, Tensor], cache: dict[str, Any]) -> dict[str, Tensor]:
        if "gan" not in cache:
            a, b, i, j = batch["x_a"], batch["x_b"], batch["y_a"], batch["y_b"]
            if self.cfg.distinct_pairs and "id_a" in batch:
                p = distinct_partners(i, j, batch["id_a"], batch["id_b"])
                b, j = b[p], j[p]
            out = self.forward_g(a, b, i, j, self.cfg.alpha5)
            y_a, y_b = self._one_hot(i), self._one_hot(j)
            out["y_A"], out["y_B"] = y_a, y_b
            out["y_C"], out["y_D"] = swap_labels(y_a, y_b, i, j)
            out["A"], out["B"] = a, b
            cache["gan"] = out
        return cache["gan"]

    def _fakes(self, g: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        names = ["C", "D", "C_5", "D_5"] if self.cfg.alpha5 else ["C", "D"]
        ys = ["y_C", "y_D"] * (len(names) // 2)
        return torch.cat([g[k] for k in names]), torch.cat([g[k] for k in ys])

    def training_step(self, batch: dict[str, Tensor], phase: str, cache: dict[str, Any]) -> LossOut:
        if phase == "P":
            return self._step_p(batch)
        if phase == "R":
            return self._step_r(batch)
        g = self._gan_forward(batch, cache)
        return self._step_d(g) if phase == "D" else self._step_g(g)

    def _step_d(self, g: dict[str, Tensor]) -> LossOut:
        c, n = self.cfg, g["A"].shape[0]
        fakes, y_f = self._fakes(g)
        x = torch.cat((g["A"], g["B"], fakes.detach()))
        y = torch.cat((g["y_A"], g["y_B"], y_f))
        if c.mismatch_negatives:  # the reals again, each under a label other than its own
            own = torch.cat((g["y_A"], g["y_B"])).argmax(1)
            k = c.num_classes
            wrong = (own + torch.randint(1, k, own.shape, device=own.device)) % k
            x = torch.cat((x, g["A"], g["B"]))
            y = torch.cat((y, self._one_hot(wrong)))
        real = torch.zeros(x.shape[0], 1, device=x.device, dtype=torch.bool)
        real[: 2 * n] = True
        terms, total = {}, 0.0
        for name, d, w in (("D1", self.D1, 1.0), ("D2", self.D2, 0.5)):
            logits = d.logits(x, y).float()
            target = torch.randn_like(logits) * c.noise_std + real.float()
            loss = bce_logits_noisy(logits, target).sum() / n  # a sum of per-group batch means
            terms[name] = loss.detach()
            total = total + w * loss
        return LossOut(c.lambda_d * total, terms)

    def _step_g(self, g: dict[str, Tensor]) -> LossOut:
        c, n = self.cfg, g["A"].shape[0]
        fakes, y_f = self._fakes(g)
        terms: dict[str, Tensor] = {}
        with frozen(self.D1, self.D2):
            adv = 0.0
            for name, d, w in (("adv1", self.D1, 1.0), ("adv2", self.D2, 0.5)):
                logits = d.logits(fakes, y_f).float()
                loss = bce_logits_noisy(logits, torch.randn_like(logits) * c.noise_std + 1).sum() / n
                terms[name] = loss.detach()
                adv = adv + w * loss
        l2 = F.mse_loss(g["A1"], g["A"]) + F.mse_loss(g["B1"], g["B"])
        l1 = F.l1_loss(g["C"] + g["D"], g["A"] + g["B"])
        cd = torch.cat((g["C"], g["D"]))
        tv = total_variation_l1(cd.detach() if c.faithful else cd)
        total = adv + c.lambda_l2 * l2 + c.lambda_l1 * l1 + c.lambda_tv * tv
        terms.update(l2=l2.detach(), l1=l1.detach(), tv=tv.detach())
        if c.lambda_vgg > 0 or c.lambda_cls > 0:
            was = self.P.training
            self.P.eval()  # a fixed loss network: running statistics, no dropout
            try:
                with frozen(self.P):
                    if c.lambda_vgg > 0:
                        f = self.P.features
                        vgg = vgg_perceptual(f, g["D"], g["A"]) + vgg_perceptual(f, g["C"], g["B"])
                        total = total + c.lambda_vgg * vgg
                        terms["vgg"] = vgg.detach()
                    if c.lambda_cls > 0:
                        y = torch.cat((g["y_C"], g["y_D"])).argmax(1)
                        cls = F.cross_entropy(self.P(cd).float(), y)
                        total = total + c.lambda_cls * cls
                        terms["cls"] = cls.detach()
            finally:
                self.P.train(was)
        with torch.no_grad():
            self.last_loss_g.fill_(total.detach().float())
        return LossOut(total, terms)

    def _step_p(self, batch: dict[str, Tensor]) -> LossOut:
        x, y = (batch["x_real"], batch["y_real"]) if "x_real" in batch else (batch["x_a"], batch["y_a"])
        ce = F.cross_entropy(self.P(x).float(), y)
        return LossOut(ce, {"ce": ce.detach()})

    def fx_of(self, x: Tensor) -> Tensor:
        """The recogniser's fx for real images, cat(z, z) from the current encoder (no graph)."""
        with torch.no_grad():
            z = self.Enc(x)[0]
        return torch.cat((z, z), 1)

    def _step_r(self, batch: dict[str, Tensor]) -> LossOut:
        x, y = (batch["x_real"], batch["y_real"]) if "x_real" in batch else (batch["x_a"], batch["y_a"])
        real = F.cross_entropy(self.R(x, self.fx_of(x)).float(), y)
        terms = {"ce_real": real.detach()}
        total = real
        if "x_syn" in batch and batch["x_syn"].shape[0] > 0:
            k = batch["x_syn"].shape[0] // x.shape[0]
            logits = self.R(batch["x_syn"], batch["fx_syn"]).float()
            per = F.cross_entropy(logits, batch["y_syn"], reduction="none").view(k, -1).mean(1)
            total = total + per.sum()
            terms["ce_syn"] = per.mean().detach()
        return LossOut(total, terms)

    # --- inference ---------------------------------------------------------------------------
    def classify(self, x: Tensor) -> Tensor:
        """Recogniser logits: images ``[B, C, H, W]`` (uint8 or float [0, 1]) -> ``[B, len(classes)]``."""
        with self._inference():
            x = self._unit_to_input(x)
            return self.R(x, self.fx_of(x)).float()

    def perceive(self, x: Tensor) -> Tensor:
        """The perceptual classifier's logits: images ``[B, C, H, W]`` (uint8 or float [0, 1]) ->
        ``[B, len(classes)]``."""
        with self._inference():
            return self.P(self._unit_to_input(x)).float()

    def class_index(self, name: str) -> int:
        """Index of a class name of ``classes``; a clear error otherwise."""
        if name not in self.classes:
            raise UsageError(f"unknown expression {name!r}; this run's classes are: {', '.join(self.classes)}")
        return self.classes.index(name)

    def swap_with(self, x_a: Tensor, x_b: Tensor, i: Tensor, j: Tensor) -> dict[str, Tensor]:
        """Swap given expressions: ``x_a`` (expression ``i``) and ``x_b`` (``j``), images ``[B, C, S, S]``.

        Returns ``C`` (a with b's expression), ``D`` (b with a's), images in [0, 1], and their
        residuals ``R_C``, ``R_D`` shown as ``(R + 1) / 2`` clamped to [0, 1].
        """
        with self._inference():
            a, b = self._unit_to_input(x_a), self._unit_to_input(x_b)
            i, j = i.to(a.device).long(), j.to(a.device).long()
            g = forward_g(self.Enc, self.Dec, a, b, i, j, self.cfg.num_classes, swap_only=True)
            return {k: ((g[k] + 1) / 2).clamp(0, 1).float() for k in ("C", "D", "R_C", "R_D")}

    def swap(self, x_a: Tensor, x_b: Tensor) -> tuple[Tensor, Tensor]:
        """``(x_ab, x_ba)`` in [0, 1]: each face with the other's expression, as the recogniser reads them."""
        i, j = self.classify(x_a).argmax(1), self.classify(x_b).argmax(1)
        out = self.swap_with(x_a, x_b, i, j)
        return out["C"], out["D"]

    def reconstruct(self, x: Tensor) -> Tensor:
        """A1 = clamp(x + Dec(z, z, 0)): the self-reconstruction, ``[B, C, S, S]`` -> [0, 1]."""
        with self._inference():
            a = self._unit_to_input(x)
            i = torch.zeros(a.shape[0], dtype=torch.long, device=a.device)
            g = self.forward_g(a, a, i, i, alpha5=False)
            return ((g["A1"] + 1) / 2).clamp(0, 1).float()

    @torch.no_grad()
    def evaluate(self, batches: Iterable[dict[str, Tensor]]) -> dict[str, Any]:
        """Recogniser top-1 accuracy ``acc`` on ``{"image", "expression"}`` batches, images uint8 or
        prepared (float in [-1, 1]); labels outside ``classes`` are skipped. When genfer trains the
        perceptual net (``perceptual_steps`` > 0), also its accuracy ``P_acc``: the VGG term teaches
        G expressions only as well as P reads them, and P from random init does not always learn."""
        with_p = self.cfg.perceptual_steps > 0
        hits = hits_p = n = 0
        for batch in batches:
            y = batch["expression"].to(self.device)
            keep = (y >= 0) & (y < self.cfg.num_classes)
            if not bool(keep.any()):
                continue
            x = batch["image"].to(self.device)[keep]
            if x.is_floating_point():  # prepared batches (the engine's) are in [-1, 1]
                x = (x + 1) / 2
            hits += int((self.classify(x).argmax(1) == y[keep]).sum())
            if with_p:
                hits_p += int((self.perceive(x).argmax(1) == y[keep]).sum())
            n += int(keep.sum())
        out = {"acc": hits / max(n, 1)}
        if with_p:
            out["P_acc"] = hits_p / max(n, 1)
        return out

    @torch.no_grad()
    def samples(self, batch: dict[str, Tensor]) -> tuple[Tensor, int]:
        """Rows of [A, B, C (A with B's expression), D, A1] for up to 8 pairs, in [0, 1]."""
        if "x_a" in batch:
            a, b, i, j = batch["x_a"][:8], batch["x_b"][:8], batch["y_a"][:8], batch["y_b"][:8]
        else:
            x = batch["x_real"] if "x_real" in batch else batch["image"]
            y = batch["y_real"] if "y_real" in batch else batch["expression"]
            a, i = x[:8], y[:8].clamp(0, self.cfg.num_classes - 1)
            b, j = torch.roll(a, -1, 0), torch.roll(i, -1, 0)
        if a.is_floating_point():
            a, b = (a + 1) / 2, (b + 1) / 2  # prepared batches are in [-1, 1]
        out = self.swap_with(a, b, i, j)
        rec = self.reconstruct(a)
        unit = a.float().to(rec.device) / 255 if a.dtype == torch.uint8 else a.to(rec.device)
        unit_b = b.float().to(rec.device) / 255 if b.dtype == torch.uint8 else b.to(rec.device)
        grid = torch.stack((unit, unit_b, out["C"], out["D"], rec), 1)
        return grid.flatten(0, 1).clamp(0, 1), 5

    # --- synthesis ---------------------------------------------------------------------------
    @torch.no_grad()
    def synthesise(self, faces: TensorSet, out_dir: Path, seed: int, batch_size: int = 16) -> tuple[TensorSet, Tensor]:
        """The ``images_gan_nature.list`` protocol on any labelled set.

        Each face (expression i) is paired with ``synth_neutrals`` neutral faces of other identities
        (drawn with ``seed``); D = the neutral face wearing expression i is kept with label i, and
        fx = cat(z_D, z_B). Neutral faces give their neutral partner unchanged. The set is written
        to ``out_dir`` (``000000.png``..., ``fx.npy``, ``manifest.json``).

        Returns:
            ``(TensorSet of uint8 images and labels, fx float [M, 2c, h, w])``.
        """
        from genfer.core.imaging import save_image

        c = self.cfg
        neutral = self.class_index(c.neutral)
        y, ids = faces.expressions, faces.identities
        pool = torch.nonzero(y == neutral).flatten()
        if len(pool) == 0:
            raise GenferError(f"{faces.name}: no {c.neutral!r} face to pair with; the synthesis needs neutral faces")
        gen = torch.Generator().manual_seed(seed)
        pairs = []
        for a in range(len(faces)):
            cand = pool[ids[pool] != ids[a]]
            if len(cand) == 0:
                cand = pool[pool != a] if len(pool) > 1 else pool
            pick = cand[torch.randint(len(cand), (c.synth_neutrals,), generator=gen)]
            pairs += [(a, int(p)) for p in pick]
        pa = torch.tensor([p[0] for p in pairs])
        pb = torch.tensor([p[1] for p in pairs])
        images = torch.empty(len(pairs), c.channels, c.image_size, c.image_size, dtype=torch.uint8)
        fxs = []
        with self._inference():
            for s in range(0, len(pairs), batch_size):
                ia, ib = pa[s : s + batch_size], pb[s : s + batch_size]
                a = self.to_input(resize_uint8(faces.images[ia], c.image_size).to(self.device))
                b = self.to_input(resize_uint8(faces.images[ib], c.image_size).to(self.device))
                i = y[ia].to(self.device)
                j = torch.full_like(i, neutral)
                g = forward_g(self.Enc, self.Dec, a, b, i, j, c.num_classes, swap_only=True)
                d = torch.where((i == neutral)[:, None, None, None], b, g["D"])
                images[s : s + len(ia)] = ((d + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).cpu()
                fxs.append(torch.cat((g["z_D"], g["z_B"]), 1).float().cpu())
        fx = torch.cat(fxs)
        labels = y[pa].clone()
        out_dir.mkdir(parents=True, exist_ok=True)
        items = []
        for k in range(len(pairs)):
            name = f"{k:06d}.png"
            save_image(images[k].float() / 255, out_dir / name)
            items.append({"file": name, "label": int(labels[k]), "face": int(pa[k]), "neutral": int(pb[k])})
        np.save(out_dir / "fx.npy", fx.numpy())
        manifest = {"classes": list(self.classes), "source": faces.name, "count": len(items), "seed": seed,
                    "items": items, "complete": True}
        (out_dir / "manifest.json").write_text(json.dumps(manifest))
        return TensorSet(images, labels, torch.full_like(labels, -1), None, str(out_dir)), fx

    def load_synthesised(self, out_dir: Path) -> tuple[TensorSet, Tensor] | None:
        """A complete synthesised set written by :meth:`synthesise`, or ``None`` if there is none."""
        from genfer.data.io import read_image

        man = out_dir / "manifest.json"
        if not man.is_file():
            return None
        m = json.loads(man.read_text())
        if not m.get("complete") or list(m["classes"]) != list(self.classes):
            return None
        images = torch.stack([read_image(out_dir / it["file"], channels=self.cfg.channels) for it in m["items"]])
        labels = torch.tensor([it["label"] for it in m["items"]], dtype=torch.long)
        fx = torch.from_numpy(np.load(out_dir / "fx.npy", allow_pickle=False))
        return TensorSet(images, labels, torch.full_like(labels, -1), None, str(out_dir)), fx


__all__ = ["JESRL", "bce_logits_noisy", "forward_g"]
