"""AffectNet (manually annotated part), in both layouts its owners have shipped.

CSV layout (``root`` holds both folders)::

    Manually_Annotated_file_lists/training.csv, validation.csv
        subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal
    Manually_Annotated_Images/<subDirectory_filePath>

(a file without the header row is read with that column order). Landmarks are 68 ``x;y;...``
points; valence and arousal are in [-1, 1], -2 where unset.

npy layout (the newer distribution)::

    train_set/images/<N>.jpg   train_set/annotations/<N>_exp.npy, <N>_val.npy, <N>_aro.npy, <N>_lnd.npy
    val_set/...

Expression 0..10 = neutral, happiness, sadness, surprise, fear, disgust, anger, contempt, none,
uncertain, non-face (``labels.AFFECTNET``; canonical order *is* AffectNet's). 8..10 become
``UNKNOWN`` and are dropped unless ``unknown="keep"``; contempt stays unless ``contempt="drop"``
(AffectNet-7). Splits: ``train`` and ``val`` (``test`` is an alias: the validation set is the
test set of every published result). Samples also carry ``valence`` and ``arousal``, and
``landmarks`` (float32 [68, 2]) with ``landmarks=True`` (off by default: 290k arrays cost memory).
No identities.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import ClassVar

import numpy as np

from genfer.core.registry import DATASETS
from genfer.data.base import FaceDataset, FaceItem
from genfer.data.io import is_image_file
from genfer.data.labels import AFFECTNET

CSV_COLUMNS = (
    "subDirectory_filePath", "face_x", "face_y", "face_width", "face_height",
    "facial_landmarks", "expression", "valence", "arousal",
)
CSV_FILES = {"train": "training.csv", "val": "validation.csv"}
NPY_DIRS = {"train": "train_set", "val": "val_set"}


@DATASETS.register("affectnet")
class AffectNet(FaceDataset):
    """AffectNet. Extra option: ``landmarks`` (load the 68 landmarks into each sample)."""

    name = "affectnet"
    splits = ("train", "val")
    split_aliases: ClassVar[dict[str, str]] = {"test": "val"}

    def __init__(self, root, split="train", channels=3, *, landmarks: bool = False, **kwargs) -> None:
        self.landmarks = landmarks
        self.extra_keys = ("valence", "arousal", "landmarks") if landmarks else ("valence", "arousal")
        super().__init__(root, split, channels, **kwargs)

    def _load_items(self) -> list[FaceItem]:
        lists = self.root / "Manually_Annotated_file_lists"
        if lists.is_dir():
            return self._load_csv(lists / CSV_FILES[self.split])
        if (self.root / NPY_DIRS[self.split]).is_dir():
            return self._load_npy(self.root / NPY_DIRS[self.split])
        raise FileNotFoundError(
            f"affectnet: neither Manually_Annotated_file_lists/ nor {NPY_DIRS[self.split]}/ under {self.root}"
        )

    def _label(self, file: Path, line: int, value: str) -> int | None:
        try:
            return AFFECTNET.to_canonical(int(float(value)))
        except ValueError as e:
            self.report(file, line, f"expression {value!r}: {e}")
            return None

    def _load_csv(self, file: Path) -> list[FaceItem]:
        images = self.root / "Manually_Annotated_Images"
        if not file.is_file():
            raise FileNotFoundError(f"affectnet: {file} not found")
        items: list[FaceItem] = []
        seen: dict[str, int] = {}
        with open(file, newline="", encoding="utf-8-sig") as f:
            rows = csv.reader(f)
            first = next(rows, None)
            if first is None:
                raise ValueError(f"{file}: empty file")
            header = [h.strip() for h in first]
            if header[0] == CSV_COLUMNS[0]:
                missing = set(CSV_COLUMNS) - set(header)
                if missing:
                    raise ValueError(f"{file}:1: missing column(s) {', '.join(sorted(missing))}")
                col = {h: header.index(h) for h in CSV_COLUMNS}
                body = enumerate(rows, 2)
            else:  # no header row: the documented column order
                col = {h: j for j, h in enumerate(CSV_COLUMNS)}
                body = enumerate([first, *rows], 1)
            for n, row in body:
                if not row or not "".join(row).strip():
                    continue
                if len(row) < len(CSV_COLUMNS):
                    self.report(file, n, f"{len(row)} fields, expected {len(CSV_COLUMNS)}")
                    continue
                rel = row[col["subDirectory_filePath"]].strip()
                if rel in seen:
                    self.report(file, n, f"duplicate entry {rel!r} (first on line {seen[rel]})")
                    continue
                seen[rel] = n
                expression = self._label(file, n, row[col["expression"]])
                if expression is None:
                    continue
                path = images / rel
                if not self.exists(path):
                    self.report(file, n, f"image {path} not found")
                    continue
                try:
                    extra = {
                        "name": rel,
                        "valence": float(row[col["valence"]]),
                        "arousal": float(row[col["arousal"]]),
                        "box": tuple(int(float(row[col[k]])) for k in CSV_COLUMNS[1:5]),
                    }
                    if self.landmarks:
                        pts = [float(v) for v in row[col["facial_landmarks"]].split(";") if v.strip()]
                        extra["landmarks"] = np.asarray(pts, dtype=np.float32).reshape(-1, 2)
                except ValueError as e:
                    self.report(file, n, f"malformed number ({e})")
                    continue
                items.append(FaceItem(path, expression, extra=extra))
        return items

    def _load_npy(self, base: Path) -> list[FaceItem]:
        images, ann = base / "images", base / "annotations"
        names = sorted(
            (e.name for e in os.scandir(images) if e.is_file() and is_image_file(e.name)),
            key=lambda s: (len(Path(s).stem), s),  # numeric stems in numeric order
        )
        items: list[FaceItem] = []
        for name in names:
            stem = Path(name).stem
            exp_file = ann / f"{stem}_exp.npy"
            try:
                raw = {k: np.load(ann / f"{stem}_{k}.npy", allow_pickle=False) for k in ("exp", "val", "aro")}
                if self.landmarks:
                    raw["lnd"] = np.load(ann / f"{stem}_lnd.npy", allow_pickle=False)
            except (OSError, ValueError) as e:
                self.report(exp_file, None, f"annotation of {name} missing or unreadable ({e})")
                continue
            expression = self._label(exp_file, None, str(raw["exp"].reshape(-1)[0]))
            if expression is None:
                continue
            extra = {
                "name": name,
                "valence": float(str(raw["val"].reshape(-1)[0])),
                "arousal": float(str(raw["aro"].reshape(-1)[0])),
            }
            if self.landmarks:
                extra["landmarks"] = raw["lnd"].astype(np.float32).reshape(-1, 2)
            items.append(FaceItem(images / name, expression, extra=extra))
        return items
