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




def load_released_asit(path: str | Path, device: str | torch.device = "cpu"):
    """An :class:`~genfer.models.asit.method.ASIT` (``released`` preset) holding a released ASIT checkpoint.

    The encoder runs with ``faithful=True``: the released weights were trained with the
    batch-coupled global queries, and their raw reshapes are part of what they learnt; feed it one
    image at a time (:func:`genfer.apps.inversion.invert_files` does) so that no batch-mate leaks
    in. The decoder and ``latent_avg`` come from the same file (``latent_avg`` computed and logged
    when absent).

    Raises:
        GenferError: unreadable file, or an encoder that does not fit the released architecture.
    """
    from genfer.core.config import make_config
    from genfer.models.asit.method import ASIT

    sd, _, _ = read_release(path)
    enc = {k.removeprefix("encoder."): v for k, v in drop_release_only(sd).items() if k.startswith("encoder.")}
    if not enc:
        raise GenferError("holds no encoder.* keys (not an ASIT checkpoint)", path=str(path))
    cfg = make_config("asit", "released", [f"model.decoder={path}", "model.faithful=true", "model.lpips_lambda=0",
                                           "model.id_lambda=0"]).model
    method = ASIT(cfg).to(device)
    method.load_pretrained()
    own = method.encoder.state_dict()
    bad = [k for k in own if k not in enc or enc[k].shape != own[k].shape] + [k for k in enc if k not in own]
    if bad:
        raise GenferError(f"its encoder does not match the released GC ViT base ({len(bad)} keys differ, e.g. "
                          f"{bad[:3]})", path=str(path))
    method.encoder.load_state_dict(enc)
    return method.eval()


__all__ = ["drop_release_only", "load_released_asit", "read_release", "unwrap"]
