"""``prepare``: a dataset (or a folder of photos) in, a store of aligned face crops out.

For every source item: decode (in a background thread), detect faces, pick one (or all), align
each by the chosen rule, convert to the crop's channels and append to a
:class:`~genfer.data.store.StoreWriter`. Nothing stops the run but an interruption: an unreadable
file (:class:`~genfer.data.io.ImageError`), an image without a face or any other per-item failure
is recorded in the manifest with its reason and counted in the :class:`PrepareSummary`. A rerun
into the same folder skips the items already recorded, so an interrupted run resumes.
"""

from __future__ import annotations

import os
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from genfer.data.base import FaceDataset, FaceItem
from genfer.data.io import ImageError
from genfer.data.preprocess.align import ALIGN_MODES, PRESETS, TEMPLATES, crop_matrices, warp
from genfer.data.preprocess.detections import FaceDetections
from genfer.data.store import StoreWriter
from genfer.data.tensors import to_channels

SKIP_REASONS = {
    "unreadable": "the image file cannot be decoded",
    "no_face": "no face found (above min_score)",
    "error": "an unexpected error while processing the item",
}
"""Reasons a source item yields no face, as counted in the summary and the manifest."""

PHOTOS = "photos"
"""Pseudo dataset name: every image file under SRC (recursively), no labels."""


@dataclass
class PrepareSettings:
    """How faces are found and cropped (stored in ``store.json``; a resumed run must match).

    Args:
        detector: a ``DETECTORS`` name (``mtcnn``), ignored for ``align="none"``.
        align: ``five-point``, ``ffhq``, ``box`` or ``none`` (see ``align``).
        template: five-point template name.
        size: crop side in pixels.
        channels: 1 (grey, ITU-R 601 luma) or 3 (RGB).
        margin: box margin for ``align="box"`` (fraction of the side).
        padding: fill outside the photo: ``zeros``, ``border`` or ``reflection``.
        faces: ``largest`` or ``best`` (one face per image) or ``all``.
        min_score: drop detections below this score.
        min_face_size: detector's smallest face (pixels).
        flip: detector's mirrored second pass (see ``MTCNN.detect``).
    """

    detector: str = "mtcnn"
    align: str = "five-point"
    template: str = "arcface"
    size: int = 128
    channels: int = 3
    margin: float = 0.0
    padding: str = "zeros"
    faces: str = "largest"
    min_score: float = 0.0
    min_face_size: float = 20.0
    flip: bool = False

    @classmethod
    def from_preset(cls, preset: str | None, **overrides: Any) -> PrepareSettings:
        """Settings of a crop preset (``PRESETS``), with explicit values (not None) winning."""
        base: dict[str, Any] = {}
        if preset is not None:
            try:
                p = PRESETS[preset]
            except KeyError:
                raise KeyError(f"unknown crop preset {preset!r}; known: {', '.join(PRESETS)}") from None
            base = {"align": p.align, "size": p.size, "channels": p.channels, "template": p.template,
                    "margin": p.margin, "padding": p.padding}
        names = {f.name for f in fields(cls)}
        unknown = set(overrides) - names
        if unknown:
            raise TypeError(f"unknown prepare settings: {', '.join(sorted(unknown))}")
        base.update({k: v for k, v in overrides.items() if v is not None})
        s = cls(**base)
        s.validate()
        return s

    def validate(self) -> None:
        if self.align not in ALIGN_MODES:
            raise ValueError(f"align must be one of {', '.join(ALIGN_MODES)}; got {self.align!r}")
        if self.align == "five-point" and self.template not in TEMPLATES:
            raise ValueError(f"unknown template {self.template!r}; known: {', '.join(TEMPLATES)}")
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {self.channels}")
        if not 8 <= self.size <= 4096:
            raise ValueError(f"size must be 8..4096, got {self.size}")
        if self.faces not in ("largest", "best", "all"):
            raise ValueError(f"faces must be largest, best or all; got {self.faces!r}")
        if self.padding not in ("zeros", "border", "reflection"):
            raise ValueError(f"padding must be zeros, border or reflection; got {self.padding!r}")


@dataclass
class PrepareSummary:
    """What a ``prepare`` run did.

    Attributes:
        store: the store folder.
        items: source items seen (all splits).
        already_done: items skipped because an earlier run recorded them.
        processed: items handled in this run.
        images_with_faces: processed items that gave at least one face.
        faces: faces written in this run.
        skipped: per reason (``SKIP_REASONS``), items that gave no face in this run.
        problems: ``"<file>: <problem>"`` messages of skipped items (first ``max_problems``).
        index_problems: the readers' index problems (missing files, bad labels ...).
        splits: items per split.
        seconds: wall time.
    """

    store: str
    items: int = 0
    already_done: int = 0
    processed: int = 0
    images_with_faces: int = 0
    faces: int = 0
    skipped: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    index_problems: list[str] = field(default_factory=list)
    splits: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def format(self, max_lines: int = 20) -> str:
        """A human-readable report."""
        lines = [
            f"store: {self.store}",
            f"source items: {self.items} ({', '.join(f'{k} {v}' for k, v in self.splits.items())})",
            f"already done before this run: {self.already_done}",
            f"processed now: {self.processed} in {self.seconds:.1f} s; {self.images_with_faces} with a face, "
            f"{self.faces} faces written",
        ]
        for reason, n in sorted(self.skipped.items()):
            lines.append(f"skipped ({reason}: {SKIP_REASONS.get(reason, reason)}): {n}")
        for msg in self.problems[:max_lines]:
            lines.append(f"  {msg}")
        if len(self.problems) > max_lines:
            lines.append(f"  ... {len(self.problems) - max_lines} more (see manifest.jsonl, status 'skipped')")
        if self.index_problems:
            lines.append(f"dataset index problems (entries left out): {len(self.index_problems)}")
            lines.extend(f"  {m}" for m in self.index_problems[:max_lines])
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["skipped"] = dict(self.skipped)
        return d


class PhotoFolder(FaceDataset):
    """Every image under a folder (recursively, sorted), unlabelled: what ``--dataset photos`` reads."""

    name = PHOTOS
    splits = ("all",)
    split_aliases = {"train": "all"}  # noqa: RUF012
    labelled = False

    def _load_items(self) -> list[FaceItem]:
        from genfer.data.datasets._layout import list_images

        if self.root.is_file():
            return [FaceItem(self.root)]
        return [FaceItem(p) for p in list_images(self.root, recursive=True)]


def open_source(dataset: str, src: str | os.PathLike, split: str) -> FaceDataset:
    """The reader of ``dataset`` on ``src`` (``SRC?key=value`` reader options allowed), RGB, full size."""
    if dataset == PHOTOS:
        return PhotoFolder(str(src), split=split, channels=3)
    from genfer.data.specs import open_dataset

    return open_dataset(f"{dataset}:{src}", split=split, channels=3, size=None, on_error="skip")


def default_splits(dataset: str) -> list[str]:
    """Splits ``prepare`` walks by default: ``all`` for subject-protocol readers, else each split."""
    if dataset == PHOTOS:
        return ["all"]
    from genfer.core.registry import DATASETS
    from genfer.data import datasets  # noqa: F401  (registers the readers)

    cls = DATASETS.get(dataset)
    if cls.subject_protocol or cls.splits == ("all",):
        return ["all"]
    return [s for s in cls.splits if s != "all"]


def prepare(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    dataset: str = PHOTOS,
    settings: PrepareSettings | None = None,
    *,
    splits: list[str] | None = None,
    detector: Any = None,
    shard_size: int = 1024,
    batch_size: int = 8,
    device: str = "cpu",
    progress: bool = True,
    limit: int | None = None,
    max_problems: int = 1000,
    log: Callable[[str], None] | None = None,
) -> PrepareSummary:
    """Detect, align and crop every face of a dataset into a store at ``dst``.

    Args:
        src: the dataset root as shipped (reader options may follow as ``?key=value&...``), or a
            folder of photos for ``dataset="photos"``.
        dst: the store folder; an existing store prepared with the same settings is resumed.
        dataset: a ``DATASETS`` reader name, or ``"photos"``.
        settings: crop settings (default :class:`PrepareSettings`).
        splits: splits to walk (default :func:`default_splits`); a split the copy on disk lacks
            is reported and skipped.
        detector: a ready detector object (default: built from ``settings.detector``).
        shard_size: faces per shard file.
        batch_size: images per detector call.
        device: torch device of the detector.
        progress: show a progress bar.
        limit: stop after this many items processed in this run (for trying settings out).
        max_problems: problem messages kept in the summary.
        log: called with notes (e.g. a missing split).

    Returns:
        A :class:`PrepareSummary`.
    """
    from tqdm import tqdm

    s = settings or PrepareSettings()
    s.validate()
    say = log or (lambda _m: None)
    summary = PrepareSummary(store=str(Path(dst).expanduser()))
    t0 = time.perf_counter()

    sources: list[tuple[str, FaceDataset]] = []
    for split in splits or default_splits(dataset):
        try:
            ds = open_source(dataset, src, split)
        except (FileNotFoundError, ValueError) as e:
            if splits:  # asked for explicitly
                raise
            say(f"split {split}: not prepared ({e})")
            continue
        sources.append((split, ds))
        summary.index_problems.extend(ds.problems)
    if not sources:
        raise FileNotFoundError(f"no split of {dataset} found under {src}")

    first = sources[0][1]
    info = {
        "source": {"dataset": dataset, "path": str(src), "splits": [sp for sp, _ in sources]},
        "labels": {
            "labelled": bool(first.labelled), "has_aus": bool(first.has_aus),
            "subject_protocol": bool(first.subject_protocol), "extra_keys": list(first.extra_keys),
            "class_names": list(first.class_names),
        },
    }
    det = detector
    if det is None and s.align != "none":
        det = _build_detector(s, device)

    with StoreWriter(dst, (s.size, s.size), s.channels, asdict(s), info, shard_size) as writer:
        todo: list[tuple[str, FaceDataset, int, str]] = []
        for split, ds in sources:
            summary.splits[split] = len(ds)
            seen: Counter = Counter()
            for i, item in enumerate(ds.items):
                rel = _relpath(item.path, ds.root)
                seen[rel] += 1
                key = f"{split}/{rel}" + (f"#{seen[rel]}" if seen[rel] > 1 else "")
                summary.items += 1
                if key in writer.done:
                    summary.already_done += 1
                else:
                    todo.append((split, ds, i, key))
        if limit is not None:
            todo = todo[:limit]
        bar = tqdm(total=len(todo), desc="prepare", unit="img", disable=not progress, dynamic_ncols=True)
        try:
            for chunk in _chunks(_prefetch(todo), batch_size):
                _process(chunk, det, s, writer, summary, max_problems)
                bar.update(len(chunk))
                bar.set_postfix(faces=summary.faces, skipped=sum(summary.skipped.values()), refresh=False)
        finally:
            bar.close()
    summary.seconds = time.perf_counter() - t0
    return summary


# --- internals -----------------------------------------------------------------------------------------
Loaded = tuple[str, FaceDataset, int, str, "Tensor | Exception"]


def _build_detector(s: PrepareSettings, device: str) -> Any:
    from genfer.core.registry import DETECTORS
    from genfer.data.preprocess import mtcnn  # noqa: F401  (registers mtcnn)

    return DETECTORS.get(s.detector)(device=device, min_face_size=s.min_face_size)


def _relpath(path: Path, root: Path) -> str:
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return Path(path).as_posix()


def _load(ds: FaceDataset, i: int) -> Tensor | Exception:
    try:
        return ds.load_image(i)
    except Exception as e:  # recorded per item; one bad file never stops the run
        return e


def _prefetch(todo: list[tuple[str, FaceDataset, int, str]], ahead: int = 16) -> Iterator[Loaded]:
    """Decode images in a background thread (Pillow releases the GIL), in order, bounded look-ahead."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="genfer-decode") as pool:
        queue: deque[tuple[tuple[str, FaceDataset, int, str], Future]] = deque()
        it = iter(todo)
        for job in it:
            queue.append((job, pool.submit(_load, job[1], job[2])))
            if len(queue) >= ahead:
                break
        while queue:
            job, fut = queue.popleft()
            nxt = next(it, None)
            if nxt is not None:
                queue.append((nxt, pool.submit(_load, nxt[1], nxt[2])))
            yield (*job, fut.result())


def _chunks(it: Iterator[Loaded], n: int) -> Iterator[list[Loaded]]:
    chunk: list[Loaded] = []
    for x in it:
        chunk.append(x)
        if len(chunk) == n:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _process(
    chunk: list[Loaded], det: Any, s: PrepareSettings, writer: StoreWriter, summary: PrepareSummary,
    max_problems: int,
) -> None:
    def skip(split: str, ds: FaceDataset, i: int, key: str, reason: str, message: str) -> None:
        writer.skip(key, reason, message, {"split": split, "path": _relpath(ds.items[i].path, ds.root)})
        summary.skipped[reason] += 1
        if len(summary.problems) < max_problems:
            summary.problems.append(message)

    good = []
    for split, ds, i, key, img in chunk:
        summary.processed += 1
        if isinstance(img, ImageError):
            skip(split, ds, i, key, "unreadable", str(img))
        elif isinstance(img, Exception):
            skip(split, ds, i, key, "error", f"{ds.items[i].path}: {type(img).__name__}: {img}")
        else:
            good.append((split, ds, i, key, img))
    if not good:
        return
    if s.align == "none":
        found: list[FaceDetections | Exception] = [_whole_image(img) for *_, img in good]
    else:
        found = _detect(det, [img for *_, img in good], s.flip)
    for (split, ds, i, key, img), dets in zip(good, found):
        path = ds.items[i].path
        if isinstance(dets, Exception):
            skip(split, ds, i, key, "error", f"{path}: detector failed: {type(dets).__name__}: {dets}")
            continue
        if s.min_score > 0:
            dets = dets.above(s.min_score)
        if len(dets) == 0:
            skip(split, ds, i, key, "no_face", f"{path}: no face found")
            continue
        try:
            dets = dets.select(s.faces)
            mats = crop_matrices(dets, tuple(img.shape[1:]), s.align, s.size, s.template, s.margin)
            crops = to_channels(warp(img, mats, s.size, s.padding), s.channels)
        except Exception as e:  # e.g. degenerate landmarks
            skip(split, ds, i, key, "error", f"{path}: alignment failed: {type(e).__name__}: {e}")
            continue
        labels = _labels(ds.items[i])
        records = []
        for f in range(len(dets)):
            rec = {"split": split, "path": _relpath(path, ds.root), **labels,
                   "matrix": [[round(v, 6) for v in row] for row in mats[f].tolist()]}
            if s.align != "none":
                rec.update(dets[f].to_records()[0])
            records.append(rec)
        writer.add(key, crops, records)
        summary.images_with_faces += 1
        summary.faces += len(dets)


def _detect(det: Any, images: list[Tensor], flip: bool) -> list[FaceDetections | Exception]:
    try:
        return list(det.detect(images, flip=flip) if flip else det.detect(images))
    except Exception:  # retry one by one so one bad image does not fail its batch
        out: list[FaceDetections | Exception] = []
        for im in images:
            try:
                out.append(det.detect(im, flip=flip) if flip else det.detect(im))
            except Exception as e:
                out.append(e)
        return out


def _whole_image(img: Tensor) -> FaceDetections:
    h, w = img.shape[1:]
    box = torch.tensor([[0.0, 0.0, float(w), float(h)]])
    return FaceDetections(box, torch.zeros(1, 5, 2), torch.ones(1))


def _labels(item: FaceItem) -> dict[str, Any]:
    out: dict[str, Any] = {"expression": int(item.expression), "identity": int(item.identity)}
    extra = dict(item.extra)
    subject = extra.pop("subject", None)
    if subject is not None:
        out["subject"] = subject.item() if isinstance(subject, np.generic) else subject
    if item.aus is not None:
        out["aus"] = [round(float(v), 6) for v in np.asarray(item.aus).reshape(-1)]
    simple = {}
    for k, v in extra.items():
        if isinstance(v, np.generic):
            v = v.item()
        if isinstance(v, (str, int, float, bool)) or v is None:
            simple[k] = v
    if simple:
        out["extra"] = simple
    return out


