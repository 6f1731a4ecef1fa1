"""Small helpers for finding things in dataset trees as their owners ship them."""

from __future__ import annotations

import os
import re
from pathlib import Path

from genfer.data.io import is_image_file


def find_dir(root: Path, name: str) -> Path | None:
    """``root/name`` or ``root/<child>/name``, matched case-insensitively; None when absent."""
    key = name.lower()
    parents = [root, *subdirs(root)]
    for parent in parents:
        for d in subdirs(parent):
            if d.name.lower() == key:
                return d
    return None


def subdirs(d: Path) -> list[Path]:
    """Sub-folders of ``d`` in sorted name order (hidden ones skipped); [] if ``d`` is not a folder."""
    if not d.is_dir():
        return []
    return sorted(Path(e.path) for e in os.scandir(d) if e.is_dir() and not e.name.startswith("."))


def list_images(d: Path, recursive: bool = False) -> list[Path]:
    """Image files in ``d`` (sorted by relative path), skipping hidden files such as ``.DS_Store``."""
    if not d.is_dir():
        return []
    if recursive:
        found = [p for p in d.rglob("*") if p.is_file() and _visible_image(p.name)]
        return sorted(found, key=lambda p: p.relative_to(d).as_posix())
    return [d / n for n in sorted(e.name for e in os.scandir(d) if e.is_file() and _visible_image(e.name))]


def _visible_image(name: str) -> bool:
    return is_image_file(name) and not name.startswith(".")


def frame_number(name: str | Path) -> int:
    """Trailing integer of a file stem (``S005_001_00000011.png`` -> 11, ``003.jpeg`` -> 3; else -1)."""
    m = re.search(r"(\d+)$", Path(name).stem)
    return int(m.group(1)) if m else -1
