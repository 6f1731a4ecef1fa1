"""``genfer reconstruct``: reconstructions of faces, and CDAN's parsing of them, written per input.

For each input face the files written are named after it (``<stem>_<part>.png``), under the same
relative path as the input had under the folder it was found in (so class sub-folders are kept);
with ``by_part`` they go to ``<part>/<relative path>.png`` instead, so that ``genfer metrics``
(which pairs files by relative path) can compare ``rec/`` with the input folder:

- ``rec``: the reconstruction (any ``Reconstructor``);
- for a parsing model (CDAN): ``mask`` (M, grey), ``color`` (the colour map Cm, [-1, 1] shown
  as [0, 1]) and ``masked`` (M x, the face's AU-bearing part).

The model is a trained run (or checkpoint directory) or, for CDAN, the released ``CDAN.pth``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
from torch import Tensor

from genfer.core.errors import GenferError, UsageError
from genfer.core.imaging import save_image

PARTS: tuple[str, ...] = ("rec", "mask", "color", "masked")


@dataclass
class ReconstructReport:
    """What ``reconstruct_files`` did: files written per input, and inputs that failed (with why)."""

    written: list[Path] = field(default_factory=list)
    faces: int = 0
    problems: list[str] = field(default_factory=list)


def load_reconstructor(checkpoint: str | os.PathLike, device: str = "cpu") -> tuple[Any, Any]:
    """A model that reconstructs faces and the run config describing it.

    Args:
        checkpoint: a run directory, a checkpoint directory, or a released ``CDAN.pth`` file.
        device: torch device.

    Returns:
        ``(method, cfg)``; for ``CDAN.pth`` the config is a namespace with ``method`` and ``model``.
    """
    p = Path(checkpoint).expanduser()
    if p.is_file() and p.suffix in (".pth", ".pt", ".pkl"):
        from genfer.models.cdan import CDANConfig, load_released

        model_cfg = CDANConfig()
        return load_released(p, model_cfg, device), SimpleNamespace(method="cdan", model=model_cfg)
    if not p.exists():
        raise UsageError("no such run, checkpoint or file", path=p,
                         fix="give a run directory, a checkpoint directory or the released CDAN.pth")
    from genfer.engine.checkpoint import load_method
    from genfer.models.capabilities import require

    method, cfg = load_method(p, device)
    require(method, "reconstruct", "genfer reconstruct", source=str(p))
    return method, cfg


def parts_of(method: Any, faces: Tensor) -> dict[str, Tensor]:
    """The images written for a batch of faces uint8 [B, C, S, S]: each part float [B, C, S, S] in [0, 1]."""
    if hasattr(method, "parse_images"):
        out = method.parse_images(faces)
        mask = out["mask_map"].clamp(0, 1)
        return {
            "rec": out["xrec"].clamp(0, 1),
            "mask": mask.expand(-1, faces.shape[1], -1, -1) if faces.shape[1] != 1 else mask,
            "color": ((out["color_map"] + 1) / 2).clamp(0, 1),
            "masked": out["mask_input"].clamp(0, 1),
        }
    return {"rec": method.reconstruct(faces).clamp(0, 1)}


def reconstruct_files(
    method: Any,
    cfg: Any,
    inputs: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    aligned: str = "auto",
    detector: Any = None,
    batch_size: int = 16,
    by_part: bool = False,
) -> ReconstructReport:
    """Reconstruct (and parse) every face among ``inputs`` into ``out_dir``.

    Args:
        method: from :func:`load_reconstructor`.
        cfg: its config (``method``, ``model.image_size``, ``model.channels``).
        inputs: image files and folders (searched recursively; sub-folders are kept in the output).
        out_dir: output folder (created).
        aligned: ``auto`` (face crops used whole, other photos searched for faces), ``yes``
            (every image is a crop) or ``no`` (always detect: ``--detect``).
        detector: a face detector or a no-argument callable building one (needed for photos).
        batch_size: faces per forward.
        by_part: write ``out_dir/<part>/<relative path>.png`` instead of ``<relative path>_<part>.png``.

    Returns:
        A :class:`ReconstructReport`. Unreadable files and photos without a face are problems
        (named); the other inputs are still written.
    """
    from genfer.apps.photos import expand_inputs, load_faces, run_crop

    files, problems = expand_inputs(inputs)
    report = ReconstructReport(problems=[str(p) for p in problems])
    images = [(f, base) for f, base in files if not _is_video(f)]
    report.problems += [f"{f}: videos are not reconstructed" for f, _ in files if _is_video(f)]
    crop = run_crop(cfg)
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    for start in range(0, len(images), batch_size):
        chunk, faces = [], []
        for f, base in images[start:start + batch_size]:
            try:
                faces.append(load_faces([f], crop, detector, aligned)[0])
                chunk.append((f, base))
            except GenferError as e:
                report.problems.append(str(e))
        if not faces:
            continue
        parts = parts_of(method, torch.stack(faces))
        for i, (f, base) in enumerate(chunk):
            rel = f.relative_to(base).with_suffix("")
            for name, imgs in parts.items():
                target = out / name / f"{rel}.png" if by_part else out / rel.parent / f"{rel.name}_{name}.png"
                target.parent.mkdir(parents=True, exist_ok=True)
                report.written.append(save_image(imgs[i].float().cpu(), target))
            report.faces += 1
    return report


def _is_video(f: Path) -> bool:
    from genfer.apps.photos import is_video_file

    return is_video_file(f)


__all__ = ["PARTS", "ReconstructReport", "load_reconstructor", "parts_of", "reconstruct_files"]
