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
        help="a run directory (its best checkpoint is used, else its latest) or a checkpoint directory",
    )


def resolve_device(name: str) -> str:
    from genfer.engine.device import select_device

    return str(select_device(name))
