"""What a resumed run may change: its saved config wins, except for the settings that do not change
what was already trained (how long to go on, how often to log, evaluate and save, where to run)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from genfer.core.config import RunConfig, apply_overrides
from genfer.core.errors import UsageError
from genfer.engine import checkpoint as ck

SAFE_ON_RESUME = (
    "train.max_steps", "train.epochs", "train.max_minutes", "train.log_every", "train.eval_every",
    "train.ckpt_every", "train.sample_every", "train.progress", "train.tensorboard", "train.threads",
    "train.keep_freed_memory",
    "train.device", "train.max_nonfinite",
)
"""Dotted config keys that ``--resume`` accepts as overrides; any other change is refused."""


def resume_config(run_dir: str | Path, method: str | None = None, overrides: list[str] | tuple[str, ...] = ()
                  ) -> RunConfig:
    """The config a resumed run continues with: the one saved in its latest checkpoint, with the
    ``overrides`` that are safe to change (:data:`SAFE_ON_RESUME`) applied.

    Args:
        run_dir: the run directory to resume.
        method: the method the caller asked for (``genfer train METHOD --resume RUN``); None = any.
        overrides: ``section.field=value`` strings.

    Raises:
        UsageError: the run is another method's, or an override changes a setting that cannot change
            mid-run (the message lists them and the ones that can).
    """
    run_dir = Path(run_dir)
    saved = ck.load_config(ck.resolve_checkpoint(run_dir, "latest"))
    if method is not None and method != saved.method:
        raise UsageError(f"is a {saved.method} run, so it cannot be resumed as {method}", path=run_dir,
                         fix=f"run 'genfer train {saved.method} --resume {run_dir}', or train {method} "
                         "without --resume")
    d = saved.to_dict()
    apply_overrides(d, list(overrides))
    cfg = RunConfig.from_dict(d)
    refused = [k for k in _changed(saved.to_dict(), cfg.to_dict()) if k not in SAFE_ON_RESUME]
    if refused:
        raise UsageError(
            f"{', '.join(refused)} cannot change when a run is resumed (its weights and optimizer states "
            f"were trained with the saved values)", path=run_dir,
            fix=f"leave {'it' if len(refused) == 1 else 'them'} out (these can change: "
            f"{', '.join(SAFE_ON_RESUME)}), or start a new run, "
            f"e.g. with model.init_from={run_dir}",
        )
    return cfg


def _changed(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for k in a:
        if isinstance(a[k], dict) and isinstance(b.get(k), dict) and k in ("model", "data", "optim", "train"):
            out += _changed(a[k], b[k], f"{prefix}{k}.")
        elif a[k] != b.get(k):
            out.append(f"{prefix}{k}")
    return out


__all__ = ["SAFE_ON_RESUME", "resume_config"]
