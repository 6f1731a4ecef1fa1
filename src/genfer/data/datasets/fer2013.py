"""FER2013: 48x48 greyscale faces stored as pixel strings in one CSV.

Layout: ``fer2013.csv`` with header ``emotion,pixels,Usage``; ``pixels`` is 2,304
space-separated values 0..255 (row-major 48x48). ``root`` is the CSV itself or a folder holding
``fer2013.csv`` (directly or in ``fer2013/``).

Labels 0..6 = anger, disgust, fear, happiness, sadness, surprise, neutral (``labels.FER2013``).
Splits from ``Usage``: ``train`` = Training (28,709), ``val`` = PublicTest (3,589), ``test`` =
PrivateTest (3,589), ``all``. Pixels are decoded once at construction into a uint8 array
(about 83 MB for the whole file); ``channels=3`` replicates the grey channel. No identities.
"""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np
import torch

from genfer.core.registry import DATASETS
from genfer.data.base import FaceDataset, FaceItem
from genfer.data.io import array_to_tensor
from genfer.data.labels import FER2013

USAGE = {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}
SIDE = 48


def find_csv(root: Path, name: str) -> Path:
    """``root`` if it is a file, else ``root/name`` or ``root/<stem>/name``."""
    if root.is_file():
        return root
    for p in (root / name, root / Path(name).stem / name):
        if p.is_file():
            return p
    raise FileNotFoundError(f"no {name} in {root} or {root / Path(name).stem}")


def parse_pixels(text: str) -> np.ndarray | None:
    """A FER2013 pixel string to uint8 [48, 48], or None when it is not 2,304 values 0..255."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numpy warns on junk; the checks below decide
        try:
            v = np.fromstring(text, dtype=np.int32, sep=" ")
        except ValueError:
            return None
    if v.size != SIDE * SIDE or v.min(initial=0) < 0 or v.max(initial=0) > 255:
        return None
    return v.astype(np.uint8).reshape(SIDE, SIDE)


class PixelCSVDataset(FaceDataset):
    """Base of readers whose images may be pixel strings: ``self.pixels`` is uint8 [N, 48, 48] and
    ``item.extra["pixels"]`` indexes it (items without that key are image files)."""

    pixels: np.ndarray

    def load_image(self, i: int) -> torch.Tensor:
        k = self.items[i].extra.get("pixels")
        if k is None:  # an image file (FERPlus with its image folders)
            return super().load_image(i)
        return array_to_tensor(self.pixels[k], self.channels, size=self.size)


@DATASETS.register("fer2013")
class FER2013Dataset(PixelCSVDataset):
    """FER2013 from ``fer2013.csv``."""

    name = "fer2013"
    splits = ("train", "val", "test", "all")

    def _load_items(self) -> list[FaceItem]:
        file = find_csv(self.root, "fer2013.csv")
        items: list[FaceItem] = []
        pixels: list[np.ndarray] = []
        with open(file, newline="", encoding="utf-8-sig") as f:
            rows = csv.reader(f)
            header = [h.strip() for h in next(rows, [])]
            for col in ("emotion", "pixels", "Usage"):
                if col not in header:
                    raise ValueError(f"{file}:1: missing column {col!r} (header {header})")
            ie, ip, iu = header.index("emotion"), header.index("pixels"), header.index("Usage")
            for n, row in enumerate(rows, 2):
                if not row:
                    continue
                if len(row) != len(header):
                    self.report(file, n, f"{len(row)} fields, expected {len(header)}")
                    continue
                usage = row[iu].strip()
                if usage not in USAGE:
                    self.report(file, n, f"unknown Usage {usage!r}; known: {', '.join(USAGE)}")
                    continue
                if self.split != "all" and USAGE[usage] != self.split:
                    continue
                try:
                    expression = FER2013.to_canonical(int(row[ie]))
                except ValueError as e:
                    self.report(file, n, f"emotion {row[ie]!r}: {e}")
                    continue
                px = parse_pixels(row[ip])
                if px is None:
                    self.report(file, n, f"pixels are not {SIDE * SIDE} values in 0..255")
                    continue
                extra = {"row": n, "usage": usage, "pixels": len(pixels)}
                items.append(FaceItem(file, expression, extra=extra))
                pixels.append(px)
        self.pixels = np.stack(pixels) if pixels else np.zeros((0, SIDE, SIDE), np.uint8)
        return items
