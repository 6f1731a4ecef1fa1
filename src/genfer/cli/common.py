"""Argument helpers shared by several subcommands."""

from __future__ import annotations

import argparse


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


def load_faces_for(args: argparse.Namespace, paths: list[str], cfg, device: str):
    """uint8 ``[N, C, S, S]`` faces for a run: crops used whole, photos detected and aligned (largest face)."""
    from genfer.apps import photos

    def detector():
        return photos.load_detector(args.detector, device)

    photos.warn_if_real_photos(cfg, paths, args.checkpoint)
    return photos.load_faces(paths, photos.run_crop(cfg), detector, args.aligned)
