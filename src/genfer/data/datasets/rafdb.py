"""RAF-DB basic (Real-world Affective Faces, single-label subset), as its owners ship it.

Layout (``root`` is ``basic/``, or its parent holding ``basic/``)::

    EmoLabel/list_patition_label.txt     "train_00001.jpg 5" per line (sic: "patition")
    Image/aligned/train_00001_aligned.jpg   100x100 aligned faces
    Image/original/train_00001.jpg          the original photos

Labels 1..7 = surprise, fear, disgust, happiness, sadness, anger, neutral (``labels.RAFDB``).
Splits come from the file name prefix: ``train`` (12,271) and ``test`` (3,068); ``val`` is an
alias of ``test`` (RAF-DB has no separate validation set). ``images="aligned"`` (default) reads
``Image/aligned`` and falls back to ``Image/original`` for files missing there;
``images="original"`` reads only the originals. No identities.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from genfer.core.registry import DATASETS
from genfer.data.base import FaceDataset, FaceItem, index_lines
from genfer.data.labels import RAFDB

LABEL_FILE = Path("EmoLabel") / "list_patition_label.txt"


@DATASETS.register("rafdb")
class RafDB(FaceDataset):
    """RAF-DB basic. Extra option: ``images`` = ``"aligned"`` (fallback original) or ``"original"``."""

    name = "rafdb"
    splits = ("train", "test")
    split_aliases: ClassVar[dict[str, str]] = {"val": "test"}

    def __init__(self, root, split="train", channels=3, *, images: str = "aligned", **kwargs) -> None:
        if images not in ("aligned", "original"):
            raise ValueError(f"rafdb: images must be 'aligned' or 'original', got {images!r}")
        self.images = images
        super().__init__(root, split, channels, **kwargs)

    def _load_items(self) -> list[FaceItem]:
        base = self.root / "basic" if (self.root / "basic" / LABEL_FILE).exists() else self.root
        label_file = base / LABEL_FILE
        if not label_file.exists():
            raise FileNotFoundError(f"rafdb: no {LABEL_FILE} under {self.root} (expected RAF-DB's basic/)")
        aligned, original = base / "Image" / "aligned", base / "Image" / "original"
        items: list[FaceItem] = []
        seen: dict[str, int] = {}
        for n, line in index_lines(label_file):
            parts = line.split()
            if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
                self.report(label_file, n, f"expected '<name>.jpg <label 1..7>', got {line!r}")
                continue
            name, label = parts[0], int(parts[1])
            if name in seen:
                self.report(label_file, n, f"duplicate entry {name!r} (first on line {seen[name]})")
                continue
            seen[name] = n
            if not name.startswith(self.split + "_"):
                continue
            try:
                expression = RAFDB.to_canonical(label)
            except ValueError as e:
                self.report(label_file, n, f"{name}: {e}")
                continue
            stem = Path(name).stem
            candidates = [original / name]
            if self.images == "aligned":
                candidates.insert(0, aligned / f"{stem}_aligned{Path(name).suffix}")
            path = next((p for p in candidates if self.exists(p)), None)
            if path is None:
                looked = ", ".join(map(str, candidates))
                self.report(label_file, n, f"image for {name!r} not found (looked for {looked})")
                continue
            items.append(FaceItem(path, expression, extra={"name": name, "label": label}))
        return items
