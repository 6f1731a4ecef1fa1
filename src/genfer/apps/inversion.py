"""``genfer invert``: faces to ASIT's W+ codes and structure codes, and their reconstructions.

The library half of the command, mapping the release's ``scripts/inference.py``: reconstructions
go to ``OUT/inference_results/<name>.png`` (and ``OUT/inference_coupled/<name>.png``, input and
reconstruction side by side, with ``couple``), the codes to ``OUT/codes.npz`` (``names``, ``w``
``[N, n_styles, style_dim]`` including ``latent_avg``, ``structure`` ``[N, C, 4, 4]``,
``use_struct``). Unlike the release, the file list is sorted, every image of a batch is written,
and the structure code is used unless asked otherwise (``use_struct=False`` is what the release's
inference did, through a defaulted argument).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genfer.apps.inference import load_images
from genfer.core.errors import UsageError
from genfer.core.imaging import save_image
from genfer.data.io import IMAGE_EXTENSIONS
from genfer.models.capabilities import require


def image_files(inputs: Sequence[str | Path]) -> list[Path]:
    """Image files named or inside the named folders, sorted by path (the release pairs unsorted lists)."""
    out: list[Path] = []
    for s in inputs:
        p = Path(s)
        if p.is_dir():
            out += sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_EXTENSIONS)
        else:
            out.append(p)
    if not out:
        raise UsageError("no images", path=", ".join(map(str, inputs)), fix="name image files or folders holding them")
    return out


def load_inverter(source: str | Path, device: str = "cpu") -> tuple[Any, bool]:
    """A trained ASIT from a genfer run/checkpoint or a released ``.pt``; and whether it needs batches of 1."""
    p = Path(source)
    if p.is_file() and p.suffix in (".pt", ".pth"):
        from genfer.models.asit.release import load_released_asit

        return load_released_asit(p, device), True
    from genfer.engine.checkpoint import load_method

    method, cfg = load_method(p, device)
    return method, bool(getattr(cfg.model, "faithful", False))


@torch.inference_mode()
def invert_files(method, files: Sequence[Path], out_dir: str | Path, use_struct: bool = True, couple: bool = False,
                 batch_size: int = 8, one_by_one: bool = False) -> dict[str, Any]:
    """Invert image files with an ``Inverter`` and write reconstructions and codes (see the module docstring).

    Args:
        one_by_one: batches of 1 (for ``faithful`` encoders, whose codes depend on batch-mates).
    """
    require(method, "invert", "genfer invert")
    out = Path(out_dir)
    (out / "inference_results").mkdir(parents=True, exist_ok=True)
    if couple:
        (out / "inference_coupled").mkdir(exist_ok=True)
    size = method.cfg.image_size
    bs = 1 if one_by_one else batch_size
    ws, ss = [], []
    for i in range(0, len(files), bs):
        chunk = files[i : i + bs]
        x = load_images(chunk, size, 3)
        w, s = method.invert(x)
        img = method.generate((w, s if use_struct else None)).cpu()
        for f, xi, yi in zip(chunk, x, img):
            save_image(yi, out / "inference_results" / f"{f.stem}.png")
            if couple:
                save_image(torch.cat([xi.float() / 255, yi], 2), out / "inference_coupled" / f"{f.stem}.png")
        ws.append(w.float().cpu())
        ss.append(s.float().cpu())
    np.savez(out / "codes.npz", names=np.array([f.name for f in files]), w=torch.cat(ws).numpy(),
             structure=torch.cat(ss).numpy(), use_struct=np.array(use_struct))
    return {"images": len(files), "out_dir": str(out), "use_struct": use_struct, "batch": bs}


__all__ = ["image_files", "invert_files", "load_inverter"]
