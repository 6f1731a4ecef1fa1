"""Device selection: ``auto`` picks CUDA, then Apple MPS, then the CPU."""

from __future__ import annotations

import torch


def select_device(name: str = "auto", local_rank: int = 0) -> torch.device:
    """Resolve a device string; under torchrun each rank takes ``cuda:<local_rank>``.

    Raises:
        ValueError: a named accelerator is not available on this machine.
    """
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank % torch.cuda.device_count())
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    dev = torch.device(name)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r} asked for, but CUDA is not available here")
        if dev.index is None:
            dev = torch.device("cuda", local_rank % torch.cuda.device_count())
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device 'mps' asked for, but MPS is not available here")
    return dev
