"""Checkpoints: directories written atomically, loaded without executing code.

A checkpoint is a directory holding
- ``model.safetensors``: every network of the method (its ``state_dict``) except the frozen
  pretrained sub-networks (``Method.frozen_modules()``), which ``load_pretrained`` fills instead,
- ``ema.safetensors`` (with ``train.ema``): the averaged weights of ``Method.ema_modules()``, under
  the same keys; ``load_method`` puts them in place of the trained ones,
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
from genfer.core.errors import GenferError
from genfer.core.reference import reference_models, reference_path

MODEL_FILE = "model.safetensors"
EMA_FILE = "ema.safetensors"
CONFIG_FILE = "config.yaml"
STATE_FILE = "training_state.pt"


class CheckpointError(GenferError, ValueError):
    """A checkpoint path that is missing, incomplete, damaged or not a genfer checkpoint."""


POINTERS = ("latest", "best", "good")
"""Pointer files under ``checkpoints/``: the latest state, the best evaluation, and the latest
checkpoint saved while the losses were finite (what the non-finite guard names)."""


def frozen_keys(method: nn.Module) -> set[str]:
    """State-dict keys of the method's frozen pretrained sub-networks (none for a plain module)."""
    return method.frozen_keys() if hasattr(method, "frozen_keys") else set()


def save_checkpoint(
    ckpt_dir: str | Path,
    method: nn.Module,
    cfg: RunConfig,
    state: dict[str, Any] | None = None,
    ema: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Write a checkpoint directory atomically (temp directory + rename).

    Args:
        ckpt_dir: target directory; replaced if it exists.
        method: the module whose ``state_dict`` is saved, less its frozen sub-networks.
        cfg: resolved run config.
        state: training state (tensors, numbers, strings, lists, dicts only).
        ema: averaged weights (``genfer.engine.ema.EMA.state_dict()``), saved as ``ema.safetensors``.
    """
    ckpt_dir = Path(ckpt_dir)
    ckpt_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = ckpt_dir.with_name(f".{ckpt_dir.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    skip = frozen_keys(method)
    tensors = {k: v.detach().contiguous().cpu() for k, v in method.state_dict().items() if k not in skip}
    save_file(tensors, str(tmp / MODEL_FILE), metadata={"format": "genfer", "method": cfg.method})
    if ema is not None:
        averaged = {k: v.detach().contiguous().cpu() for k, v in ema.items()}
        save_file(averaged, str(tmp / EMA_FILE), metadata={"format": "genfer-ema", "method": cfg.method})
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

    Accepts a checkpoint directory itself, a run directory (then its ``best`` checkpoint,
    falling back to ``latest``; ``which="latest"`` prefers the latest), or the name of a reference
    model shipped with genfer (``synthface-tdgan``; :mod:`genfer.core.reference`).
    """
    p = Path(path)
    if (p / MODEL_FILE).is_file():
        return p
    if not p.exists():
        shipped = reference_path(str(path))
        if shipped is not None:
            return shipped
        names = ", ".join(reference_models()) or "none installed"
        raise CheckpointError(f"{p}: no such checkpoint or run directory, nor a shipped reference model ({names})")
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


def load_weights(method: nn.Module, ckpt: str | Path, strict: bool = True, ema: bool = False) -> None:
    """Load ``model.safetensors`` into ``method`` (safetensors never executes code).

    ``strict`` accepts the absence of frozen sub-networks' keys, which checkpoints never hold.
    With ``ema``, the averaged weights (``ema.safetensors``, if the run kept them) replace the
    trained ones of the networks they cover.
    """
    ckpt = resolve_checkpoint(ckpt)
    tensors = read_tensors(ckpt / MODEL_FILE, _device_of(method))
    missing, unexpected = method.load_state_dict(tensors, strict=False)
    missing = [k for k in missing if k not in frozen_keys(method)]
    if ema and (ckpt / EMA_FILE).is_file():
        averaged = read_tensors(ckpt / EMA_FILE, _device_of(method))
        _, extra = method.load_state_dict(averaged, strict=False)
        unexpected = [*unexpected, *extra]
    if strict and (missing or unexpected):
        raise CheckpointError(
            f"{ckpt / MODEL_FILE}: weights do not fit {type(method).__name__} "
            f"(missing {missing[:5]}, unexpected {unexpected[:5]})"
        )


def read_tensors(path: Path, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file, or ``CheckpointError`` naming it."""
    try:
        return load_file(str(path), device=str(device))
    except Exception as e:  # safetensors raises several error types for damaged files
        raise CheckpointError(f"cannot read weights ({_first_line(e)}); the file is truncated or corrupt",
                              path=path, fix=_fix_for(path)) from None


def load_training_state(ckpt: str | Path) -> dict[str, Any]:
    ckpt = resolve_checkpoint(ckpt, "latest")
    path = ckpt / STATE_FILE
    if not path.is_file():
        raise CheckpointError(f"{ckpt}: {STATE_FILE} is missing, cannot resume from it")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, bad pickle, refused global: torch raises several types
        raise CheckpointError(f"cannot be loaded ({_first_line(e)}); the file is truncated, corrupt or not "
                              "written by genfer", path=path, fix=_fix_for(path)) from None


def _first_line(e: BaseException) -> str:
    """The gist of a loader's error, without torch's advice to load unsafely."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    useful = [ln for ln in lines if "WeightsUnpickler error" in ln or "Unsupported global" in ln]
    text = (useful or lines or [type(e).__name__])[0]
    if "weights_only" in text:
        text = type(e).__name__
    return text.split(". ")[0].rstrip(".")[:200]


def _fix_for(path: Path) -> str:
    """What to do about a damaged file of checkpoint ``path.parent``: another checkpoint of the run, or a new run."""
    ckpt = Path(path).parent
    others = sorted(d.name for d in ckpt.parent.glob("step-*") if d.is_dir() and d != ckpt) \
        if ckpt.parent.name == "checkpoints" else []
    if others:
        return (f"use another checkpoint of the run ({', '.join(others)}; to resume from it, write its name into "
                f"{ckpt.parent / 'latest'}), or start the run again")
    return "restore it from a copy, or start the run again"


def load_method(
    ckpt: str | Path, device: str | torch.device = "cpu", ema: bool = True
) -> tuple[nn.Module, RunConfig]:
    """Build the method a checkpoint describes, load its weights (the EMA weights where the run
    kept them, unless ``ema`` is False) and its frozen pretrained parts; eval mode."""
    from genfer.models import build_method

    cfg = load_config(ckpt)
    method = build_method(cfg).to(device)
    load_weights(method, ckpt, ema=ema)
    if hasattr(method, "load_pretrained"):
        method.load_pretrained()
    method.eval()
    return method, cfg


def latest_description(run_dir: Path) -> str:
    """The latest checkpoint of a run, for messages."""
    ptr = run_dir / "checkpoints" / "latest"
    return str(run_dir / "checkpoints" / ptr.read_text().strip()) if ptr.exists() else "none (no checkpoint yet)"


def pointer_target(run_dir: Path, name: str) -> Path | None:
    """The checkpoint directory that pointer ``name`` (``latest``, ``best``, ``good``) of a run names,
    or None when there is no such pointer or the checkpoint is gone."""
    ptr = Path(run_dir) / "checkpoints" / name
    if not ptr.is_file():
        return None
    target = ptr.parent / ptr.read_text().strip()
    return target if (target / MODEL_FILE).is_file() else None


def prune(ckpt_root: Path) -> None:
    """Keep only the checkpoints named by the pointers (``latest``, ``best``, ``good``)."""
    keep = {p.read_text().strip() for p in (ckpt_root / n for n in POINTERS) if p.exists()}
    for d in ckpt_root.glob("step-*"):
        if d.is_dir() and d.name not in keep:
            shutil.rmtree(d, ignore_errors=True)


def remove_orphans(ckpt_root: Path) -> list[str]:
    """Clean up after a process killed while saving: remove temporary checkpoint directories and
    pointer files (``.step-N.tmp-PID``, ``.latest.tmp-PID``); a replaced checkpoint
    (``.step-N.old-PID``) is put back if its successor never arrived, else removed.

    Returns:
        The names removed or restored.
    """
    done = []
    for p in sorted(ckpt_root.glob(".*.tmp-*")) + sorted(ckpt_root.glob(".step-*.old-*")):
        target = ckpt_root / p.name[1:].rsplit(".", 1)[0]
        if ".old-" in p.name and p.is_dir() and not target.exists():
            p.rename(target)
        elif p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
        done.append(p.name)
    return done


def _device_of(module: nn.Module) -> torch.device:
    for p in module.parameters():
        return p.device
    return torch.device("cpu")


def _fsync_dir(d: Path) -> None:
    for f in d.iterdir():
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())
