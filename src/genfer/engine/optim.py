"""Optimizers by name: ``OPTIMIZERS`` maps a name to a factory ``(params, lr, optim_cfg) -> Optimizer``.

Adam (the papers'), AdamW and SGD are built in; another optimizer (Ranger, Lion...) registers a
factory under its own name and becomes usable as ``optim.optimizer`` or in a method's ``Stage``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import torch
from torch import nn

from genfer.core.config import OptimConfig
from genfer.core.registry import Registry

OPTIMIZERS: Registry = Registry("optimizer")


@OPTIMIZERS.register("adam")
def adam(params: Iterable[nn.Parameter], lr: float, o: OptimConfig) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=lr, betas=o.betas, weight_decay=o.weight_decay)


@OPTIMIZERS.register("adamw")
def adamw(params: Iterable[nn.Parameter], lr: float, o: OptimConfig) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=lr, betas=o.betas, weight_decay=o.weight_decay)


@OPTIMIZERS.register("sgd")
def sgd(params: Iterable[nn.Parameter], lr: float, o: OptimConfig) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=lr, momentum=o.momentum, nesterov=o.nesterov, weight_decay=o.weight_decay)


def lazy_corrected(o: OptimConfig, c: float) -> OptimConfig:
    """``o`` with Adam's betas raised to the power ``c`` (lazy regularisation, Karras et al. 2020,
    appendix B: with a regulariser every N steps, c = N / (N + 1); the trainer scales the rate by c)."""
    return dataclasses.replace(o, betas=(o.betas[0] ** c, o.betas[1] ** c))


def build_optimizer(
    name: str, params: Iterable[nn.Parameter], lr: float, o: OptimConfig
) -> torch.optim.Optimizer:
    """The optimizer registered as ``name`` over ``params`` at learning rate ``lr``."""
    return OPTIMIZERS.get(name)(list(params), lr, o)


__all__ = ["OPTIMIZERS", "build_optimizer", "lazy_corrected"]
