"""The released ASIT and IFER checkpoints (Talented-Q/IFER-master) to genfer's state dicts, and back.

A released ASIT checkpoint is ``{"state_dict": ASIT.state_dict(), "opts": vars(opts), "latent_avg":
[n_styles or 1, 512]}`` with keys ``encoder.*`` (the GC ViT encoder) and ``decoder.*`` (a rosinality
StyleGAN2 ``Generator(256, 512, 8)``); an IFER checkpoint is ``ifer_model.state_dict()``
(``feature_model.*``, ``conv``, ``style_conv``, ``head``), possibly wrapped in timm's
``{"state_dict": ...}`` / ``{"model": ...}``.

genfer's modules carry the release's names, so converting only drops what genfer does not store:
the GC ViT's dead ImageNet ``norm``/``head``, the uninitialised ``sin_pos_embed._float_tensor``
buffers and the ``relative_position_index`` tables (rebuilt from the window size).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from genfer.core.errors import GenferError

RELEASE_ONLY_SUFFIXES = ("sin_pos_embed._float_tensor", "relative_position_index")
RELEASE_ONLY_MODULES = ("norm.", "head.")  # of the GC ViT (encoder / feature_model)


def drop_release_only(sd: Mapping[str, Tensor], encoder_prefix: str = "encoder.") -> dict[str, Tensor]:
    """A released state dict without the entries genfer does not keep (see the module docstring)."""
    dead = tuple(encoder_prefix + m for m in RELEASE_ONLY_MODULES)
    return {k: v for k, v in sd.items() if not k.endswith(RELEASE_ONLY_SUFFIXES) and not k.startswith(dead)}


def unwrap(ckpt: Any, path: str | Path) -> dict[str, Tensor]:
    """The state dict inside a loaded checkpoint (plain, ``state_dict``, ``model`` or ``state_dict_ema``)."""
    if isinstance(ckpt, Mapping):
        for key in ("state_dict", "model", "state_dict_ema"):
            if isinstance(ckpt.get(key), Mapping):
                return dict(ckpt[key])
        if ckpt and all(isinstance(v, Tensor) for v in ckpt.values()):
            return dict(ckpt)
    raise GenferError("holds no state dict (expected a tensor mapping, or one under 'state_dict' or 'model')",
                      path=str(path))


def read_release(path: str | Path) -> tuple[dict[str, Tensor], Tensor | None, dict[str, Any]]:
    """Load a released ASIT/IFER ``.pt`` without executing code: ``(state_dict, latent_avg or None, opts)``.

    Raises:
        GenferError: the file is missing, not a weights-only checkpoint, or holds no state dict.
    """
    p = Path(path)
    if not p.is_file():
        raise GenferError("not found", path=str(p))
    try:
        ckpt = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # any unpickling failure means "not a weights file"
        raise GenferError(f"cannot be read as a weights-only torch checkpoint ({type(e).__name__}: {e})",
                          path=str(p)) from None
    sd = unwrap(ckpt, p)
    latent_avg = ckpt.get("latent_avg") if isinstance(ckpt, Mapping) else None
    opts = ckpt.get("opts") if isinstance(ckpt, Mapping) and isinstance(ckpt.get("opts"), Mapping) else {}
    return sd, latent_avg if isinstance(latent_avg, Tensor) else None, dict(opts)


__all__ = ["drop_release_only", "read_release", "unwrap"]
