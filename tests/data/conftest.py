"""Fixture builders: tiny dataset trees in each reader's exact on-disk layout.

Each ``make_*`` fixture returns a function that writes a tree under a given folder and returns
what the reader should find, so tests can compare item by item. Images are 8x8 noise written
with Pillow (fast; readers never look at pixels).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def write_image(path: Path, size: tuple[int, int] = (8, 8), mode: str = "RGB", seed: int = 0, **save) -> Path:
    """Write a small noise image (format from the extension) and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    shape = (size[1], size[0]) if mode == "L" else (size[1], size[0], 3)
    img = Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), "L" if mode == "L" else "RGB")
    if mode not in ("L", "RGB"):
        img = img.convert(mode)
    img.save(path, **save)
    return path


@pytest.fixture
def image_writer() -> Callable[..., Path]:
    return write_image


def png_bytes(width: int, height: int, bit_depth: int = 8, colour_type: int = 0, data: bytes = b"") -> bytes:
    """A PNG stream with the given IHDR and one IDAT chunk (for headers Pillow cannot be made to save)."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return len(payload).to_bytes(4, "big") + kind + payload + crc.to_bytes(4, "big")

    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([bit_depth, colour_type, 0, 0, 0])
    body = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(data)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


@pytest.fixture
def png_writer() -> Callable[..., bytes]:
    return png_bytes


# --- RAF-DB -----------------------------------------------------------------------------------
RAF_LINES = [
    ("train_00001.jpg", 1),  # surprise
    ("train_00002.jpg", 4),  # happiness
    ("train_00003.jpg", 7),  # neutral
    ("test_0001.jpg", 6),  # anger
    ("test_0002.jpg", 2),  # fear
]


@pytest.fixture
def make_rafdb() -> Callable[..., Path]:
    """``make(root, lines=RAF_LINES, aligned=True, skip_aligned=(), extra_lines=())`` -> basic/ dir."""

    def make(root: Path, lines=RAF_LINES, aligned: bool = True, skip_aligned=(), extra_lines=()) -> Path:
        basic = root / "basic"
        (basic / "EmoLabel").mkdir(parents=True)
        text = "".join(f"{n} {lab}\r\n" for n, lab in lines) + "".join(f"{x}\n" for x in extra_lines)
        (basic / "EmoLabel" / "list_patition_label.txt").write_text(text)
        for i, (name, _) in enumerate(lines):
            stem = name.removesuffix(".jpg")
            write_image(basic / "Image" / "original" / name, (12, 10), seed=i)
            if aligned and name not in skip_aligned:
                write_image(basic / "Image" / "aligned" / f"{stem}_aligned.jpg", (10, 10), seed=i)
        return basic

    return make


# --- CASIA-WebFace ------------------------------------------------------------------------------
@pytest.fixture
def make_casia() -> Callable[..., dict[str, list[str]]]:
    """``make(root, tree={"0000045": ["001.jpg", ...], ...})`` writes the identity tree."""

    def make(root: Path, tree: dict[str, list[str]]) -> dict[str, list[str]]:
        for k, (ident, files) in enumerate(tree.items()):
            for j, f in enumerate(files):
                if f.endswith(".txt"):
                    (root / ident).mkdir(parents=True, exist_ok=True)
                    (root / ident / f).write_text("not an image\n")
                else:
                    write_image(root / ident / f, seed=10 * k + j)
        return tree

    return make
