"""``model.init_from``: start a run from some of another run's (or a converted file's) weights.

Unlike resuming, a partial load takes whatever fits: keys outside ``init_keys`` globs, keys the
method does not have and keys whose shapes differ are skipped, and every key of the method that
received nothing is reported as missed. The report is returned, logged and written to the run
directory (``init_from.json``), so a silent mismatch cannot pass unnoticed.
"""

from __future__ import annotations

import fnmatch
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from torch import nn

from genfer.engine import checkpoint as ck


@dataclass
class LoadReport:
    """Keys ``loaded``; ``skipped`` with the reason (filtered, not in the method, shape);
    ``missed``: the method's keys that got nothing (frozen sub-networks not counted)."""

    source: str
    loaded: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    missed: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"init_from {self.source}: {len(self.loaded)} keys loaded, {len(self.skipped)} skipped, "
                f"{len(self.missed)} missed")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def weights_file(source: str | Path) -> Path:
    """The ``.safetensors`` file ``source`` names: itself, or a checkpoint's or run's model file."""
    p = Path(source)
    if p.suffix == ".safetensors":
        if not p.is_file():
            raise ck.CheckpointError(f"{p}: no such weights file")
        return p
    return ck.resolve_checkpoint(p) / ck.MODEL_FILE


@torch.no_grad()
def load_partial(method: nn.Module, source: str | Path, keys: list[str] | tuple[str, ...] = ()) -> LoadReport:
    """Copy the tensors of ``source`` that fit into ``method``.

    Args:
        method: the module to load into (a ``Method``; its ``frozen_keys()`` are never missed).
        source: a run directory, a checkpoint directory or a ``.safetensors`` file.
        keys: glob patterns of the source keys to consider (empty = all).
    """
    path = weights_file(source)
    tensors = load_file(str(path))
    own = method.state_dict()
    report = LoadReport(str(path))
    for k, t in tensors.items():
        if keys and not any(fnmatch.fnmatchcase(k, pat) for pat in keys):
            report.skipped[k] = "filtered"
        elif k not in own:
            report.skipped[k] = "not in the method"
        elif own[k].shape != t.shape:
            report.skipped[k] = f"shape {list(t.shape)} != {list(own[k].shape)}"
        else:
            own[k].copy_(t)
            report.loaded.append(k)
    frozen = method.frozen_keys() if hasattr(method, "frozen_keys") else set()
    done = set(report.loaded)
    report.missed = [k for k in own if k not in done and k not in frozen]
    return report


__all__ = ["LoadReport", "load_partial", "weights_file"]
