"""EmotioNet as the AU-conditioned GAN seed prepared it: OpenFace FeatureExtraction output.

Layout (one or more ``<subdir>`` batches under ``root``; ``root`` may also be one batch)::

    root/<subdir>/processed/EmotioNet.csv                         OpenFace 2.x FeatureExtraction CSV
    root/<subdir>/processed/EmotioNet_aligned/frame_det_00_000001.bmp   aligned faces, by frame

Rows with ``success == 0`` are dropped (``genfer.data.aus.read_openface_csv``); the image of a row
is ``frame_det_<face_id:02d>_<frame:06d>.bmp``. Samples carry ``aus`` (float32 [17], ``AU_NAMES``
order): OpenFace's ``AUxx_r`` intensities 0..5 by default, or its ``AUxx_c`` presence 0/1 with
``aus="presence"`` (what the seed trained on). No expression labels, no identities, no official
split: ``train`` and ``all`` are everything, in batch-folder then frame order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genfer.core.registry import DATASETS
from genfer.data.aus import AU_NAMES, read_openface_csv
from genfer.data.base import FaceDataset, FaceItem
from genfer.data.datasets._layout import subdirs

CSV_NAME = "EmotioNet.csv"
ALIGNED = "EmotioNet_aligned"


@DATASETS.register("emotionet")
class EmotioNet(FaceDataset):
    """EmotioNet via OpenFace. Extra option: ``aus`` = ``"intensity"`` (AUxx_r) or ``"presence"`` (AUxx_c)."""

    name = "emotionet"
    splits = ("train", "all")
    has_aus = True
    labelled = False

    def __init__(self, root, split="train", channels=3, *, aus: str = "intensity", **kwargs) -> None:
        if aus not in ("intensity", "presence"):
            raise ValueError(f"emotionet: aus must be 'intensity' or 'presence', got {aus!r}")
        self.au_values = aus
        super().__init__(root, split, channels, **kwargs)

    def _csv_files(self) -> list[Path]:
        candidates = [self.root / CSV_NAME, self.root / "processed" / CSV_NAME]
        candidates += [d / "processed" / CSV_NAME for d in subdirs(self.root)]
        found = [p for p in candidates if p.is_file()]
        if not found:
            raise FileNotFoundError(f"emotionet: no <subdir>/processed/{CSV_NAME} under {self.root}")
        return found

    def _load_items(self) -> list[FaceItem]:
        items: list[FaceItem] = []
        for csv_file in self._csv_files():
            table = read_openface_csv(csv_file, success_only=True)
            values = table.intensity if self.au_values == "intensity" else table.presence
            suffix = "_r" if self.au_values == "intensity" else "_c"
            missing = [a for a in AU_NAMES if f"{a}{suffix}" not in table.columns]
            if missing:
                self.report(csv_file, 1, f"no {suffix} column for {', '.join(missing)}")
                continue
            for k in range(len(table)):
                frame, face = int(table.frame[k]), int(table.face_id[k])
                path = csv_file.parent / ALIGNED / f"frame_det_{face:02d}_{frame:06d}.bmp"
                if not self.exists(path):
                    self.report(csv_file, None, f"frame {frame}: aligned image {path} not found")
                    continue
                if np.isnan(values[k]).any():
                    self.report(csv_file, None, f"frame {frame}: AU values missing")
                    continue
                extra = {"frame": frame, "face_id": face, "confidence": float(table.confidence[k])}
                items.append(FaceItem(path, aus=values[k].astype(np.float32), extra=extra))
        return items
