"""A tiny deterministic method for engine tests: linear layers only (no BatchNorm, no dropout).

``body`` (Linear + tanh) and ``head`` (Linear to 7 expressions) are two groups: phase ``head``
trains the head on detached features, phase ``body`` the body through the frozen head. Options
add a frozen pretrained sub-network and two training stages. ``registered()`` adds it to
``METHODS`` as ``toy`` for the duration of a test (torchrun workers call ``register()``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genfer.core.config import MethodConfig
from genfer.core.registry import METHODS
from genfer.models.base import LossOut, Method, Stage, frozen

NAME = "toy"
TINY = [
    "model.image_size=32", "model.channels=1", "data.batch_size=8", "data.max_identities=2",
    "data.synth_identities=4", "data.synth_per_identity=8", "data.synth_test_identities=2",
    "data.synth_test_per_identity=4", "data.augment=false", "train.device=cpu", "train.progress=false",
    "train.tensorboard=false", "train.log_every=1",
]
"""Overrides that make ``make_config("toy", None, TINY)`` train in milliseconds."""


@dataclass
class ToyConfig(MethodConfig):
    """Args: hidden: body width; with_prior: add the frozen ``prior``; warm_steps: > 0 splits training
    into a stage ``warm`` (head only, SGD lr 0.05) of that length and a stage ``main`` (AdamW)."""

    image_size: int = 32
    channels: int = 1
    hidden: int = 8
    with_prior: bool = False
    warm_steps: int = 0


class Toy(Method):
    Config = ToyConfig
    data_kind = "expressions"
    best_metric = "acc"

    def __init__(self, cfg: ToyConfig | None = None) -> None:
        cfg = cfg if cfg is not None else ToyConfig()
        super().__init__(cfg)
        d = cfg.channels * cfg.image_size**2
        self.body = nn.Linear(d, cfg.hidden)
        self.head = nn.Linear(cfg.hidden, 7)
        self.prior = nn.Linear(d, cfg.hidden) if cfg.with_prior else None
        self.before_calls: list[tuple[str, int, bool]] = []

    def groups(self) -> dict[str, list[nn.Module]]:
        return {"body": [self.body], "head": [self.head]}

    def phases(self, step: int) -> list[str]:
        return ["head", "body"]

    def stages(self) -> list[Stage]:
        if not self.cfg.warm_steps:
            return super().stages()

        def before(method: Toy, ctx: Any) -> None:
            method.before_calls.append((ctx.stage.name, ctx.step, ctx.resumed))
            torch.rand(3)  # consumes the (forked) RNG: must not shift training

        return [Stage("warm", self.cfg.warm_steps, groups=["head"], optimizer="sgd", lr=0.05),
                Stage("main", 0, optimizer="adamw", before=before)]

    def frozen_modules(self) -> dict[str, nn.Module]:
        return {"prior": self.prior} if self.prior is not None else {}

    @torch.no_grad()
    def load_pretrained(self) -> None:
        if self.prior is not None:  # "its own weight file": a fixed, seeded draw
            g = torch.Generator().manual_seed(123)
            self.prior.weight.copy_(torch.randn(self.prior.weight.shape, generator=g) * 0.1)
            self.prior.bias.zero_()

    def ema_modules(self) -> list[str]:
        return ["body", "head"]

    def features(self, x: Tensor) -> Tensor:
        x = x.flatten(1)
        h = self.body(x)
        if self.prior is not None:
            h = h + self.prior(x)
        return torch.tanh(h)

    def training_step(self, batch: dict[str, Tensor], phase: str, cache: dict[str, Any]) -> LossOut:
        h = self.features(batch["image"])
        if phase == "head":
            logits = self.head(h.detach())
        else:
            with frozen(self.head):
                logits = self.head(h)
        loss = F.cross_entropy(logits, batch["expression"])
        return LossOut(loss, {"ce": loss.detach()})

    @torch.no_grad()
    def evaluate(self, batches: Iterable[dict[str, Tensor]]) -> dict[str, Any]:
        hits = n = 0
        for b in batches:
            hits += int((self.head(self.features(b["image"])).argmax(1) == b["expression"]).sum())
            n += b["image"].shape[0]
        return {"acc": hits / max(n, 1)}

    @torch.no_grad()
    def samples(self, batch: dict[str, Tensor]) -> tuple[Tensor, int]:
        return batch["image"][:4].clamp(0, 1), 2


def register() -> None:
    if NAME not in METHODS:
        METHODS.add(NAME, Toy)


@contextmanager
def registered() -> Iterator[type[Toy]]:
    """``toy`` in ``METHODS`` while inside (the registry has no public removal)."""
    register()
    try:
        yield Toy
    finally:
        METHODS._entries.pop(NAME, None)
