"""A method's training stages laid out on the run's steps.

Stage ``i`` covers steps ``[start, end)``; the step alone determines the stage, so a run resumes
in whichever stage its checkpoint's step falls. The last stage runs to the end of the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from genfer.engine.ema import EMA
from genfer.engine.optim import OPTIMIZERS
from genfer.engine.schedule import SCHEDULES, STEPLR
from genfer.models.base import Stage


@dataclass(frozen=True)
class Span:
    """Where a stage runs: its position ``index`` and the steps ``[start, end)``."""

    index: int
    stage: Stage
    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start


@dataclass
class StageContext:
    """What a stage's ``before(method, ctx)`` hook sees; it may replace ``batches``."""

    cfg: Any
    device: torch.device
    run_dir: Path
    step: int
    stage: Stage
    batches: Any
    resumed: bool
    ema: EMA | None = None
    """The run's average of ``Method.ema_modules()`` (``None`` without ``train.ema``)."""


def plan_stages(stages: list[Stage], groups: list[str], total: int, optimizer: str, schedule: str) -> list[Span]:
    """Check ``stages`` against the method's ``groups`` and lay them out over ``total`` steps."""
    if not stages:
        raise ValueError("a method needs at least one training stage")
    names = [s.name for s in stages]
    if len(set(names)) != len(names):
        raise ValueError(f"stage names must be unique; got {names}")
    spans, start = [], 0
    for i, s in enumerate(stages):
        last = i == len(stages) - 1
        if s.steps < 0 or (s.steps == 0 and not last):
            raise ValueError(f"stage {s.name!r}: steps must be > 0 (0 = to the end, last stage only)")
        unknown = set(s.groups or ()) - set(groups)
        if unknown or s.groups == []:
            raise ValueError(f"stage {s.name!r}: unknown or no groups {sorted(unknown)}; known: {', '.join(groups)}")
        OPTIMIZERS.get(s.optimizer or optimizer)  # a misspelt optimizer fails before any work
        if (s.schedule or schedule) not in (*SCHEDULES, STEPLR):
            raise ValueError(f"stage {s.name!r}: schedule must be one of {', '.join((*SCHEDULES, STEPLR))}")
        end = max(total, start) if last else start + s.steps
        spans.append(Span(i, s, start, end))
        start = end
    return spans


def span_at(spans: list[Span], step: int) -> Span:
    """The stage that runs iteration ``step`` (the last one past the end)."""
    for sp in spans:
        if step < sp.end:
            return sp
    return spans[-1]


__all__ = ["Span", "StageContext", "plan_stages", "span_at"]
