"""Checkpoints: directories written atomically, loaded without executing code.

A checkpoint is a directory holding
- ``model.safetensors``: every network of the method (its ``state_dict``),
- ``config.yaml``: the resolved run config,
- ``training_state.pt``: optimizer states, step, epoch, counters and RNG states; only tensors and
  plain Python containers, so it loads with ``torch.load(weights_only=True)``.

A run directory keeps its checkpoints in ``checkpoints/step-NNNNNNN/`` and names the latest and
the best one in the small pointer files ``checkpoints/latest`` and ``checkpoints/best``. Each
checkpoint is written to a temporary directory and renamed into place, and pointer files are
replaced with ``os.replace``, so a run killed at any moment leaves the previous checkpoint intact.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from genfer.core.config import RunConfig

MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.yaml"
STATE_FILE = "training_state.pt"


class CheckpointError(ValueError):
    """A checkpoint path that is missing, incomplete or not a genfer checkpoint."""


def save_checkpoint(
    ckpt_dir: str | Path, method: nn.Module, cfg: RunConfig, state: dict[str, Any] | None = None
) -> Path:
    """Write a checkpoint directory atomically (temp directory + rename).

    Args:
        ckpt_dir: target directory; replaced if it exists.
        method: the module whose ``state_dict`` is saved.
        cfg: resolved run config.
        state: training state (tensors, numbers, strings, lists, dicts only).
    """
    ckpt_dir = Path(ckpt_dir)
    ckpt_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = ckpt_dir.with_name(f".{ckpt_dir.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    tensors = {k: v.detach().contiguous().cpu() for k, v in method.state_dict().items()}
    save_file(tensors, str(tmp / MODEL_FILE), metadata={"format": "genfer", "method": cfg.method})
    cfg.save(tmp / CONFIG_FILE)
    if state is not None:
        torch.save(state, tmp / STATE_FILE)
    _fsync_dir(tmp)
    if ckpt_dir.exists():
        old = ckpt_dir.with_name(f".{ckpt_dir.name}.old-{os.getpid()}")
        ckpt_dir.rename(old)
        tmp.rename(ckpt_dir)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(ckpt_dir)
    return ckpt_dir


def write_pointer(path: Path, target: str) -> None:
    """Atomically make the text file ``path`` contain ``target``."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(target + "\n")
    os.replace(tmp, path)


def resolve_checkpoint(path: str | Path, which: str = "best") -> Path:
    """Find the checkpoint directory a user means.

    Accepts a checkpoint directory itself, or a run directory (then its ``best`` checkpoint,
    falling back to ``latest``; ``which="latest"`` prefers the latest).
    """
    p = Path(path)
    if (p / MODEL_FILE).is_file():
        return p
    if not p.exists():
        raise CheckpointError(f"{p}: no such checkpoint or run directory")
    order = [which, "latest" if which == "best" else "best"]
    for name in order:
        ptr = p / "checkpoints" / name
        if ptr.is_file():
            target = p / "checkpoints" / ptr.read_text().strip()
            if (target / MODEL_FILE).is_file():
                return target
    raise CheckpointError(f"{p}: holds no checkpoint ({MODEL_FILE} or checkpoints/latest|best)")


def load_config(ckpt: str | Path) -> RunConfig:
    ckpt = resolve_checkpoint(ckpt)
    if not (ckpt / CONFIG_FILE).is_file():
        raise CheckpointError(f"{ckpt}: {CONFIG_FILE} is missing")
    return RunConfig.load(ckpt / CONFIG_FILE)


def load_weights(method: nn.Module, ckpt: str | Path, strict: bool = True) -> None:
    """Load ``model.safetensors`` into ``method`` (safetensors never executes code)."""
    ckpt = resolve_checkpoint(ckpt)
    try:
        tensors = load_file(str(ckpt / MODEL_FILE), device=str(_device_of(method)))
    except Exception as e:  # safetensors raises several error types for damaged files
        raise CheckpointError(f"{ckpt / MODEL_FILE}: cannot read weights: {e}") from None
    missing, unexpected = method.load_state_dict(tensors, strict=False)
    if strict and (missing or unexpected):
        raise CheckpointError(
            f"{ckpt / MODEL_FILE}: weights do not fit {type(method).__name__} "
            f"(missing {missing[:5]}, unexpected {unexpected[:5]})"
        )


def load_training_state(ckpt: str | Path) -> dict[str, Any]:
    ckpt = resolve_checkpoint(ckpt, "latest")
    path = ckpt / STATE_FILE
    if not path.is_file():
        raise CheckpointError(f"{ckpt}: {STATE_FILE} is missing, cannot resume from it")
    return torch.load(path, map_location="cpu", weights_only=True)


def load_method(ckpt: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, RunConfig]:
    """Build the method a checkpoint describes and load its weights, in eval mode."""
    from genfer.models import build_method

    cfg = load_config(ckpt)
    method = build_method(cfg).to(device)
    load_weights(method, ckpt)
    method.eval()
    return method, cfg


def _device_of(module: nn.Module) -> torch.device:
    for p in module.parameters():
        return p.device
    return torch.device("cpu")


def _fsync_dir(d: Path) -> None:
    for f in d.iterdir():
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())
