"""CDAN's data layout: an image folder plus an AU file naming each image by its basename.

Layout (the release's ``--images_dir`` and ``--pkl_dir``)::

    root/*.jpg                       a flat folder (the release's training glob), or
    root/<class>/*.jpg               class sub-folders (its ``--mode rec`` ImageFolder);
    root/train|training/..., root/test|testing/...   optional split folders holding either

Options: ``aus=PATH`` (required; relative to ``root`` or absolute), one of

- CDAN's pickle (``affect_HaSa_au.pkl``): ``{basename without extension: 6 floats}`` =
  AU01, AU04, AU06, AU12, AU15, AU25 intensities (0..5), as ``datasets_pre_col.py`` writes it;
- GANimation's ``aus_openface.pkl``: ``{basename: 17 floats}`` in ``AU_NAMES`` order;
- a folder of OpenFace 2.x per-image CSVs ``<basename>.csv`` (``FaceLandmarkImg -aus``), of
  which the most confident successful face counts; the six ``AUxx_r`` columns above must be there;
- one OpenFace CSV with a ``name`` (or ``file``/``image``/``input``) column of image basenames.

Pickles are read with a restricted unpickler (dict / list / float / str / numpy arrays only;
``genfer.data.aus.read_ganimation_pkl``), so a malicious file cannot run code.

Samples carry ``aus`` float32 [17] in ``AU_NAMES`` order. A CDAN pickle or a CSV carries only
CDAN's six AUs: the other eleven are 0 (unknown), so such a set suits ``cdan``, which reads only
those six. An image without an entry in the AU file is an index problem naming the image: an
error by default, skipped and counted (``problems``) with ``on_error=skip``, the tolerance
option. An AU file whose columns or vectors do not hold the six AUs is an error naming it.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from genfer.core.registry import DATASETS
from genfer.data.aus import AU_NAMES, NUM_AUS, au_index, read_ganimation_pkl, read_openface_csv
from genfer.data.base import FaceDataset, FaceItem
from genfer.data.datasets._layout import list_images, subdirs
from genfer.data.labels import UNKNOWN

CDAN_AU_NAMES: tuple[str, ...] = ("AU01", "AU04", "AU06", "AU12", "AU15", "AU25")
"""The six AUs of CDAN's pickle, in its order (FaceLandmarkImg CSV columns 2, 4, 6, 10, 12, 16)."""
_SPLITS = {"train": ("train", "training"), "test": ("test", "testing")}
_NAME_COLUMNS = ("name", "file", "image", "input", "filename", "path")


def expand_cdan_aus(six: np.ndarray) -> np.ndarray:
    """CDAN's six intensities -> the 17-vector (``AU_NAMES`` order), the other AUs 0."""
    out = np.zeros(NUM_AUS, np.float32)
    out[[au_index(a) for a in CDAN_AU_NAMES]] = six
    return out


def read_cdan_aus(path: str | Path) -> dict[str, np.ndarray]:
    """An AU file of any kind the ``cdan`` reader takes -> ``{basename: float32 [17]}``.

    Raises:
        ValueError: the file's vectors or columns do not hold CDAN's six AUs (the message names
            the file, the entry or the missing columns).
        FileNotFoundError: no such file or folder.
    """
    p = Path(path)
    if p.is_dir():
        return _read_csv_folder(p)
    if not p.is_file():
        raise FileNotFoundError(f"cdan: AU file {p} not found")
    if p.suffix.lower() in (".pkl", ".pickle"):
        table = read_ganimation_pkl(p)
        out = {}
        for k, v in table.items():
            if v.shape == (6,):
                out[Path(k).stem] = expand_cdan_aus(v)
            elif v.shape == (NUM_AUS,):
                out[Path(k).stem] = v.astype(np.float32)
            else:
                raise ValueError(f"{p}: entry {k!r} has {v.size} AU values; expected 6 (CDAN: "
                                 f"{', '.join(CDAN_AU_NAMES)}) or 17 (GANimation: AU_NAMES order)")
        return out
    if p.suffix.lower() == ".csv":
        return _read_named_csv(p)
    raise ValueError(f"{p}: unknown AU file type; expected a .pkl, a .csv or a folder of OpenFace CSVs")


def _six_columns(path: Path, header: list[str]) -> list[str]:
    need = [f"{a}_r" for a in CDAN_AU_NAMES]
    missing = [c for c in need if c not in header]
    if missing:
        raise ValueError(f"{path}: AU column(s) {', '.join(missing)} missing; CDAN needs the OpenFace intensities "
                         f"{', '.join(need)} (FaceLandmarkImg/FeatureExtraction with -aus)")
    return need


def _from_row(values: dict[str, float]) -> np.ndarray:
    """A 17-vector from the ``AUxx_r`` values present (the six are checked beforehand)."""
    out = np.zeros(NUM_AUS, np.float32)
    for j, name in enumerate(AU_NAMES):
        v = values.get(f"{name}_r")
        if v is not None and np.isfinite(v):
            out[j] = v
    return out


def _read_csv_folder(d: Path) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    files = sorted(d.glob("*.csv"))
    if not files:
        raise FileNotFoundError(f"cdan: no OpenFace CSVs (*.csv) in {d}")
    for f in files:
        table = read_openface_csv(f, success_only=True)
        _six_columns(f, list(table.columns))
        if len(table) == 0:
            continue  # OpenFace found no face: the image has no entry
        best = int(np.nanargmax(np.nan_to_num(table.confidence, nan=-1.0)))
        out[f.stem] = _from_row({k: float(v[best]) for k, v in table.columns.items()})
    return out


def _read_named_csv(p: Path) -> dict[str, np.ndarray]:
    with open(p, newline="", encoding="utf-8-sig") as fh:
        rows = [[c.strip() for c in r] for r in csv.reader(fh) if any(c.strip() for c in r)]
    if not rows:
        raise ValueError(f"{p}: empty AU file")
    header = rows[0]
    name_col = next((header.index(c) for c in _NAME_COLUMNS if c in header), None)
    if name_col is None:
        raise ValueError(f"{p}: no image-name column ({', '.join(_NAME_COLUMNS)}); a single CSV must name the "
                         "image of each row (or give aus= a folder of per-image OpenFace CSVs)")
    cols = _six_columns(p, header)
    au_cols = [c for c in header if c.startswith("AU") and c.endswith("_r")]
    out: dict[str, np.ndarray] = {}
    for n, row in enumerate(rows[1:], 2):
        if len(row) != len(header):
            raise ValueError(f"{p}:{n}: {len(row)} values for {len(header)} header columns")
        try:
            values = {c: float(row[header.index(c)]) for c in au_cols}
        except ValueError:
            raise ValueError(f"{p}:{n}: an AU value is not a number") from None
        if not all(np.isfinite(values[c]) for c in cols):
            raise ValueError(f"{p}:{n}: AU intensities missing")
        out[Path(row[name_col]).stem] = _from_row(values)
    return out


@DATASETS.register("cdan")
class CDANData(FaceDataset):
    """An image folder (flat or class sub-folders) + an AU file by basename. Extra option: ``aus``."""

    name = "cdan"
    splits = ("train", "test", "all")
    has_aus = True
    labelled = False

    def __init__(self, root, split="train", channels=3, *, aus: str | None = None, **kwargs) -> None:
        if not aus:
            raise ValueError("cdan: give the AU file as aus=PATH (CDAN's .pkl, GANimation's .pkl, an OpenFace CSV "
                             "with a name column or a folder of per-image OpenFace CSVs)")
        self.aus = aus
        super().__init__(root, split, channels, **kwargs)

    def _folders(self) -> list[Path]:
        found = {s: d for s, names in _SPLITS.items() for d in subdirs(self.root) if d.name.lower() in names}
        if self.split == "all":
            return list(found.values()) or [self.root]
        if self.split in found:
            return [found[self.split]]
        if self.split == "train" and not found:
            return [self.root]
        raise FileNotFoundError(f"cdan: no {self.split}/ folder in {self.root}")

    def _load_items(self) -> list[FaceItem]:
        source = Path(self.aus).expanduser()
        source = source if source.is_absolute() else self.root / source
        table = read_cdan_aus(source)
        items: list[FaceItem] = []
        for d in self._folders():
            images = [(f, None) for f in list_images(d)]
            images += [(f, c.name) for c in subdirs(d) for f in list_images(c, recursive=True)]
            for f, cls in sorted(images):
                aus = table.get(f.stem)
                if aus is None:
                    self.report(source, None, f"image {f} ({f.stem!r}) has no entry in the AU file")
                    continue
                extra = {"name": f.name} | ({"class_folder": cls} if cls else {})
                items.append(FaceItem(f, UNKNOWN, aus=aus, extra=extra))
        return items
