"""IFER (Inversion FER) on the genfer engine: the ASIT encoder with feature modulation, fine-tuned whole.

``logits = head(GAP(style_conv(conv(s), mean(codes))))`` (see :mod:`genfer.models.ifer.networks`).
Training batches get timm's recipe on the fly (:mod:`genfer.data.augment_batch`): RandomResizedCrop,
flip, RandAugment (or colour jitter without it), normalisation to [-1, 1], random erasing, and
Mixup/CutMix with label smoothing; the loss is the soft-target cross-entropy. The optimiser
(AdamW, warm-up + cosine), gradient clipping and mixed precision are the engine's.

Deviations from the release: the ``validate.py`` defects are moot (``genfer eval`` loads this
model); timm's warm-up starts from 1e-6 and ends with 10 cool-down epochs, the engine's warm-up
starts from 0 and its cosine ends at ``final_lr_ratio`` at the last step; augmentation runs in
float on the batch (see :mod:`genfer.data.augment_batch`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn

from genfer.core.errors import UsageError
from genfer.core.registry import METHODS
from genfer.data import augment_batch as A
from genfer.data.labels import BASIC7, EXPRESSIONS
from genfer.models.asit.networks import ASITEncoder
from genfer.models.base import LossOut, Method
from genfer.models.ifer.config import IFERConfig
from genfer.models.ifer.networks import modulate
from genfer.models.layers.stylegan2 import ModulatedConv2d


@METHODS.register("ifer")
class IFER(Method):
    """The IFER expression classifier; a ``Classifier``."""

    Config = IFERConfig
    data_kind = "expressions"
    best_metric = "accuracy"
    best_mode = "max"
    classes: tuple[str, ...] = BASIC7

    def __init__(self, cfg: IFERConfig | None = None) -> None:
        cfg = cfg if cfg is not None else IFERConfig()
        super().__init__(cfg)
        self.classes = EXPRESSIONS[: cfg.num_classes] + tuple(f"class_{i}" for i in range(len(EXPRESSIONS),
                                                                                           cfg.num_classes))
        self.encoder = ASITEncoder(**cfg.encoder_kwargs())
        c = cfg.struct_channels
        self.conv = nn.Conv2d(c, c, 1)
        self.style_conv = ModulatedConv2d(c, c, 3, cfg.style_dim, demodulate=True)
        self.head = nn.Linear(c, cfg.num_classes)

    def groups(self) -> dict[str, list[nn.Module]]:
        return {"C": [self.encoder, self.conv, self.style_conv, self.head]}

    def phases(self, step: int) -> list[str]:
        return ["C"]

    def _check(self, x: Tensor) -> None:
        s = self.cfg.image_size
        if x.ndim != 4 or x.shape[-2:] != (s, s):
            raise UsageError(f"IFER takes {s}x{s} faces, got {tuple(x.shape[-2:])}: its GC ViT levels are fixed at "
                             f"image_size/4, /8, /16, /32 ({s // 4}/{s // 8}/{s // 16}/{s // 32}), so inputs are not "
                             "resized", fix=f"resize the faces to {s} (timm's default 224 does not fit)")

    def logits(self, x: Tensor) -> Tensor:
        """Images in [-1, 1] ``[B, 3, R, R]`` -> logits ``[B, num_classes]``."""
        self._check(x)
        codes, s = self.encoder(x)
        return self.head(modulate(self.conv, self.style_conv, codes, s))

    def augment(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """timm's training pipeline on a [0, 1] batch -> normalised, erased, mixed images and soft targets."""
        c = self.cfg
        if c.crop_scale < 1:
            x = A.random_resized_crop(x, scale=(c.crop_scale, 1.0))
        if c.hflip > 0:
            x = A.hflip(x, c.hflip)
        if c.rand_augment:
            x = A.rand_augment(x, n=c.ra_ops, m=c.ra_magnitude, mstd=c.ra_mstd)
        elif c.color_jitter > 0:
            x = A.color_jitter(x, c.color_jitter)
        x = x * 2 - 1
        if c.reprob > 0:
            x = A.random_erasing(x, c.reprob)
        if c.mixup > 0 or c.cutmix > 0:
            switch = c.switch_prob if c.mixup > 0 and c.cutmix > 0 else (1.0 if c.cutmix > 0 else 0.0)
            return A.mixup_cutmix(x, y, c.num_classes, max(c.mixup, 1e-3), max(c.cutmix, 1e-3), switch, c.mix_prob,
                                  c.smoothing)
        return x, A.smooth_one_hot(y, c.num_classes, c.smoothing)

    def training_step(self, batch: dict[str, Tensor], phase: str, cache: dict[str, Any]) -> LossOut:
        y = batch["expression"].to(self.device)
        keep = (y >= 0) & (y < self.cfg.num_classes)
        x = self.to_input(batch["image"][keep]) if batch["image"].dtype == torch.uint8 else batch["image"][keep]
        self._check(x)
        x, t = self.augment(x, y[keep])
        out = self.logits(x)
        loss = A.soft_target_cross_entropy(out, t)
        return LossOut(loss, {"ce": loss.detach(), "acc": (out.argmax(1) == t.argmax(1)).float().mean().detach()})

    def classify(self, x: Tensor) -> Tensor:
        """Faces ``[B, 3, R, R]`` (uint8 or [0, 1]) -> logits ``[B, num_classes]`` (column k = ``classes[k]``)."""
        with self._inference():
            x = x.to(self.device)
            x = self.to_input(x) if x.dtype == torch.uint8 else x.float()
            return self.logits(x * 2 - 1).float()

    @torch.no_grad()
    def evaluate(self, batches: Iterable[dict[str, Tensor]]) -> dict[str, Any]:
        """Top-1 accuracy on ``{"image", "expression"}`` batches (labels outside the classes skipped)."""
        hits = n = 0
        for b in batches:
            y = b["expression"].to(self.device)
            keep = (y >= 0) & (y < self.cfg.num_classes)
            if bool(keep.any()):
                hits += int((self.classify(b["image"][keep.cpu()]).argmax(1) == y[keep]).sum())
                n += int(keep.sum())
        return {"accuracy": hits / max(n, 1)}

    @torch.no_grad()
    def samples(self, batch: dict[str, Tensor]) -> tuple[Tensor, int]:
        """Rows of [face, one augmented view] for up to 8 faces."""
        x = batch["image"][:8]
        unit = (x.float() / 255 if x.dtype == torch.uint8 else x.float()).to(self.device)
        y = batch.get("expression", torch.zeros(len(x), dtype=torch.long))[:8].clamp(0, self.cfg.num_classes - 1)
        aug, _ = self.augment(unit, y.to(self.device))
        return torch.stack((unit.cpu(), ((aug + 1) / 2).clamp(0, 1).cpu()), 1).flatten(0, 1), 2


__all__ = ["IFER"]
