"""CMU Multi-PIE: expressions by session and recording, in the raw tree or JESRL's lists.

Raw tree (``root`` holds ``data/`` or the ``session0X`` folders)::

    data/session01/multiview/001/01/05_1/001_01_01_051_07.png
         session<SS>/multiview/<subject>/<recording>/<camera>/<subject>_<SS>_<RR>_<camera digits>_<illum>.png

The expression of a (session, recording) is fixed (``labels.MULTIPIE_RECORDINGS``): S1 01
neutral, 02 smile; S2 01 neutral, 02 surprise, 03 squint; S3 01 neutral, 02 smile, 03 disgust;
S4 01 neutral, 02 neutral, 03 scream. ``cameras`` (default ``("05_1",)``, frontal) and
``illuminations`` (flash numbers 0..19; default all) filter the views. Subjects (``001``...) are
identities in sorted order; no official split, so ``train``/``test`` are subject-independent folds.

JESRL lists (``root`` is JESRL's ``dataset/multipie``)::

    list_attr_multipie_train.txt, list_attr_multipie_test.txt
        line 1: count; line 2: "disgust scream smile squint surprise neutral";
        then rows "train_0001.jpg -1 -1 1 -1 -1 -1"
    images.list       "<name> <label 0..5>" (used when the attr lists are absent; split by name prefix)
    align_5p/<name>   the aligned images

Splits ``train``/``test``/``all`` come from the files; no identities.

Labels: ``labels="canonical"`` (default) maps smile -> happiness and keeps neutral, surprise and
disgust; scream and squint have no canonical class and become ``UNKNOWN`` (dropped unless
``unknown="keep"``). ``labels="native"`` yields JESRL's 6 classes 0..5 = disgust, scream, smile,
squint, surprise, neutral (``labels.MULTIPIE_CLASSES``; ``class_names`` says which).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from genfer.core.registry import DATASETS
from genfer.data.base import FaceDataset, FaceItem, index_lines
from genfer.data.datasets._layout import list_images, subdirs
from genfer.data.labels import MULTIPIE, MULTIPIE_CLASSES, MULTIPIE_RECORDINGS

RAW_NAME = re.compile(r"^(\d{3})_(\d{2})_(\d{2})_(\d{3})_(\d{2})$")
SESSION = re.compile(r"^session0?(\d)$", re.IGNORECASE)


@DATASETS.register("multipie")
class MultiPIE(FaceDataset):
    """Multi-PIE. Extra options: ``labels``, ``cameras``, ``illuminations``."""

    name = "multipie"
    splits = ("all", "train", "test")

    def __init__(
        self,
        root,
        split="train",
        channels=3,
        *,
        labels: str = "canonical",
        cameras: Sequence[str] = ("05_1",),
        illuminations: Sequence[int] | None = None,
        **kwargs,
    ) -> None:
        if labels not in ("canonical", "native"):
            raise ValueError(f"multipie: labels must be 'canonical' or 'native', got {labels!r}")
        self.labels = labels
        self.cameras = (cameras,) if isinstance(cameras, str) else tuple(cameras)
        self.illuminations = None if illuminations is None else {int(i) for i in illuminations}
        root_path = Path(root).expanduser()
        self.layout = "jesrl" if _jesrl_files(root_path) else "raw"
        self.subject_protocol = self.layout == "raw"
        super().__init__(root, split, channels, **kwargs)

    @property
    def class_names(self) -> tuple[str, ...]:
        return MULTIPIE_CLASSES if self.labels == "native" else super().class_names

    def _label(self, native: int) -> int:
        return native if self.labels == "native" else MULTIPIE.to_canonical(native)

    def _load_items(self) -> list[FaceItem]:
        return self._load_jesrl() if self.layout == "jesrl" else self._load_raw()

    # --- JESRL lists ----------------------------------------------------------------------------
    def _load_jesrl(self) -> list[FaceItem]:
        images = self.root / "align_5p"
        splits = ("train", "test") if self.split == "all" else (self.split,)
        rows: list[tuple[Path, int, str, int]] = []  # (file, line, name, native label)
        if (self.root / "list_attr_multipie_train.txt").exists():
            for s in splits:
                rows += self._attr_rows(self.root / f"list_attr_multipie_{s}.txt")
        else:
            file = self.root / "images.list"
            for n, line in index_lines(file):
                parts = line.split()
                if len(parts) != 2 or not parts[1].isdigit():
                    self.report(file, n, f"expected '<name> <label 0..5>', got {line!r}")
                    continue
                if parts[0].split("_")[0] in splits:
                    rows.append((file, n, parts[0], int(parts[1])))
        items: list[FaceItem] = []
        seen: dict[str, tuple[Path, int]] = {}
        for file, n, name, native in rows:
            if not 0 <= native < len(MULTIPIE_CLASSES):
                self.report(file, n, f"label {native} outside 0..{len(MULTIPIE_CLASSES) - 1}")
                continue
            if name in seen:
                self.report(file, n, f"duplicate entry {name!r} (first at {seen[name][0]}:{seen[name][1]})")
                continue
            seen[name] = (file, n)
            path = images / name
            if not self.exists(path):
                self.report(file, n, f"image {path} not found")
                continue
            items.append(FaceItem(path, self._label(native), extra={"name": name, "native": native}))
        return items

    def _attr_rows(self, file: Path) -> list[tuple[Path, int, str, int]]:
        lines = index_lines(file)
        if len(lines) < 2:
            raise ValueError(f"{file}: expected a count line and a header line")
        header = lines[1][1].split()
        if sorted(header) != sorted(MULTIPIE_CLASSES):
            raise ValueError(f"{file}:{lines[1][0]}: header {header} is not the 6 Multi-PIE classes")
        order = [MULTIPIE_CLASSES.index(h) for h in header]
        out = []
        for n, line in lines[2:]:
            parts = line.split()
            if len(parts) != 7 or any(v not in ("1", "-1") for v in parts[1:]):
                self.report(file, n, f"expected '<name>' and six +-1 values, got {line!r}")
                continue
            on = [order[j] for j, v in enumerate(parts[1:]) if v == "1"]
            if len(on) != 1:
                self.report(file, n, f"{parts[0]}: {len(on)} classes marked 1, expected exactly one")
                continue
            out.append((file, n, parts[0], on[0]))
        count = lines[0][1]
        if count.isdigit() and int(count) != len(lines) - 2:
            self.report(file, 1, f"count line says {count} rows, the file has {len(lines) - 2}")
        return out

    # --- raw tree -------------------------------------------------------------------------------
    def _load_raw(self) -> list[FaceItem]:
        base = self.root / "data" if (self.root / "data").is_dir() else self.root
        sessions = [d for d in subdirs(base) if SESSION.match(d.name)]
        if not sessions:
            raise FileNotFoundError(
                f"multipie: no session0X/ folders under {base} and no JESRL list files in {self.root}"
            )
        items: list[FaceItem] = []
        for sdir in sessions:
            session = int(SESSION.match(sdir.name).group(1))
            for subject in subdirs(sdir / "multiview"):
                for rec in subdirs(subject):
                    items += self._raw_recording(rec, session, subject.name)
        return items

    def _raw_recording(self, rec: Path, session: int, subject: str) -> list[FaceItem]:
        key = (session, int(rec.name)) if rec.name.isdigit() else None
        if key not in MULTIPIE_RECORDINGS:
            self.report(rec, None, f"no Multi-PIE expression for session {session} recording {rec.name}")
            return []
        native = MULTIPIE_CLASSES.index(MULTIPIE_RECORDINGS[key])
        items = []
        for cam in self.cameras:
            for f in list_images(rec / cam):
                m = RAW_NAME.match(f.stem)
                if m is None or m.group(1) != subject or m.group(4) != cam.replace("_", ""):
                    self.report(f, None, "name is not <subject>_<session>_<recording>_<camera>_<illum>.png")
                    continue
                illum = int(m.group(5))
                if self.illuminations is not None and illum not in self.illuminations:
                    continue
                extra = {
                    "subject": subject,
                    "session": session,
                    "recording": key[1],
                    "camera": cam,
                    "illumination": illum,
                    "native": native,
                }
                items.append(FaceItem(f, self._label(native), extra=extra))
        return items


def _jesrl_files(root: Path) -> bool:
    return any((root / f).is_file() for f in ("list_attr_multipie_train.txt", "images.list"))
