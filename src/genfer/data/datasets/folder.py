"""Generic readers: class folders (ImageFolder style) or a CSV list of ``path,label``.

Folder mode (``root`` is a folder)::

    root/train/<class>/*.jpg   root/val/<class>/...   root/test/<class>/...
    or root/<class>/*.jpg        (no split folders: this is the ``train`` split and ``all``)

A folder holding images and no class folders (``root/*.jpg``, or ``root/train/*.jpg``; other
sub-folders, such as OpenFace output, are ignored) is an unlabelled set: its images have
expression ``UNKNOWN`` and load without ``unknown="keep"``;
``labels="none"`` treats every image below the split folder (recursively) so, whatever the
sub-folders are called.

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

Action Units (``aus=PATH``, relative to the folder, or absolute): OpenFace 2.x output for the
images, giving samples ``aus`` (float32 [17], ``AUxx_r`` intensities 0..5, ``AU_NAMES`` order):

- a folder of per-image CSVs ``<image stem>.csv`` (FaceLandmarkImg ``-fdir``); of several faces
  the most confident successful row counts;
- one CSV file (FeatureExtraction ``-fdir`` over a flat image folder): row ``frame`` k belongs to
  the k-th image in sorted file-name order, so it needs one row per image of one folder.

Images OpenFace failed on (``success`` 0) are left out, as in ``emotionet``; an image without a
CSV or row, or a row without all 17 ``AUxx_r`` columns, is an index problem.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from genfer.core.registry import DATASETS
from genfer.data.aus import read_openface_csv
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


def _is_class(name: str, label_map: LabelMap | None) -> bool:
    try:
        class_label(name, label_map)
    except (KeyError, ValueError):
        return False
    return True


@DATASETS.register("folder")
class ImageFolder(FaceDataset):
    """Class folders, an unlabelled image folder or a ``path,label`` CSV.

    Extra options: ``label_map``, ``list_file``, ``images``, ``labels`` (``"auto"`` or ``"none"``),
    ``aus`` (OpenFace output for the images; see the module docstring).
    """

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
        labels: str = "auto",
        aus: str | None = None,
        **kwargs,
    ) -> None:
        if labels not in ("auto", "none"):
            raise ValueError(f"folder: labels must be 'auto' or 'none', got {labels!r}")
        self.label_map = resolve_label_map(label_map)
        self.list_file, self.images, self.labels, self.aus = list_file, images, labels, aus
        self.has_aus = aus is not None
        super().__init__(root, split, channels, **kwargs)

    def _load_items(self) -> list[FaceItem]:
        items = self._load_labelled_items()
        if all(it.expression == UNKNOWN for it in items):
            self.labelled = False  # a set without labels: keep its images under unknown="drop"
        if self.aus is not None:
            items = self._attach_aus(items)
        return items

    def _load_labelled_items(self) -> list[FaceItem]:
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
        if self.labels == "none":
            return [FaceItem(f, extra={"name": f.name}) for d in dirs for f in list_images(d, recursive=True)]
        items = []
        for d in dirs:
            loose = list_images(d)
            if loose and not any(_is_class(sub.name, self.label_map) for sub in subdirs(d)):
                items += [FaceItem(f, extra={"name": f.name}) for f in loose]
            else:
                items += class_folder_items(self, d, self.label_map)
        if not items:  # say why, rather than the base class's bare "no usable items"
            raise DatasetIndexError(self.root, None, f"folder: no usable items for split {self.split!r}: "
                                    f"{_why_no_items(dirs, self.problems)}")
        return items

    def _attach_aus(self, items: list[FaceItem]) -> list[FaceItem]:
        base = self.root.parent if self.root.is_file() else self.root
        source = Path(self.aus).expanduser()
        source = source if source.is_absolute() else base / source
        if source.is_dir():
            rows = {it.path: self._aus_of_image(source / f"{it.path.stem}.csv", it.path) for it in items}
        elif source.is_file():
            rows = self._aus_by_frame(source, items)
        else:
            raise FileNotFoundError(f"folder: OpenFace output {source} not found")
        kept = []
        for it in items:
            aus = rows.get(it.path)
            if aus is not None:
                it.aus = aus
                kept.append(it)
        return kept

    def _aus_of_image(self, csv_file: Path, image: Path) -> np.ndarray | None:
        """AUs of the most confident successful face in a per-image CSV (None: failed or missing)."""
        if not csv_file.is_file():
            self.report(csv_file, None, f"no OpenFace CSV for {image.name}")
            return None
        table = read_openface_csv(csv_file, success_only=True)
        if len(table) == 0:
            return None  # OpenFace found no face: left out, not a problem of the index
        best = int(np.nanargmax(np.nan_to_num(table.confidence, nan=-1.0)))
        return self._checked(csv_file, best + 1, table.intensity[best])

    def _aus_by_frame(self, csv_file: Path, items: list[FaceItem]) -> dict[Path, np.ndarray | None]:
        """A FeatureExtraction CSV over a flat folder: frame k is the k-th image by file name."""
        folders = {it.path.parent for it in items}
        if len(folders) > 1:
            raise ValueError(
                f"{csv_file}: one OpenFace CSV pairs rows with images by order, which needs one flat folder "
                f"(images are in {len(folders)}); give aus= a folder of per-image CSVs instead"
            )
        table = read_openface_csv(csv_file, success_only=False)
        ordered = sorted(items, key=lambda it: it.path.name)
        if len(table) != len(ordered):
            self.report(csv_file, None, f"{len(table)} rows for {len(ordered)} images; expected one row per image")
            return {}
        out: dict[Path, np.ndarray | None] = {}
        for k in range(len(table)):
            frame = int(table.frame[k])
            if not 1 <= frame <= len(ordered):
                self.report(csv_file, k + 2, f"frame {frame} outside 1..{len(ordered)}")
                continue
            path = ordered[frame - 1].path
            out[path] = self._checked(csv_file, k + 2, table.intensity[k]) if table.success[k] else None
        return out

    def _checked(self, csv_file: Path, line: int, aus: np.ndarray) -> np.ndarray | None:
        if np.isnan(aus).any():
            self.report(csv_file, line, "AU intensities (AUxx_r) missing")
            return None
        return aus.astype(np.float32)

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
