"""CASIA-WebFace: a face-identity tree, one folder per identity.

Layout: ``root/<7-digit id>/<NNN>.jpg`` (e.g. ``0000045/001.jpg``; 10,575 identities, 494,414
images, 250x250). The identity label is the index of the folder name in sorted order, so the
first ``max_identities`` folders give labels 0..max_identities-1 (TDGAN trains on the first 20);
``identity_names`` keeps the folder names. Images are listed in sorted file-name order. No
expression labels (``UNKNOWN``). CASIA-WebFace has no official split: ``train`` and ``all`` are
the whole tree.
"""

from __future__ import annotations

import os

from genfer.core.registry import DATASETS
from genfer.data.base import FaceDataset, FaceItem
from genfer.data.io import is_image_file


@DATASETS.register("casia")
class CasiaWebFace(FaceDataset):
    """CASIA-WebFace. Extra option: ``max_identities`` keeps only the first N sorted folders."""

    name = "casia"
    splits = ("train", "all")
    labelled = False

    def __init__(
        self, root, split="train", channels=3, *, max_identities: int | None = None, **kwargs
    ) -> None:
        if max_identities is not None and max_identities < 1:
            raise ValueError(f"casia: max_identities must be >= 1, got {max_identities}")
        self.max_identities = max_identities
        super().__init__(root, split, channels, **kwargs)

    def _load_items(self) -> list[FaceItem]:
        base = self.root / "CASIA-WebFace" if (self.root / "CASIA-WebFace").is_dir() else self.root
        folders = sorted(e.name for e in os.scandir(base) if e.is_dir() and not e.name.startswith("."))
        if not folders:
            raise FileNotFoundError(f"casia: no identity folders under {base} (expected <id>/NNN.jpg)")
        if self.max_identities is not None:
            folders = folders[: self.max_identities]
        items: list[FaceItem] = []
        for name in folders:
            files = sorted(e.name for e in os.scandir(base / name) if e.is_file() and is_image_file(e.name))
            if not files:
                self.report(base / name, None, "identity folder holds no images")
                continue
            items.extend(FaceItem(base / name / f, extra={"subject": name}) for f in files)
        return items
