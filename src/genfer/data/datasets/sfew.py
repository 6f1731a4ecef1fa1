"""SFEW 2.0 (Static Facial Expressions in the Wild): movie frames in class folders.

Layout::

    Train/{Angry,Disgust,Fear,Happy,Neutral,Sad,Surprise}/*.png
    Val/{Angry,...}/*.png

Folder names are matched case-insensitively, also when the class folders sit one level down
(e.g. ``Train/Train_Aligned_Faces/Angry``). Class names map by name to the canonical taxonomy
(Angry -> anger, Happy -> happiness, Sad -> sadness ...). Splits: ``train`` and ``val``; the
test labels were never released, so ``test`` is an alias of ``val`` (as published results use).
No identities.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from genfer.core.registry import DATASETS
from genfer.data.base import FaceDataset, FaceItem
from genfer.data.datasets._layout import find_dir, subdirs
from genfer.data.datasets.folder import class_folder_items
from genfer.data.labels import expression_index

SPLIT_NAMES = {"train": "Train", "val": "Val"}


@DATASETS.register("sfew")
class SFEW(FaceDataset):
    """SFEW 2.0 class folders."""

    name = "sfew"
    splits = ("train", "val")
    split_aliases: ClassVar[dict[str, str]] = {"test": "val"}

    def _load_items(self) -> list[FaceItem]:
        split_dir = find_dir(self.root, SPLIT_NAMES[self.split])
        if split_dir is None:
            raise FileNotFoundError(f"sfew: no {SPLIT_NAMES[self.split]}/ folder under {self.root}")
        return class_folder_items(self, _class_parent(split_dir), None)


def _class_parent(d: Path) -> Path:
    """``d`` if it holds class folders, else its first sub-folder that does."""
    if _has_classes(d):
        return d
    return next((s for s in subdirs(d) if _has_classes(s)), d)


def _has_classes(d: Path) -> bool:
    for s in subdirs(d):
        try:
            expression_index(s.name)
            return True
        except KeyError:
            continue
    return False
