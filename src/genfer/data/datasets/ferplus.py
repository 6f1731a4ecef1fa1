"""FERPlus: FER2013 images relabelled by 10 crowd votes each (Barsoum et al., Microsoft).

Layout (``root`` holds the label file and either the image folders or ``fer2013.csv``)::

    fer2013new.csv   Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,
                     contempt,unknown,NF
    FER2013Train/fer0000000.png, FER2013Valid/..., FER2013Test/...  (as FERPlus's generator writes them)
    fer2013.csv      pixels, used when the image folders are absent (rows align with fer2013new.csv)

Rows with an empty ``Image name`` are not faces in FERPlus and are left out. Splits from
``Usage``: ``train`` = Training, ``val`` = PublicTest, ``test`` = PrivateTest, ``all``.

Label modes (``mode``), after dropping every single vote (FERPlus's outlier rule):

- ``majority`` (default): the column holding more than half of the remaining votes; no such
  column, or ``unknown``/``NF`` winning, gives ``UNKNOWN`` (dropped unless ``unknown="keep"``).
- ``probability``: samples carry ``expression_probs``, float32 [8] in *canonical* order, the
  share of the remaining votes of each emotion (``unknown``/``NF`` votes excluded); the hard
  label is the most-voted column (first column on ties), ``UNKNOWN`` if that is ``unknown``/``NF``
  or no emotion vote remains.

Canonical labels come from ``labels.FERPLUS`` (the vote columns are *not* in canonical order).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from genfer.core.registry import DATASETS
from genfer.data.base import FaceItem
from genfer.data.datasets.fer2013 import USAGE, PixelCSVDataset, find_csv, parse_pixels
from genfer.data.labels import FERPLUS, FERPLUS_COLUMNS, UNKNOWN

FOLDERS = {"Training": "FER2013Train", "PublicTest": "FER2013Valid", "PrivateTest": "FER2013Test"}
CANONICAL_OF_COLUMN = np.array([FERPLUS.to_canonical(j) for j in range(8)])


def ferplus_label(votes: np.ndarray, mode: str) -> tuple[int, np.ndarray]:
    """Canonical label and canonical-order emotion shares float32 [8] from 10 vote counts."""
    v = np.where(votes <= 1, 0.0, votes.astype(np.float64))  # single votes are outliers
    probs = np.zeros(8, dtype=np.float32)
    emotion_total = v[:8].sum()
    if emotion_total > 0:
        probs[CANONICAL_OF_COLUMN] = v[:8] / emotion_total
    total = v.sum()
    if total == 0:
        return UNKNOWN, probs
    top = int(np.argmax(v))
    if mode == "majority" and v[top] <= 0.5 * total:
        return UNKNOWN, probs
    if top >= 8 or emotion_total == 0:
        return UNKNOWN, probs
    return int(CANONICAL_OF_COLUMN[top]), probs


@DATASETS.register("ferplus")
class FERPlus(PixelCSVDataset):
    """FERPlus. Extra option: ``mode`` = ``"majority"`` or ``"probability"`` (see module docs)."""

    name = "ferplus"
    splits = ("train", "val", "test", "all")

    def __init__(self, root, split="train", channels=3, *, mode: str = "majority", **kwargs) -> None:
        if mode not in ("majority", "probability"):
            raise ValueError(f"ferplus: mode must be 'majority' or 'probability', got {mode!r}")
        self.mode = mode
        self.extra_keys = ("expression_probs",) if mode == "probability" else ()
        super().__init__(root, split, channels, **kwargs)

    def _load_items(self) -> list[FaceItem]:
        file = find_csv(self.root, "fer2013new.csv")
        base = file.parent
        use_folders = any((base / d).is_dir() for d in FOLDERS.values())
        pixel_rows = None if use_folders else self._fer2013_pixels(base)
        items: list[FaceItem] = []
        pixels: list[np.ndarray] = []
        with open(file, newline="", encoding="utf-8-sig") as f:
            rows = csv.reader(f)
            header = [h.strip() for h in next(rows, [])]
            missing = [c for c in ("Usage", "Image name", *FERPLUS_COLUMNS) if c not in header]
            if missing:
                raise ValueError(f"{file}:1: missing column(s) {', '.join(missing)}")
            iu, iname = header.index("Usage"), header.index("Image name")
            ivotes = [header.index(c) for c in FERPLUS_COLUMNS]
            for k, row in enumerate(rows):
                n = k + 2
                if len(row) != len(header):
                    self.report(file, n, f"{len(row)} fields, expected {len(header)}")
                    continue
                usage, name = row[iu].strip(), row[iname].strip()
                if not name:
                    continue  # FERPlus marks non-faces by an empty name
                if usage not in USAGE:
                    self.report(file, n, f"unknown Usage {usage!r}; known: {', '.join(USAGE)}")
                    continue
                if self.split != "all" and USAGE[usage] != self.split:
                    continue
                try:
                    votes = np.array([float(row[j]) for j in ivotes])
                except ValueError:
                    self.report(file, n, "vote counts are not numbers")
                    continue
                expression, probs = ferplus_label(votes, self.mode)
                extra = {"name": name, "usage": usage, "votes": votes, "expression_probs": probs, "row": n}
                if pixel_rows is None:
                    path = base / FOLDERS[usage] / name
                    if not self.exists(path):
                        self.report(file, n, f"image {path} not found")
                        continue
                else:
                    path = pixel_rows[0]
                    if k >= len(pixel_rows[1]) or pixel_rows[1][k] is None:
                        self.report(file, n, f"no valid pixels on the matching row of {path}")
                        continue
                    extra["pixels"] = len(pixels)
                    pixels.append(pixel_rows[1][k])
                items.append(FaceItem(path, expression, extra=extra))
        self.pixels = np.stack(pixels) if pixels else np.zeros((0, 48, 48), np.uint8)
        return items

    def _fer2013_pixels(self, base: Path) -> tuple[Path, list[np.ndarray | None]]:
        try:
            src = find_csv(base, "fer2013.csv")
        except FileNotFoundError:
            raise FileNotFoundError(
                f"ferplus: no FER2013Train/Valid/Test folders and no fer2013.csv for pixels in {base}"
            ) from None
        with open(src, newline="", encoding="utf-8-sig") as f:
            rows = csv.reader(f)
            header = [h.strip() for h in next(rows, [])]
            if "pixels" not in header:
                raise ValueError(f"{src}:1: missing column 'pixels'")
            ip = header.index("pixels")
            return src, [parse_pixels(r[ip]) if len(r) > ip else None for r in rows]
