"""Argument helpers shared by several subcommands."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import Tensor


def add_device(p: argparse.ArgumentParser, default: str = "auto") -> None:
    p.add_argument(
        "--device", default=default,
        help="torch device: auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps (default: %(default)s)",
    )


def add_checkpoint(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--checkpoint", "-c", required=True, metavar="RUN",
        help="a run directory (its best checkpoint is used, else its latest), a checkpoint directory, or a "
        "reference model shipped with genfer by name (synthface-tdgan, synthface-au; see genfer ls)",
    )


def resolve_device(name: str) -> str:
    from genfer.engine.device import select_device

    return str(select_device(name))


def add_face_options(p: argparse.ArgumentParser) -> None:
    """``--aligned`` / ``--detect`` and ``--detector`` for commands that feed photos to a generator."""
    crops = p.add_mutually_exclusive_group()
    crops.add_argument("--aligned", action="store_const", const="yes", dest="aligned",
                       help="inputs are face crops: use whole images, no detection")
    crops.add_argument("--detect", action="store_const", const="no", dest="aligned",
                       help="always detect and align the face, even in small square images")
    p.set_defaults(aligned="auto")
    p.add_argument("--detector", default="mtcnn",
                   help="face detector for photos that are not face crops (default: %(default)s)")


def open_checkpoint(args: argparse.Namespace, command: str, *capabilities: str) -> tuple[Any, Any, str]:
    """The prologue of every command that writes what a trained method makes: ``--output`` is checked
    writable first (a bad path fails before any loading), then the method is loaded on ``--device``
    and must offer each capability. Returns ``(method, cfg, device)``."""
    from genfer.core.paths import check_writable
    from genfer.engine.checkpoint import load_method
    from genfer.models.capabilities import require

    check_writable(args.output, option="--output")
    device = resolve_device(args.device)
    method, cfg = load_method(args.checkpoint, device)
    for capability in capabilities:
        require(method, capability, command, source=args.checkpoint)
    return method, cfg, device


def load_faces_for(args: argparse.Namespace, cfg: Any, device: str, *groups: list[str]) -> list[Tensor]:
    """uint8 ``[N, C, S, S]`` faces for a run, one tensor per group of paths: crops used whole, photos
    detected and aligned (largest face). A SynthFace-only model warns once, naming every real photo."""
    from genfer.apps import photos

    def detector():
        return photos.load_detector(args.detector, device)

    photos.warn_if_real_photos(cfg, [p for g in groups for p in g], args.checkpoint)
    return [photos.load_faces(paths, photos.run_crop(cfg), detector, args.aligned) for paths in groups]
