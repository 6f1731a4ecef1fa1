"""GANimation's data format: an image folder plus ``aus_openface.pkl``.

Layout::

    root/imgs/<name>.jpg            face crops
    root/aus_openface.pkl           {name stem: 17 OpenFace AU_r intensities (AU_NAMES order)}
    root/train_ids.csv, test_ids.csv  optional: one image name per line (with or without extension)

The pickle is read safely (``genfer.data.aus.read_ganimation_pkl``). Splits: ``train``/``test``
from the id lists when present; ``all`` (and, without lists, ``train``) is every pkl entry that
has an image, in sorted name order. Samples carry ``aus`` (float32 [17], 0..5). No expression
labels, no identities. A listed image without a pkl entry (or the reverse) is an index problem,
reported with the file that names it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genfer.core.registry import DATASETS
from genfer.data.aus import NUM_AUS, read_ganimation_pkl
from genfer.data.base import FaceDataset, FaceItem, index_lines
from genfer.data.datasets._layout import list_images


@DATASETS.register("ganimation")
class GANimationData(FaceDataset):
    """GANimation ``imgs/`` + ``aus_openface.pkl``. Extra option: ``pkl`` (another pkl file name/path)."""

    name = "ganimation"
    splits = ("train", "test", "all")
    has_aus = True
    labelled = False

    def __init__(self, root, split="train", channels=3, *, pkl: str = "aus_openface.pkl", **kwargs) -> None:
        self.pkl = pkl
        super().__init__(root, split, channels, **kwargs)

    def _load_items(self) -> list[FaceItem]:
        pkl = self.root / self.pkl
        if not pkl.is_file():
            raise FileNotFoundError(f"ganimation: {pkl} not found")
        table = read_ganimation_pkl(pkl)
        images = {p.stem: p for p in list_images(self.root / "imgs")}
        if not images:
            raise FileNotFoundError(f"ganimation: no images in {self.root / 'imgs'}")
        lists = {s: self.root / f"{s}_ids.csv" for s in ("train", "test")}
        if self.split != "all" and lists[self.split].is_file():
            entries = [(lists[self.split], n, Path(line.split(",")[0].strip()).stem)
                       for n, line in index_lines(lists[self.split])]
        elif self.split == "test":
            raise FileNotFoundError(f"ganimation: split 'test' needs {lists['test']}")
        else:
            entries = [(pkl, None, stem) for stem in sorted(table)]
        items: list[FaceItem] = []
        for file, n, stem in entries:
            if stem not in table:
                self.report(file, n, f"{stem!r} has no entry in {pkl.name}")
                continue
            if stem not in images:
                self.report(file, n, f"{stem!r}: no image in {self.root / 'imgs'}")
                continue
            aus = table[stem]
            if aus.shape != (NUM_AUS,):
                self.report(file, n, f"{stem!r}: {aus.size} AU values in {pkl.name}, expected {NUM_AUS}")
                continue
            items.append(FaceItem(images[stem], aus=aus.astype(np.float32), extra={"name": stem}))
        return items
