"""Learning-rate multipliers as a pure function of the iteration, so a resumed run needs no state."""

from __future__ import annotations

import math

SCHEDULES = ("constant", "cosine", "linear")
STEPLR = "steplr"
"""torch's StepLR: times ``gamma`` every ``step_size`` iterations (no final value, so not in ``SCHEDULES``)."""


def lr_factor(schedule: str, step: int, total: int, warmup: int = 0, final: float = 0.0,
              step_size: int = 0, gamma: float = 1.0) -> float:
    """Multiplier of every group's base learning rate at iteration ``step`` (0-based) of ``total``.

    Linear warm-up from ``1 / (warmup + 1)`` over ``warmup`` iterations, then ``constant`` stays at
    1 while ``cosine`` and ``linear`` decay to ``final`` at the last iteration, and ``steplr``
    multiplies by ``gamma`` every ``step_size`` iterations (torch's StepLR).
    """
    if schedule not in SCHEDULES and schedule != STEPLR:
        raise ValueError(f"optim.schedule must be one of {', '.join(SCHEDULES)}; got {schedule!r}")
    if step < warmup:
        return (step + 1) / (warmup + 1)
    if schedule == "constant":
        return 1.0
    if schedule == STEPLR:
        if step_size <= 0:
            raise ValueError(f"the steplr schedule needs optim.step_size > 0; got {step_size}")
        return gamma ** ((step - warmup) // step_size)
    span = max(total - 1 - warmup, 1)
    t = min(max(step - warmup, 0) / span, 1.0)
    shape = 0.5 * (1 + math.cos(math.pi * t)) if schedule == "cosine" else 1 - t
    return final + (1 - final) * shape
