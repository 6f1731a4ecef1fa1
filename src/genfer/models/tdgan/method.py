"""TDGAN: Two-branch Disentangled Generative Adversarial Network for facial expression recognition.

Paper: S. Xie, H. Hu, Y. Chen, "Facial Expression Recognition with Two-branch Disentangled
Generative Adversarial Network", IEEE TCSVT 2020. Released code: github.com/XsLangley/TDGAN.

A generator with a face branch E_f and an expression branch E_e decodes x_hat = G(x_f, x_e): the
identity of the face image x_f wearing the expression of the expression image x_e. A face
discriminator D_FR (identities + "fake") and an expression discriminator D_ER judge x_hat, and a
dual self-supervised consistency loss asks G(x_hat, x_f) to give back x_f and G(x_e, x_hat) to give
back x_e. The expression branch plus its FC head (M_ER) is the expression classifier.

One iteration, as released (see ``phases``): M_ER; D_FR every ``d_fr_every`` iterations; D_ER every
``d_er_every``; G. Each loss term, weight and value is the released code's, including two
ordering subtleties it has: the G losses see the discriminators *after* their update in the same
iteration, while the face-perceptual target E_DFR(x_f) is the D_FR trunk's output *before* that
update (the release computes it once, at the start of the iteration).

Deliberate deviations from the released code:

- Expression labels are genfer's canonical 0..6 (neutral, happiness, sadness, surprise, fear,
  disgust, anger). The release used RAF-DB's own order (surprise, fear, disgust, happiness,
  sadness, anger, neutral); genfer's RAF-DB reader maps RAF labels to the canonical ones.
- Features are passed explicitly; the release had the decoder read its inputs from attributes the
  encoders set on themselves (and ``gen_img_withfea`` referred to a nonexistent ``self.FR``).
- The D update schedule counts the engine's global iteration; the release counted the step
  within the epoch, so it also updated both discriminators at the first step of every epoch.
- The work is organised differently without changing any loss value (a test checks this against
  a re-implementation of the released compute pattern, ``benchmarks/reference_tdgan.py``):
  M_ER's head is trained on detached E_e features (the release backpropagated into E_e and then
  discarded that gradient); real images pass through a discriminator only when that
  discriminator is updated, and D_FR(x_f) is otherwise computed without a graph, trunk only, as
  the perceptual target; D_FR sees its real and fake batches in one pass; the discriminators'
  parameters are frozen during the G phase so no weight gradient is computed for them; the two
  consistency generations run as one batched pass; M_ER's head is not evaluated on the
  consistency passes (the release computed and discarded it). Dropout masks are therefore
  drawn in a different order than in the release, so a run is not bit-identical to a released
  run with the same seed.
- The expression-perceptual term (weight 0 by default) gets a gradient through E_e(x_hat); the
  release computed it on detached features, so any non-zero weight had no effect. ``faithful``
  restores the gradient-free version.
- Instance norm is computed as a one-channel-per-group group norm and convolutions run on
  channels-last activations (``channels_last``): the same functions, different float rounding.
- ``lambda_g_cls`` (0 by default, i.e. as released) optionally adds M_ER's cross-entropy to the G
  loss so the expression label also trains E_e directly; the CPU demo uses it.
- ``er_warmup_steps`` (0 by default, i.e. as released) optionally starts training with iterations
  in which only the expression branch (E_e + M_ER's head) learns, supervised by the labels, with
  no generation; the CPU demo uses it.
- ``d_er_shift`` (0 by default, i.e. as released) optionally shows D_ER randomly translated images,
  in its own update and in G's adversarial term alike (see ``d_er_view``).
- Evaluation reports accuracies only; the release's validation cross-entropy divided by the
  last batch index (off by one).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genfer.core.registry import METHODS
from genfer.data.labels import BASIC7, EXPRESSIONS
from genfer.models.base import LossOut, Method, frozen
from genfer.models.layers.shift import random_shift
from genfer.models.tdgan.config import TDGANConfig
from genfer.models.tdgan.networks import ClassifierHead, Decoder, Discriminator, Encoder

_LUMA = (0.299, 0.587, 0.114)


@METHODS.register("tdgan")
class TDGAN(Method):
    """TDGAN's six networks, its four-phase update and its inference entry points.

    Networks: ``enc_FR`` (E_f), ``enc_ER`` (E_e), ``fc_ER`` (M_ER's head), ``dec`` (decoder),
    ``dis_FR`` (D_FR), ``dis_ER`` (D_ER). Training batches (``data_kind = "pairs"``) hold
    ``x_f`` [B, C, H, W], ``id_f`` [B] in 0..num_identities-1, ``x_e`` [B, C, H, W] and ``y_e`` [B]
    canonical expressions 0..6; images are uint8 or float in [0, 1].

    Args:
        cfg: hyper-parameters; ``None`` gives the released defaults.
    """

    Config = TDGANConfig
    data_kind = "pairs"
    best_metric = "acc_M_ER"
    best_mode = "max"
    classes: tuple[str, ...] = BASIC7
    """Name of each column of ``classify``'s logits: canonical expressions 0..num_classes-1."""

    def __init__(self, cfg: TDGANConfig | None = None) -> None:
        cfg = cfg if cfg is not None else TDGANConfig()
        super().__init__(cfg)
        self.classes = EXPRESSIONS[: cfg.num_classes] + tuple(
            f"class_{i}" for i in range(len(EXPRESSIONS), cfg.num_classes)
        )
        feat = cfg.enc_widths[3]
        flat = feat * cfg.feature_size**2

        def encoder() -> Encoder:
            return Encoder(cfg.channels, cfg.enc_widths, cfg.inception_width, cfg.n_inception)

        def head(n: int) -> ClassifierHead:
            return ClassifierHead(flat, n, cfg.fc_width, cfg.dropout)

        self.enc_FR = encoder()
        self.enc_ER = encoder()
        self.fc_ER = head(cfg.num_classes)
        self.dec = Decoder(
            feat, cfg.noise_dim, cfg.channels, cfg.dec_width, cfg.n_res_blocks, cfg.dec_up_widths
        )
        self.dis_FR = Discriminator(encoder(), head(cfg.num_identities + 1))
        self.dis_ER = Discriminator(encoder(), head(cfg.num_classes))

    # --- engine contract -------------------------------------------------------------------
    def groups(self) -> dict[str, list[nn.Module]]:
        """The released optimizer split: M_ER's head, each discriminator, and E_f + E_e + decoder."""
        return {
            "M_ER": [self.fc_ER],
            "D_FR": [self.dis_FR],
            "D_ER": [self.dis_ER],
            "G": [self.enc_FR, self.enc_ER, self.dec],
        }

    def ema_modules(self) -> list[str]:
        """The networks inference uses: the generator (E_f, E_e, decoder) and M_ER's head."""
        return ["enc_FR", "enc_ER", "fc_ER", "dec"]

    def phases(self, step: int) -> list[str]:
        """M_ER, then D_FR if ``step % d_fr_every == 0``, then D_ER if ``step % d_er_every == 0``, then G.

        During the expression warm-up (``step < er_warmup_steps``) only M_ER and G, which then train
        the expression branch alone.
        """
        if step < self.cfg.er_warmup_steps:
            return ["M_ER", "G"]
        out = ["M_ER"]
        if step % self.cfg.d_fr_every == 0:
            out.append("D_FR")
        if step % self.cfg.d_er_every == 0:
            out.append("D_ER")
        out.append("G")
        return out

    def prepare(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """uint8 images -> float [0, 1] in the model's channels and memory format; labels unchanged."""
        out = dict(batch)
        for key in ("x_f", "x_e", "image"):
            if key in out:
                out[key] = self.to_input(out[key])
        return out

    def training_step(self, batch: dict[str, Tensor], phase: str, cache: dict[str, Any]) -> LossOut:
        """Loss of one phase; ``cache`` shares x_hat and features between the phases of an iteration."""
        batch = self.prepare(batch)
        if phase == "M_ER":
            return self._step_m_er(batch, cache)
        if phase == "D_FR":
            return self._step_d_fr(batch, cache)
        if phase == "D_ER":
            return self._step_d_er(batch)
        if phase == "G":
            return self._step_g(batch, cache)
        raise KeyError(f"tdgan has no phase {phase!r}; known: M_ER, D_FR, D_ER, G")

    # --- phases ------------------------------------------------------------------------------
    def _generate(self, batch: dict[str, Tensor], cache: dict[str, Any]) -> Tensor:
        """x_hat = G(x_f, x_e), computed once per iteration with its graph."""
        if "x_hat" not in cache:
            f_er = self.enc_ER(batch["x_e"])
            f_fr = self.enc_FR(batch["x_f"])
            x_hat = self.dec(f_er, f_fr, self.noise(f_er.shape[0], f_er.device))
            cache["x_hat"] = self._layout(x_hat)  # 1-channel output: restate the layout
            cache["f_er"] = f_er.detach()  # M_ER's input and the expression-perceptual target
            cache["f_er_graph"] = f_er  # E_e(x_e) with its graph, for the optional lambda_g_cls term
        return cache["x_hat"]

    def _warming_up(self, cache: dict[str, Any]) -> bool:
        return cache.get("step", self.cfg.er_warmup_steps) < self.cfg.er_warmup_steps

    def _step_m_er(self, batch: dict[str, Tensor], cache: dict[str, Any]) -> LossOut:
        if self._warming_up(cache):
            f_er = self.enc_ER(batch["x_e"])  # the expression branch alone, no generation
            cache.update(f_er=f_er.detach(), f_er_graph=f_er)
        else:
            self._generate(batch, cache)
        loss = F.cross_entropy(self.fc_ER(cache["f_er"]), batch["y_e"])
        return LossOut(loss, {"m_er_ce": loss.detach()})

    def _step_d_fr(self, batch: dict[str, Tensor], cache: dict[str, Any]) -> LossOut:
        cfg = self.cfg
        x_f, id_f = batch["x_f"], batch["id_f"]
        b = x_f.shape[0]
        x_hat = self._generate(batch, cache).detach()
        f = self.dis_FR.trunk(self._layout(torch.cat((x_f, x_hat))))
        logits = self.dis_FR.head(f)
        cache["per_face_target"] = f[:b].detach()  # E_DFR(x_f) before this update, as released
        fake = torch.full_like(id_f, cfg.num_identities)
        real_ce = F.cross_entropy(logits[:b], id_f)
        fake_ce = F.cross_entropy(logits[b:], fake)
        loss = cfg.lambda_d_face_real * real_ce + cfg.lambda_d_face_fake * fake_ce
        return LossOut(loss, {"d_face_real": real_ce.detach(), "d_face_fake": fake_ce.detach()})

    def _step_d_er(self, batch: dict[str, Tensor]) -> LossOut:
        real_ce = F.cross_entropy(self.dis_ER(self.d_er_view(batch["x_e"]))[1], batch["y_e"])
        return LossOut(self.cfg.lambda_d_expr_real * real_ce, {"d_expr_real": real_ce.detach()})

    def d_er_view(self, x: Tensor) -> Tensor:
        """What D_ER sees of images [B, C, H, W] in training: each shifted by up to ``d_er_shift`` of
        the side (whole pixels, edges repeated), differentiably; ``x`` itself when the option is off."""
        if self.cfg.d_er_shift == 0:
            return x
        return self._layout(random_shift(x, self.cfg.d_er_shift))

    def _step_g(self, batch: dict[str, Tensor], cache: dict[str, Any]) -> LossOut:
        cfg = self.cfg
        if self._warming_up(cache):
            return self._step_g_warmup(batch, cache)
        x_f, x_e = batch["x_f"], batch["x_e"]
        b = x_f.shape[0]
        x_hat = self._generate(batch, cache)
        with frozen(self.dis_FR, self.dis_ER):
            target = cache.get("per_face_target")
            if target is None:
                with torch.no_grad():
                    target = self.dis_FR.trunk(x_f)
            f_fake = self.dis_FR.trunk(x_hat)
            adv_face = F.cross_entropy(self.dis_FR.head(f_fake), batch["id_f"])
            adv_expr = F.cross_entropy(self.dis_ER(self.d_er_view(x_hat))[1], batch["y_e"])
            per_face = F.mse_loss(f_fake, target)
        # Dual consistency, both halves in one pass: G(x_hat, x_f) -> x_f and G(x_e, x_hat) -> x_e.
        f_fr = self.enc_FR(self._layout(torch.cat((x_hat, x_e))))
        f_er = self.enc_ER(self._layout(torch.cat((x_f, x_hat))))
        noise = self.noise(b, x_f.device)
        if noise is not None:
            noise = torch.cat((noise, self.noise(b, x_f.device)))  # two draws, as the release
        rec = self.dec(f_er, f_fr, noise)
        dic_face = F.l1_loss(rec[:b], x_f)
        dic_expr = F.l1_loss(rec[b:], x_e)
        f_er_hat = f_er[b:]
        if cfg.faithful or cfg.lambda_per_expr == 0:
            f_er_hat = f_er_hat.detach()
        per_expr = F.mse_loss(f_er_hat, cache["f_er"])
        if cfg.lambda_g_cls:
            # genfer option (not in the release): M_ER's CE also trains E_e through G's optimizer
            with frozen(self.fc_ER):
                cls = F.cross_entropy(self.fc_ER(cache["f_er_graph"]), batch["y_e"])
        else:
            cls = x_hat.new_zeros(())
        loss = (
            cfg.lambda_g_face * adv_face
            + cfg.lambda_g_expr * adv_expr
            + cfg.lambda_per_face * per_face
            + cfg.lambda_per_expr * per_expr
            + cfg.lambda_dic_face * dic_face
            + cfg.lambda_dic_expr * dic_expr
            + cfg.lambda_g_cls * cls
        )
        terms = {
            "g_adv_face": adv_face,
            "g_adv_expr": adv_expr,
            "g_per_face": per_face,
            "g_per_expr": per_expr,
            "g_dic_face": dic_face,
            "g_dic_expr": dic_expr,
            "g_cls": cls,
        }
        return LossOut(loss, {k: v.detach() for k, v in terms.items()})

    def _step_g_warmup(self, batch: dict[str, Tensor], cache: dict[str, Any]) -> LossOut:
        """The expression warm-up's G phase: CE(M_ER(E_e(x_e)), y_e) into E_e, the head frozen."""
        with frozen(self.fc_ER):
            cls = F.cross_entropy(self.fc_ER(cache["f_er_graph"]), batch["y_e"])
        return LossOut(cls, {"g_cls": cls.detach()})

    # --- inference ---------------------------------------------------------------------------
    def noise(self, n: int, device: torch.device | str | None = None,
              generator: torch.Generator | None = None) -> Tensor | None:
        """Decoder noise U[0, 1) of shape [n, noise_dim, h, w] (h = w = image_size / 16), or ``None``.

        A (CPU) ``generator`` draws from its own stream instead of the global one.
        """
        if self.cfg.noise_dim == 0:
            return None
        s = self.cfg.feature_size
        if generator is None:
            return self._layout(torch.rand(n, self.cfg.noise_dim, s, s, device=device))
        return self._layout(torch.rand(n, self.cfg.noise_dim, s, s, generator=generator).to(device))

    def _layout(self, x: Tensor) -> Tensor:
        # .to() rather than .contiguous(): a 1-channel NCHW tensor already counts as channels-last
        # contiguous, and only explicit channels-last strides make the convolutions pick that layout
        return x.to(memory_format=torch.channels_last) if self.cfg.channels_last else x.contiguous()

    def to_input(self, x: Tensor) -> Tensor:
        """Images (uint8 0..255 or float [0, 1]) [B, C, H, W] -> model input float [0, 1].

        Grey <-> RGB is converted when ``C`` differs from the configured channels (ITU-R 601 luma).
        """
        if x.dtype == torch.uint8:
            x = x.float() / 255.0
        elif not x.is_floating_point():
            raise TypeError(f"tdgan: images must be uint8 or float, got {x.dtype}")
        x = x.to(self.device)
        c = self.cfg.channels
        if x.shape[1] != c:
            if x.shape[1] == 3 and c == 1:
                w = torch.tensor(_LUMA, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
                x = (x * w).sum(1, keepdim=True)
            elif x.shape[1] == 1:
                x = x.expand(-1, c, -1, -1)
            else:
                raise ValueError(f"tdgan: expected {c}-channel images, got {x.shape[1]}")
        return self._layout(x)

    def classify(self, x: Tensor) -> Tensor:
        """M_ER logits (E_e + FC head, eval mode): images [B, C, H, W] -> [B, num_classes].

        Column k is ``self.classes[k]``, genfer's canonical expression k.
        """
        with self._inference():
            return self.fc_ER(self.enc_ER(self.to_input(x))).float()

    def classify_d_er(self, x: Tensor) -> Tensor:
        """D_ER logits (the paper's "CNN-Base" classifier): images [B, C, H, W] -> [B, num_classes]."""
        with self._inference():
            return self.dis_ER(self.to_input(x))[1].float()

    def transfer(self, x_f: Tensor, x_e: Tensor, noise: Tensor | None = None) -> Tensor:
        """The expression of ``x_e`` on the face of ``x_f``.

        Args:
            x_f: face images [B, C, H, W] (float [0, 1] or uint8).
            x_e: expression images [B, C, H, W].
            noise: decoder noise [B, noise_dim, H/16, W/16]; drawn U[0, 1) when ``None``.

        Returns:
            x_hat [B, C, H, W] float in [0, 1].
        """
        with self._inference():
            f_er = self.enc_ER(self.to_input(x_e))
            f_fr = self.enc_FR(self.to_input(x_f))
            if noise is None:
                noise = self.noise(f_er.shape[0], f_er.device)
            return self.dec(f_er, f_fr, noise).contiguous()  # plain NCHW for callers

    def reconstruct(self, x: Tensor) -> Tensor:
        """G(x, x): each face wearing its own expression, [B, C, H, W] -> float [B, C, H, W] in [0, 1]."""
        return self.transfer(x, x)

    def evaluate(self, batches: Iterable[dict[str, Tensor]]) -> dict[str, Any]:
        """Top-1 accuracy of M_ER and of D_ER on ``{"image", "expression"}`` batches, and on transfers.

        ``transfer_acc_*``: each image's expression drawn on the face of the batch's previous image,
        x_hat = G(roll(x), x), classified by M_ER and by D_ER against the image's label. G is trained
        to make D_ER say the label, M_ER never sees a generated image: ``transfer_acc_D_ER`` far above
        ``transfer_acc_M_ER`` means G draws cues only D_ER reads (it is fooling D_ER). The decoder's
        noise comes from a fixed generator, so evaluating never moves the training RNG.
        Items labelled outside 0..num_classes-1 (unknown, contempt) are skipped.
        """
        hits = dict.fromkeys(("acc_M_ER", "acc_D_ER", "transfer_acc_M_ER", "transfer_acc_D_ER"), 0)
        n = 0
        rng = torch.Generator().manual_seed(0)
        with self._inference():
            for batch in batches:
                y = batch["expression"].to(self.device)
                keep = (y >= 0) & (y < self.cfg.num_classes)
                if not bool(keep.any()):
                    continue
                x = self.to_input(batch["image"].to(self.device)[keep])
                y = y[keep]
                f_er = self.enc_ER(x)
                noise = self.noise(len(y), self.device, generator=rng)
                x_hat = self._layout(self.dec(f_er, self.enc_FR(torch.roll(x, 1, 0)), noise))
                hits["acc_M_ER"] += int((self.fc_ER(f_er).argmax(1) == y).sum())
                hits["acc_D_ER"] += int((self.dis_ER(x)[1].argmax(1) == y).sum())
                hits["transfer_acc_M_ER"] += int((self.fc_ER(self.enc_ER(x_hat)).argmax(1) == y).sum())
                hits["transfer_acc_D_ER"] += int((self.dis_ER(x_hat)[1].argmax(1) == y).sum())
                n += int(y.numel())
        return {k: v / max(n, 1) for k, v in hits.items()}

    def samples(self, batch: dict[str, Tensor]) -> tuple[Tensor, int]:
        """Rows of [x_f, x_e, x_hat = G(x_f, x_e), G(x_hat, x_f), G(x_e, x_hat)] for up to 8 pairs.

        A training batch gives its pairs; an evaluation batch (``image`` only) pairs image i with
        image i + 1 as face and expression.

        Returns:
            (grid [5N, C, H, W] in [0, 1], 5).
        """
        if "x_f" in batch:
            x_f, x_e = batch["x_f"][:8], batch["x_e"][:8]
        else:
            x_f = batch["image"][:8]
            x_e = torch.roll(x_f, -1, 0)
        x_f, x_e = self.to_input(x_f), self.to_input(x_e)
        x_hat = self.transfer(x_f, x_e)
        rec_face = self.transfer(x_hat, x_f)
        rec_expr = self.transfer(x_e, x_hat)
        grid = torch.stack((x_f, x_e, x_hat, rec_face, rec_expr), 1)  # [N, 5, C, H, W]
        return grid.flatten(0, 1).contiguous().clamp(0, 1), 5
