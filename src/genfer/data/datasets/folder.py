"""Generic readers: class folders (ImageFolder style) or a CSV list of ``path,label``.

Folder mode (``root`` is a folder)::

    root/train/<class>/*.jpg   root/val/<class>/...   root/test/<class>/...
    or root/<class>/*.jpg        (no split folders: this is the ``train`` split and ``all``)

Split folders are matched case-insensitively (``train``/``training``, ``val``/``valid``/
``validation``, ``test``/``testing``); ``all`` is every split folder. Class folder names map to
the canonical taxonomy by name (``happy``, ``Happiness``, ``angry``, ``contempt`` ...; see
``labels.expression_index``). Numbered class folders need ``label_map`` naming their order:
``"canonical"`` (0 neutral .. 7 contempt, also AffectNet's), ``"rafdb"`` (1..7, the common
``raf-db/train/1..7`` copies), ``"fer2013"``, ``"ckplus"``, ``"ferplus"``, ``"multipie"``. Images
are found recursively inside each class folder.

CSV mode (``root`` is a ``.csv``/``.txt`` file, or ``list_file=`` names one inside ``root``): rows
``path,label[,split[,subject]]``, with an optional header using those names (``expression`` is
accepted for ``label``). Paths are relative to ``images`` (default: the list's folder). Labels
are class names, numbers (through ``label_map``, default canonical) or empty (unknown). Without
a split column every row belongs to ``train``/``all``. A ``subject`` column gives identities.
"""

from __future__ import annotations

import csv
from pathlib import Path

from genfer.core.registry import DATASETS
from genfer.data.base import DatasetIndexError, FaceDataset, FaceItem
from genfer.data.datasets._layout import list_images, subdirs
from genfer.data.io import IMAGE_EXTENSIONS
from genfer.data.labels import EXPRESSIONS, LABEL_MAPS, UNKNOWN, LabelMap, expression_index

SPLIT_DIRS = {
    "train": ("train", "training"),
    "val": ("val", "valid", "validation"),
    "test": ("test", "testing"),
}
CANONICAL = LabelMap("canonical", EXPRESSIONS)
HEADER_WORDS = {"path", "file", "image", "label", "expression", "split", "subject"}


def resolve_label_map(name: str | None) -> LabelMap | None:
    """``None``, ``"canonical"`` or a ``labels.LABEL_MAPS`` name to a LabelMap."""
    if name is None:
        return None
    if name == "canonical":
        return CANONICAL
    try:
        return LABEL_MAPS[name]
    except KeyError:
        raise ValueError(f"unknown label_map {name!r}; known: canonical, {', '.join(LABEL_MAPS)}") from None


def class_label(name: str, label_map: LabelMap | None) -> int:
    """Canonical label of a class folder or CSV label (raises KeyError/ValueError with the reason)."""
    s = name.strip()
    if s.lstrip("-").isdigit():
        if label_map is None:
            known = ", ".join(("canonical", *LABEL_MAPS))
            raise ValueError(f"class {s!r} is a number; pass label_map= ({known}) to say whose order")
        return label_map.to_canonical(int(s))
    return expression_index(s)


def class_folder_items(ds: FaceDataset, split_dir: Path, label_map: LabelMap | None) -> list[FaceItem]:
    """Items of ``split_dir/<class>/**/image`` (class folders in sorted order); problems go to ``ds``."""
    items: list[FaceItem] = []
    for d in subdirs(split_dir):
        try:
            label = class_label(d.name, label_map)
        except (KeyError, ValueError) as e:
            ds.report(d, None, f"not a class folder: {e.args[0]}")
            continue
        for f in list_images(d, recursive=True):
            items.append(FaceItem(f, label, extra={"class_folder": d.name}))
    return items


@DATASETS.register("folder")
class ImageFolder(FaceDataset):
    """Class folders or a ``path,label`` CSV. Extra options: ``label_map``, ``list_file``, ``images``."""

    name = "folder"
    splits = ("train", "val", "test", "all")

    def __init__(
        self,
        root,
        split="train",
        channels=3,
        *,
        label_map: str | None = None,
        list_file: str | None = None,
        images: str | None = None,
        **kwargs,
    ) -> None:
        self.label_map = resolve_label_map(label_map)
        self.list_file, self.images = list_file, images
        super().__init__(root, split, channels, **kwargs)

    def _load_items(self) -> list[FaceItem]:
        if self.root.is_file() or self.list_file is not None:
            return self._load_csv(self.root if self.root.is_file() else self.root / self.list_file)
        found = {
            s: d for s, names in SPLIT_DIRS.items() for d in subdirs(self.root) if d.name.lower() in names
        }
        if self.split == "all":
            dirs = [found[s] for s in SPLIT_DIRS if s in found] or [self.root]
        elif self.split in found:
            dirs = [found[self.split]]
        elif not found and self.split == "train":
            dirs = [self.root]
        else:
            have = ", ".join(d.name for d in found.values()) or "none"
            raise FileNotFoundError(f"folder: no {self.split}/ folder in {self.root} (split folders: {have})")
        items = [it for d in dirs for it in class_folder_items(self, d, self.label_map)]
        if not items:  # say why, rather than the base class's bare "no usable items"
            raise DatasetIndexError(self.root, None, f"folder: no usable items for split {self.split!r}: "
                                    f"{_why_no_items(dirs, self.problems)}")
        return items

    def _load_csv(self, file: Path) -> list[FaceItem]:
        if not file.is_file():
            raise FileNotFoundError(f"folder: list file {file} not found")
        base = Path(self.images).expanduser() if self.images else file.parent
        with open(file, newline="", encoding="utf-8-sig") as f:
            rows = [(n, [c.strip() for c in row]) for n, row in enumerate(csv.reader(f), 1) if any(row)]
        if not rows:
            raise ValueError(f"{file}: empty list")
        cols = {"path": 0, "label": 1, "split": 2, "subject": 3}
        if HEADER_WORDS & {c.lower() for c in rows[0][1]}:
            synonyms = {"expression": "label", "file": "path", "image": "path"}
            header = [synonyms.get(c.lower(), c.lower()) for c in rows[0][1]]
            if "path" not in header:
                raise ValueError(f"{file}:1: header has no 'path' column")
            cols = {k: header.index(k) for k in cols if k in header}
            rows = rows[1:]
        has_split = any(len(r) > cols.get("split", 99) for _, r in rows)
        if not has_split and self.split in ("val", "test"):
            raise ValueError(f"{file}: no split column, so there is no {self.split!r} split (only train/all)")
        items: list[FaceItem] = []
        seen: dict[str, int] = {}
        for n, row in rows:
            rec = {k: row[j] if j < len(row) else "" for k, j in cols.items()}
            get = rec.get
            rel = get("path")
            if not rel:
                self.report(file, n, "empty path")
                continue
            if has_split and self.split != "all":
                s = get("split", "").lower()
                s = next((k for k, names in SPLIT_DIRS.items() if s in names), s)
                if s != self.split:
                    continue
            if rel in seen:
                self.report(file, n, f"duplicate entry {rel!r} (first on line {seen[rel]})")
                continue
            seen[rel] = n
            try:
                label = class_label(rec["label"], self.label_map or CANONICAL) if get("label") else UNKNOWN
            except (KeyError, ValueError) as e:
                self.report(file, n, f"label: {e.args[0]}")
                continue
            path = base / rel
            if not self.exists(path):
                self.report(file, n, f"image {path} not found")
                continue
            extra = {"name": rel, "line": n}
            if get("subject"):
                extra["subject"] = get("subject")
            items.append(FaceItem(path, label, extra=extra))
        if not items and self.problems:
            raise DatasetIndexError(file, None, f"folder: no usable items for split {self.split!r}: all "
                                    f"{len(self.problems)} problem entries were skipped, e.g. {self.problems[0]}")
        return items


def _why_no_items(dirs: list[Path], problems: list[str]) -> str:
    """What the class folders under ``dirs`` hold instead of usable images, in words."""
    classes = [c for d in dirs for c in subdirs(d)]
    if not classes:
        loose = sum(len(list_images(d)) for d in dirs)
        return (f"no class folders (expected {dirs[0]}/<class>/*.jpg); "
                + (f"{loose} images lie directly in it, outside any class folder" if loose else "it is empty"))
    if problems and len(problems) >= len(classes):
        return f"no folder is a class folder, e.g. {problems[0]}"
    files = [p for c in classes for p in c.rglob("*") if p.is_file() and not p.name.startswith(".")]
    if not files:
        return f"the class folders ({', '.join(c.name for c in classes[:5])}) hold no files"
    empty = sum(p.stat().st_size == 0 for p in files)
    exts = sorted({p.suffix.lower() or "(none)" for p in files})
    return (f"the class folders hold {len(files)} files ({empty} of them empty, 0 bytes) but none is an image "
            f"by its name (found endings {', '.join(exts[:6])}; images end in {', '.join(IMAGE_EXTENSIONS)})")
