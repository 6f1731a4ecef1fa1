"""FFHQ (Flickr-Faces-HQ): 70,000 aligned faces, no labels.

Layout as NVIDIA ships it::

    images1024x1024/00000/00000.png ... 69000/69999.png
    thumbnails128x128/00000/00000.png ...
    ffhq-dataset-v2.json   (not needed)

``resolution="1024"`` or ``"128"`` picks the folder; the default takes ``images1024x1024`` when
present, else ``thumbnails128x128``, else any PNGs under ``root`` (e.g. a resized copy). Images
are ordered by their number. Splits follow the metadata's categories: ``train`` = images
0..59,999 ("training"), ``val`` = 60,000..69,999 ("validation"; ``test`` is an alias), ``all``.
No expression labels, no identities.
"""

from __future__ import annotations

from typing import ClassVar

from genfer.core.registry import DATASETS
from genfer.data.base import FaceDataset, FaceItem
from genfer.data.datasets._layout import frame_number, list_images

FOLDERS = {"1024": "images1024x1024", "128": "thumbnails128x128"}
TRAIN_IMAGES = 60_000


@DATASETS.register("ffhq")
class FFHQ(FaceDataset):
    """FFHQ. Extra option: ``resolution`` = ``"auto"``, ``"1024"`` or ``"128"``."""

    name = "ffhq"
    splits = ("train", "val", "all")
    split_aliases: ClassVar[dict[str, str]] = {"test": "val"}
    labelled = False

    def __init__(self, root, split="train", channels=3, *, resolution: str | int = "auto", **kwargs) -> None:
        self.resolution = str(resolution)
        if self.resolution not in ("auto", *FOLDERS):
            raise ValueError(f"ffhq: resolution must be auto, 1024 or 128, got {resolution!r}")
        super().__init__(root, split, channels, **kwargs)

    def _load_items(self) -> list[FaceItem]:
        if self.resolution == "auto":
            base = next((self.root / f for f in FOLDERS.values() if (self.root / f).is_dir()), self.root)
        else:
            base = self.root / FOLDERS[self.resolution]
        files = [f for f in list_images(base, recursive=True) if f.suffix.lower() == ".png"]
        if not files:
            raise FileNotFoundError(f"ffhq: no PNG images under {base}")
        items: list[FaceItem] = []
        for f in sorted(files, key=lambda p: (frame_number(p), p.name)):
            number = frame_number(f)
            if number < 0:
                self.report(f, None, "file name is not an image number (00000.png ...)")
                continue
            in_train = number < TRAIN_IMAGES
            if self.split == "all" or in_train == (self.split == "train"):
                items.append(FaceItem(f, extra={"number": number}))
        return items
