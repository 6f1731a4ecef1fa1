"""The ``--allocator`` choice shared by the speed benchmarks that run each implementation in its
own process.

``genfer`` (the default) runs each implementation as its users get it: genfer's CPU training keeps
freed memory for reuse (``genfer.engine.allocator``), a release runs on glibc's default.
``system`` and ``keep`` put both on the same setting, for a like-for-like comparison.
"""

from __future__ import annotations

import argparse

from genfer.engine.allocator import keep_freed_memory

CHOICES = ("genfer", "system", "keep")


def add_allocator_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--allocator", choices=CHOICES, default="genfer",
                   help="genfer: genfer keeps freed memory, the release runs as is; system / keep: both alike")


def apply_allocator(choice: str, impl: str) -> bool:
    """Apply ``choice`` to this process, which runs ``impl`` (``genfer`` or a release's pattern);
    call it before the first tensor. Returns whether freed memory is kept."""
    if choice == "keep" or (choice == "genfer" and impl == "genfer"):
        return keep_freed_memory()
    return False
