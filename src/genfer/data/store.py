"""Prepared faces on disk: uint8 shards memory-mapped for training, plus a JSON-lines manifest.

``genfer prepare`` writes a store once; training and evaluation read it back with
:class:`StoreDataset` (also reachable as ``--data store:PATH``), so no JPEG is decoded, no face
detected and no crop warped while a model trains.

Layout of a store folder::

    store.json          format, version, crop size/channels, preparation settings, source, label kinds
    manifest.jsonl      one JSON object per line: a face written ("status": "ok") or a source item
                        skipped ("status": "skipped", "reason", "message")
    shards/00000.npy    uint8 [n, C, H, W] (numpy .npy, opened with mmap_mode="r")

An ``ok`` line holds ``key`` (source item: split, path), ``shard``, ``row``, ``face`` (index among
that image's faces), ``split``, ``path``, ``box``, ``landmarks``, ``score``, ``matrix`` (source to
crop), and the labels ``expression``, ``identity``, ``subject``, ``aus`` and reader ``extra``.

Crash safety: shard files are written to a temporary name and renamed; the manifest lines of a
shard are appended (one write, fsync) only after its file exists, and a torn last line is ignored
and cut off on the next open. So the manifest never names missing pixels, and a rerun skips
exactly the items whose lines are there.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from genfer.core.registry import DATASETS
from genfer.data.base import FaceDataset, FaceItem
from genfer.data.labels import UNKNOWN

FORMAT = "genfer-store"
VERSION = 1
MANIFEST = "manifest.jsonl"
INFO = "store.json"
SHARDS = "shards"


class StoreError(ValueError):
    """A store folder that is missing, of another format, or prepared with other settings."""


def read_manifest(root: str | os.PathLike) -> list[dict[str, Any]]:
    """The complete lines of a store's manifest (a torn last line is ignored)."""
    p = Path(root) / MANIFEST
    if not p.exists():
        return []
    out = []
    with open(p, "rb") as f:
        data = f.read()
    # the piece after the last newline is empty, or a line whose write was cut short: drop it
    lines = data.split(b"\n")[:-1]
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise StoreError(f"{p}:{n}: not a JSON line ({e})") from None
    return out


def read_info(root: str | os.PathLike) -> dict[str, Any]:
    """``store.json`` of a store, checked for format and version."""
    p = Path(root) / INFO
    if not p.is_file():
        raise StoreError(f"{root} is not a genfer store (no {INFO}); make one with `genfer prepare`")
    info = json.loads(p.read_text())
    if info.get("format") != FORMAT:
        raise StoreError(f"{p}: format {info.get('format')!r} is not {FORMAT!r}")
    if info.get("version") != VERSION:
        raise StoreError(f"{p}: store version {info.get('version')} is not supported (this genfer reads {VERSION})")
    return info


class StoreWriter:
    """Appends faces to a store, resumably.

    Args:
        root: the store folder (created if missing).
        size: crop ``(H, W)``.
        channels: 1 or 3.
        settings: how the crops were made; a rerun must pass the same (else :class:`StoreError`).
        info: more fields for ``store.json`` (source, label kinds); updated on every open.
        shard_size: faces per shard file.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        size: tuple[int, int],
        channels: int,
        settings: dict[str, Any],
        info: dict[str, Any] | None = None,
        shard_size: int = 1024,
    ) -> None:
        self.root = Path(root).expanduser()
        self.size, self.channels, self.shard_size = (int(size[0]), int(size[1])), int(channels), int(shard_size)
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / SHARDS).mkdir(exist_ok=True)
        head = {
            "format": FORMAT, "version": VERSION, "size": list(self.size), "channels": self.channels,
            "dtype": "uint8", "layout": "NCHW", "settings": settings,
        }
        old: dict[str, Any] = {}
        if (self.root / INFO).exists():
            old = read_info(self.root)
            for k in ("size", "channels", "settings"):
                if old.get(k) != head[k]:
                    raise StoreError(
                        f"{self.root} was prepared with {k}={old.get(k)!r}, now {head[k]!r}; "
                        "prepare into a new folder (or delete this one) to change it"
                    )
        self._write_json(self.root / INFO, {**old, **head, **(info or {})})
        self._repair_manifest()
        lines = read_manifest(self.root)
        self.done: set[str] = {r["key"] for r in lines}
        shards = [r["shard"] for r in lines if r.get("status") == "ok"]
        self._next_shard = max(shards) + 1 if shards else 0
        self._crops: list[Tensor] = []
        self._records: list[dict[str, Any]] = []

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add(self, key: str, crops: Tensor, records: Sequence[dict[str, Any]]) -> None:
        """Queue the faces of one source item: ``crops`` uint8 ``[K, C, H, W]``, one record each."""
        if crops.dtype != torch.uint8 or tuple(crops.shape[1:]) != (self.channels, *self.size):
            raise ValueError(
                f"crops must be uint8 [K, {self.channels}, {self.size[0]}, {self.size[1]}], "
                f"got {crops.dtype} {tuple(crops.shape)}"
            )
        if len(records) != crops.shape[0]:
            raise ValueError(f"{crops.shape[0]} crops but {len(records)} records")
        for f, (c, r) in enumerate(zip(crops, records)):
            self._crops.append(c)
            self._records.append({"key": key, "status": "ok", "face": f, **r})
        self.done.add(key)
        if len(self._crops) >= self.shard_size:
            self.flush()

    def skip(self, key: str, reason: str, message: str, record: dict[str, Any] | None = None) -> None:
        """Record a source item that yields no face (written at once; it holds no pixels)."""
        self._append([{"key": key, "status": "skipped", "reason": reason, "message": message, **(record or {})}])
        self.done.add(key)

    def flush(self) -> None:
        """Write queued faces as one shard, then their manifest lines."""
        if not self._crops:
            return
        k = self._next_shard
        arr = torch.stack(self._crops).numpy()
        path = self.root / SHARDS / f"{k:05d}.npy"
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        with open(tmp, "wb") as f:
            np.save(f, arr)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        for row, r in enumerate(self._records):
            r["shard"], r["row"] = k, row
        self._append(self._records)
        self._next_shard += 1
        self._crops, self._records = [], []

    def close(self) -> None:
        self.flush()

    # --- internals ----------------------------------------------------------------------------------
    def _append(self, records: Iterable[dict[str, Any]]) -> None:
        text = "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in records)
        with open(self.root / MANIFEST, "a", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())

    def _repair_manifest(self) -> None:
        p = self.root / MANIFEST
        if not p.exists():
            return
        data = p.read_bytes()
        if data and not data.endswith(b"\n"):  # a torn last line from an interrupted append
            with open(p, "r+b") as f:
                f.truncate(data.rfind(b"\n") + 1)

    @staticmethod
    def _write_json(path: Path, obj: dict[str, Any]) -> None:
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")
        os.replace(tmp, path)


@DATASETS.register("store")
class StoreDataset(FaceDataset):
    """A prepared store read back as a dataset (samples as every reader's, pixels from memory maps).

    Splits are those of the source (``train``/``val``/``test``; ``all`` is every face). A store
    prepared from a subject-protocol dataset (CK+, Oulu-CASIA, KDEF) keeps that protocol:
    ``split="train"|"test"`` with ``fold``/``folds`` picks subject-independent folds.

    Args:
        root: the store folder.
        split: ``train``, ``val``, ``test`` or ``all``.
        channels: 1 or 3 (converted on the fly when the store holds the other); None: as stored.
        size: resize on the fly when it differs from the stored size (None: as stored).
        **kwargs: the other :class:`FaceDataset` options (``contempt``, ``unknown``, ``fold`` ...).

    Fast paths: :meth:`images` (a batch of indices), :meth:`read_all`.
    """

    name = "store"
    splits = ("train", "val", "test", "all")
    split_aliases: ClassVar[dict[str, str]] = {}

    def __init__(self, root, split: str = "all", channels: int | None = None, **kwargs) -> None:
        root = Path(root).expanduser()
        self.info = read_info(root)
        stored_c = int(self.info["channels"])
        self.stored_size = tuple(self.info["size"])
        labels = self.info.get("labels", {})
        # the source reader's label kinds, so samples carry the same keys as reading the source
        self.has_aus = bool(labels.get("has_aus", False))
        self.labelled = bool(labels.get("labelled", True))
        self.subject_protocol = bool(labels.get("subject_protocol", False))
        self.extra_keys = tuple(labels.get("extra_keys", ()))
        self._all_subjects: list[str] = []
        self._shards: dict[int, np.ndarray] = {}
        super().__init__(root, split, stored_c if channels is None else channels, **kwargs)
        self.stored_channels = stored_c
        self._loc = np.array([[it.extra["shard"], it.extra["row"]] for it in self.items], dtype=np.int64)

    def _load_items(self) -> list[FaceItem]:
        lines = [r for r in read_manifest(self.root) if r.get("status") == "ok"]
        self._all_subjects = sorted({r["subject"] for r in lines if r.get("subject") is not None})
        keep_all = self.split == "all" or (self.subject_protocol and self.split in ("train", "test"))
        if self.split == "train" and lines and all(r.get("split") == "all" for r in lines):
            keep_all = True  # a store of photos or of a dataset without splits: train is everything
        items = []
        for r in lines:
            if not keep_all and r.get("split") != self.split:
                continue
            aus = np.asarray(r["aus"], dtype=np.float32) if r.get("aus") is not None else None
            extra = {**r.get("extra", {}), "shard": r["shard"], "row": r["row"], "key": r["key"],
                     "box": r.get("box"), "score": r.get("score"), "face": r.get("face", 0)}
            if r.get("subject") is not None:
                extra["subject"] = r["subject"]
            items.append(FaceItem(Path(r["path"]), int(r.get("expression", UNKNOWN)), -1, aus, extra))
        return items

    def _number_identities(self, items: list[FaceItem]) -> None:
        # number over every split of the store, so a subject has one id in train and test
        self.identity_names = list(self._all_subjects)
        index = {name: k for k, name in enumerate(self.identity_names)}
        for it in items:
            s = it.extra.get("subject")
            if s is not None:
                it.identity = index[s]

    def shard(self, k: int) -> np.ndarray:
        """Shard ``k`` as a read-only memory map ``[n, C, H, W]``."""
        mm = self._shards.get(k)
        if mm is None:
            mm = np.load(self.root / SHARDS / f"{k:05d}.npy", mmap_mode="r")
            self._shards[k] = mm
        return mm

    def images(self, indices: Sequence[int] | Tensor | np.ndarray) -> Tensor:
        """uint8 ``[B, C, H, W]`` images of dataset indices (channels/size converted if asked)."""
        idx = np.asarray(indices.cpu() if isinstance(indices, Tensor) else indices, dtype=np.int64).reshape(-1)
        loc = self._loc[idx]
        out = np.empty((len(idx), self.stored_channels, *self.stored_size), dtype=np.uint8)
        shards = loc[:, 0]
        for k in np.unique(shards):
            sel = np.flatnonzero(shards == k)
            rows, mm = loc[sel, 1], self.shard(int(k))
            n = len(sel)
            if sel[-1] - sel[0] == n - 1 and rows[-1] - rows[0] == n - 1 and (np.diff(rows) == 1).all():
                out[sel[0] : sel[0] + n] = mm[rows[0] : rows[0] + n]  # a run in store order: one copy
            else:
                out[sel] = mm[rows]
        return self._convert(torch.from_numpy(out))

    def read_all(self) -> Tensor:
        """Every image of this split, uint8 ``[N, C, H, W]``, in dataset order."""
        return self.images(np.arange(len(self)))

    def load_image(self, i: int) -> Tensor:
        k, row = self._loc[i]
        return self._convert(torch.from_numpy(np.array(self.shard(int(k))[row]))[None])[0]

    def _convert(self, x: Tensor) -> Tensor:
        if self.channels != x.shape[1]:
            if self.channels == 1:
                w = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
                x = (x.float() * w).sum(1, keepdim=True).round_().clamp_(0, 255).to(torch.uint8)
            else:
                x = x.expand(-1, 3, -1, -1).contiguous()
        if self.size is not None:
            hw = (self.size, self.size) if isinstance(self.size, int) else tuple(self.size)
            if tuple(x.shape[-2:]) != hw:
                y = F.interpolate(x.float(), size=hw, mode="bilinear", antialias=True, align_corners=False)
                x = y.round_().clamp_(0, 255).to(torch.uint8)
        return x
