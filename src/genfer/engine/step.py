"""One training iteration: the phases of a step, each a forward, a backward and an optimizer step.

``run_iteration`` is the only iteration body in genfer: the trainer, the tests and the speed
benchmarks all call it. For each phase ``method.phases(step)`` lists (and the given optimizers
cover) it

1. calls ``training_step`` under the precision's autocast, once per micro-batch
   (``accumulate``), each micro-batch with its own iteration cache;
2. skips the phase when a loss is not finite on any rank (the group keeps its weights and
   optimizer moments);
3. clears the group's gradients, backpropagates each micro-batch's loss weighted by its share
   of the batch (through the fp16 scaler if any), averages the group's gradients across ranks
   with one flattened all-reduce (after accumulation, so once per phase), unscales and clips
   them (``clip``), and steps the group's optimizer.

A phase named ``GROUP:part`` (``D:r1``) steps ``GROUP``'s optimizer under its own loss: a
regulariser that runs every few iterations as a separate update (StyleGAN2's lazy R1 and
path-length penalty).

Gradient penalties need the gradient of a critic with respect to its input *inside* the
forward pass; they compute it with autocast off (``genfer.losses.adversarial``), and the scaler
only ever scales the final loss, so they are unaffected by either.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from genfer.engine import distributed as D
from genfer.engine.precision import autocast
from genfer.models.base import phase_group


@dataclass
class IterationResult:
    """What one iteration did: phases skipped for a non-finite loss, and the detached loss terms
    of the phases that ran (``"<phase>/loss"``, ``"<phase>/<term>"``; ``"<phase>/grad_norm"``
    before clipping when ``clip`` > 0), averaged over micro-batches."""

    skipped: list[str] = field(default_factory=list)
    terms: dict[str, Tensor] = field(default_factory=dict)


def split_batch(batch: dict[str, Tensor], parts: int) -> list[dict[str, Tensor]]:
    """``parts`` equal micro-batches of a batch whose tensors all have the batch size as dim 0."""
    if parts == 1:
        return [batch]
    sizes = {v.shape[0] for v in batch.values()}
    if len(sizes) != 1 or next(iter(sizes)) % parts:
        raise ValueError(f"train.accumulate={parts} must divide the per-rank batch size (got sizes {sizes})")
    chunks = {k: v.chunk(parts) for k, v in batch.items()}
    return [{k: c[i] for k, c in chunks.items()} for i in range(parts)]


def run_iteration(
    method: nn.Module,
    batch: dict[str, Tensor],
    optimizers: dict[str, torch.optim.Optimizer],
    groups: dict[str, list[nn.Parameter]],
    step: int,
    *,
    precision: str = "fp32",
    scaler: torch.amp.GradScaler | None = None,
    accumulate: int = 1,
    clip: float = 0.0,
) -> IterationResult:
    """Run the phases of iteration ``step`` on ``batch`` and step their optimizers.

    Args:
        method: a ``genfer.models.base.Method`` in training mode.
        batch: this rank's batch, already on the method's device (``method.prepare`` applied or
            not, as the method accepts).
        optimizers: one optimizer per group the current stage trains; phases of other groups
            are not run.
        groups: the parameters of each group (what is cleared, reduced, clipped).
        step: the global iteration index (0-based); starts each cache as ``{"step": step}``.
        precision: a resolved precision, ``fp32``, ``bf16`` or ``fp16``.
        scaler: the fp16 gradient scaler (``genfer.engine.precision.make_scaler``), else ``None``.
        accumulate: micro-batches the batch is split into.
        clip: maximum gradient norm of a phase's group (0 = no clipping).
    """
    device = _device(method)
    micro = split_batch(batch, accumulate)
    weights = [next(iter(m.values())).shape[0] / next(iter(batch.values())).shape[0] for m in micro]
    caches: list[dict[str, Any]] = [{"step": step} for _ in micro]
    res = IterationResult()
    stepped = False
    for phase in method.phases(step):
        group = phase_group(phase)
        if group not in optimizers:
            continue
        params = groups[group]
        for p in params:
            p.grad = None
        finite = True
        sums: dict[str, Tensor] = {}
        for mb, cache, w in zip(micro, caches, weights):
            with autocast(precision, device):
                out = method.training_step(mb, phase, cache)
            if not bool(torch.isfinite(out.loss).item()):
                finite = False
                break
            loss = out.loss * w if accumulate > 1 else out.loss
            (scaler.scale(loss) if scaler is not None else loss).backward()
            for k, v in {"loss": out.loss, **out.terms}.items():
                v = _wide(v.detach()) * w if accumulate > 1 else _wide(v.detach())
                sums[k] = sums[k] + v if k in sums else v
        if not D.all_true(finite, device):
            res.skipped.append(phase)  # no update: the group keeps its weights and moments
            for p in params:
                p.grad = None
            continue
        D.average_gradients(params)
        opt = optimizers[group]
        if scaler is not None:
            scaler.unscale_(opt)
        if clip > 0:
            sums["grad_norm"] = torch.nn.utils.clip_grad_norm_(params, clip).detach()
        if scaler is not None:
            scaler.step(opt)
            stepped = True
        else:
            opt.step()
        res.terms |= {f"{phase}/{k}": v for k, v in sums.items()}
    if stepped:
        scaler.update()
    return res


def _wide(t: Tensor) -> Tensor:
    return t.float() if t.dtype in (torch.bfloat16, torch.float16) else t


def _device(method: nn.Module) -> torch.device:
    for p in method.parameters():
        return p.device
    return torch.device("cpu")


__all__ = ["IterationResult", "run_iteration", "split_batch"]
