"""Run logs: one JSON object per line in ``log.jsonl``, mirrored to TensorBoard when installed."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any


class RunLogger:
    """Append-only metrics log of a run; a no-op on ranks other than 0.

    Args:
        run_dir: the run directory (``log.jsonl`` and ``tb/`` go there).
        enabled: write at all (False on non-zero ranks).
        tensorboard: also write TensorBoard event files if the package can be imported.
    """

    def __init__(self, run_dir: Path, enabled: bool = True, tensorboard: bool = True) -> None:
        self.enabled = enabled
        self._jsonl = None
        self._tb = None
        if not enabled:
            return
        self._jsonl = open(run_dir / "log.jsonl", "a", encoding="utf-8")  # noqa: SIM115
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(run_dir / "tb"))
            except Exception:  # tensorboard missing or broken: JSONL still has everything
                self._tb = None

    def log(self, step: int, kind: str, values: dict[str, Any]) -> None:
        """Record ``values`` (numbers, or JSON-able structures) under ``kind`` at ``step``."""
        if not self.enabled or self._jsonl is None:
            return
        row = {"step": step, "kind": kind, **{k: _plain(v) for k, v in values.items()}}
        self._jsonl.write(json.dumps(row) + "\n")
        self._jsonl.flush()
        if self._tb is not None:
            for k, v in row.items():
                if k not in ("step", "kind") and isinstance(v, (int, float)) and math.isfinite(v):
                    self._tb.add_scalar(f"{kind}/{k}", v, step)

    def close(self) -> None:
        if self._jsonl is not None:
            self._jsonl.close()
            self._jsonl = None
        if self._tb is not None:
            self._tb.close()
            self._tb = None


def truncate_log(path: Path, step: int) -> int:
    """Drop the rows of ``log.jsonl`` after ``step`` (and a half-written last line), so that a run
    resumed from its checkpoint at ``step`` logs the steps it redoes once. Returns the rows dropped."""
    if not path.is_file():
        return 0
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = []
    for line in lines:
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and row.get("step", 0) <= step and line.endswith("\n"):
            kept.append(line)
    if len(kept) != len(lines):
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text("".join(kept), encoding="utf-8")
        tmp.replace(path)
    return len(lines) - len(kept)


def _plain(v: Any) -> Any:
    if hasattr(v, "item") and getattr(v, "numel", lambda: 0)() == 1:
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return v
