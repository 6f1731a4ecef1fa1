"""Numeric precision of training: fp32, or bf16 / fp16 autocast (fp16 with a gradient scaler).

Autocast covers the forward passes (``training_step``); backward, the optimizer and the weights
stay fp32. ``auto`` picks bf16 where it is fast, CUDA devices with bf16 support and CPUs with AMX
tiles, and fp32 elsewhere: on AVX2 CPUs bf16 is emulated and slower than fp32; AVX512_BF16 CPUs
(Zen 4) run it 1.4-2x faster at the released sizes, but the 64 px TDGAN demo trained fewer
iterations in its time in bf16 (benchmarks/RESULTS.md, platform, stop 25), so they stay on fp32.
"""

from __future__ import annotations

import contextlib
from functools import cache
from pathlib import Path

import torch

PRECISIONS = ("fp32", "bf16", "fp16", "auto")
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@cache
def cpu_flags() -> frozenset[str]:
    """The first CPU's feature flags from /proc/cpuinfo (empty where it cannot be read)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    return frozenset(line.split())


def cpu_has_amx() -> bool:
    """True when the CPU has the AMX bf16 tile instructions (``amx_bf16`` and ``amx_tile``)."""
    return {"amx_bf16", "amx_tile"} <= cpu_flags()


def bf16_emulation_warning(precision: str, device: torch.device) -> str | None:
    """A warning when bf16 autocast runs on a CPU without bf16 instructions (AMX or AVX512_BF16).

    There oneDNN converts every bf16 operand to fp32 and back, so bf16 is slower than fp32 (JESRL's
    swap at 256 px: 0.36x on an AVX2 Zen 3); ``None`` where bf16 is native or not asked for.
    """
    if precision != "bf16" or device.type != "cpu":
        return None
    flags = cpu_flags()
    if not flags or cpu_has_amx() or "avx512_bf16" in flags:
        return None
    return ("train.precision bf16: this CPU has neither AMX nor AVX512_BF16, so bf16 is emulated and "
            "slower than fp32 here; give train.precision=fp32 for speed")


def resolve_precision(name: str, device: torch.device) -> str:
    """``fp32``, ``bf16`` or ``fp16`` for ``train.precision`` on ``device`` (``auto`` decided here)."""
    if name not in PRECISIONS:
        raise ValueError(f"train.precision must be one of {', '.join(PRECISIONS)}; got {name!r}")
    if name != "auto":
        return name
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device.type == "cpu":
        return "bf16" if cpu_has_amx() else "fp32"
    return "fp32"


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """The autocast context of a resolved precision (a no-op for fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=DTYPES[precision])


def make_scaler(precision: str, device: torch.device) -> torch.amp.GradScaler | None:
    """A gradient scaler for fp16 (whose small gradients would underflow), ``None`` otherwise."""
    return torch.amp.GradScaler(device.type) if precision == "fp16" else None


__all__ = ["PRECISIONS", "autocast", "bf16_emulation_warning", "cpu_flags", "cpu_has_amx", "make_scaler",
           "resolve_precision"]
