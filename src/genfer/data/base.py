"""What every dataset reader shares: items, label policy, splits, identities, error handling.

A reader subclasses :class:`FaceDataset` and implements only ``_load_items`` (parse the index the
dataset ships with into :class:`FaceItem` s) and, where images are not plain files,
``load_image``. The base class then

- numbers identities: a reader puts the dataset's own subject/person name in
  ``item.extra["subject"]``; identities become 0..K-1 in sorted-name order and
  ``identity_names[k]`` keeps the name (the same subject has the same id in every split);
- applies the label policy: ``contempt="keep"|"drop"`` and, for expression-labelled datasets,
  ``unknown="drop"|"keep"`` (AffectNet's none/uncertain/non-face, FERPlus's unknown/NF, ...);
- for datasets without an official split (CK+, Oulu-CASIA, KDEF, raw Multi-PIE) picks
  subject-independent fold ``fold`` of ``folds`` as ``test`` and the rest as ``train``;
- handles index problems (missing images, labels outside the dataset's range, duplicate entries,
  malformed lines) by ``on_error``: ``"raise"`` stops at the first with a
  :class:`DatasetIndexError` naming the file and line, ``"skip"`` drops the entry and records the
  same message in ``problems``.

Samples are dicts ``{"image": uint8 [C,H,W], "expression": int, "identity": int, "index": int}``
plus ``"aus": float32 [17]`` for datasets with Action Units (``has_aus``) and any keys a reader
lists in ``extra_keys`` (e.g. AffectNet's ``valence``/``arousal``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch.utils.data import Dataset

from genfer.data.io import read_image
from genfer.data.labels import BASIC7, CONTEMPT, EXPRESSIONS, UNKNOWN


@dataclass(slots=True)
class FaceItem:
    """One image of a dataset and its labels.

    Args:
        path: the image file (for FER2013-style datasets, the CSV holding the pixels).
        expression: canonical expression index (see ``genfer.data.labels``) or ``UNKNOWN``.
        identity: identity class 0..K-1, or -1 when the dataset has no identities.
        aus: float32 [17] Action Unit values in ``AU_NAMES`` order, or None.
        extra: reader-specific fields (``subject``, ``valence``, ``landmarks``, ``line`` ...).
    """

    path: Path
    expression: int = UNKNOWN
    identity: int = -1
    aus: np.ndarray | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class DatasetIndexError(ValueError):
    """A problem in a dataset's index or layout; the message is ``"<file>:<line>: <problem>"``."""

    def __init__(self, file: str | os.PathLike, line: int | None, problem: str) -> None:
        self.file, self.line, self.problem = Path(file), line, problem
        where = f"{file}:{line}" if line is not None else f"{file}"
        super().__init__(f"{where}: {problem}")


class FaceDataset(Dataset):
    """Base of every dataset reader.

    Args:
        root: the dataset folder as its owners ship it (see ``docs/datasets/<name>.md``).
        split: one of the reader's ``splits`` (``train``, ``test``, ``val``, ``all``); aliases
            such as ``valid``/``validation`` are accepted.
        channels: 1 (greyscale, ITU-R 601 luma) or 3 (RGB).
        size: resize images to ``size`` x ``size`` (or ``(H, W)``) when loading; None keeps them.
        transform: optional callable applied to the uint8 ``[C,H,W]`` image tensor.
        contempt: ``"keep"`` (label 7) or ``"drop"`` items labelled contempt.
        unknown: ``"drop"`` or ``"keep"`` (as ``UNKNOWN`` = -1) expression-less items of an
            expression-labelled dataset; ignored for datasets without expression labels.
        on_error: ``"raise"`` or ``"skip"`` index problems (see the module docstring).
        check_files: verify that every indexed image exists (one ``stat`` per item).
        fold: test fold for subject-independent splits (``subject_protocol`` readers).
        folds: number of subject-independent folds.
        fold_seed: seed of the subject-to-fold assignment.
    """

    name: ClassVar[str] = "dataset"
    splits: ClassVar[tuple[str, ...]] = ("train", "test")
    split_aliases: ClassVar[dict[str, str]] = {}
    has_aus: ClassVar[bool] = False
    labelled: ClassVar[bool] = True
    subject_protocol: ClassVar[bool] = False
    extra_keys: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "train",
        channels: int = 3,
        *,
        size: int | tuple[int, int] | None = None,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        contempt: str = "keep",
        unknown: str = "drop",
        on_error: str = "raise",
        check_files: bool = True,
        fold: int = 0,
        folds: int = 10,
        fold_seed: int = 0,
    ) -> None:
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels}")
        _check_choice("contempt", contempt, ("keep", "drop"))
        _check_choice("unknown", unknown, ("keep", "drop"))
        _check_choice("on_error", on_error, ("raise", "skip"))
        self.root = Path(root).expanduser()
        if not self.root.exists():
            raise FileNotFoundError(f"{self.name}: dataset root {self.root} does not exist")
        self.split = self._normalise_split(split)
        self.channels, self.size, self.transform = channels, size, transform
        self.contempt, self.unknown, self.on_error = contempt, unknown, on_error
        self.check_files = check_files
        self.problems: list[str] = []
        self.identity_names: list[str] = []

        items = self._load_items()
        self._number_identities(items)
        if self.subject_protocol and self.split in ("train", "test"):
            items = self._fold_items(items, fold, folds, fold_seed)
        items = self._apply_label_policy(items)
        if not items:
            raise ValueError(f"{self.name}: no usable items for split {self.split!r} under {self.root}")
        self.items: list[FaceItem] = items
        self._expr: torch.Tensor | None = None
        self._ids: torch.Tensor | None = None

    # --- what readers implement ---------------------------------------------------------------
    def _load_items(self) -> list[FaceItem]:
        """Parse the dataset's index for ``self.split`` (all items for ``subject_protocol``)."""
        raise NotImplementedError

    def load_image(self, i: int) -> torch.Tensor:
        """uint8 ``[C,H,W]`` image of item ``i`` (readers with pixels in an index override this)."""
        return read_image(self.items[i].path, self.channels, size=self.size)

    # --- helpers for readers ------------------------------------------------------------------
    def report(self, file: str | os.PathLike, line: int | None, problem: str) -> None:
        """An index problem: raise (``on_error="raise"``) or record it and let the reader skip."""
        err = DatasetIndexError(file, line, problem)
        if self.on_error == "raise":
            raise err
        self.problems.append(str(err))

    def exists(self, path: Path) -> bool:
        """Whether an indexed image is there (always True with ``check_files=False``)."""
        return not self.check_files or path.is_file()

    # --- the Dataset API ----------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, Any]:
        item = self.items[i]
        image = self.load_image(i)
        if self.transform is not None:
            image = self.transform(image)
        out: dict[str, Any] = {
            "image": image,
            "expression": item.expression,
            "identity": item.identity,
            "index": i,
        }
        if self.has_aus:
            if item.aus is None:
                raise ValueError(f"{item.path}: no Action Units for this item")
            out["aus"] = torch.from_numpy(np.asarray(item.aus, dtype=np.float32))
        for k in self.extra_keys:
            v = item.extra[k]
            out[k] = torch.from_numpy(np.asarray(v, dtype=np.float32)) if isinstance(v, np.ndarray) else v
        return out

    @property
    def expressions(self) -> torch.Tensor:
        """Canonical expression labels, long ``[N]`` (``UNKNOWN`` = -1 where unlabelled)."""
        if self._expr is None:
            self._expr = torch.tensor([it.expression for it in self.items], dtype=torch.long)
        return self._expr

    @property
    def identities(self) -> torch.Tensor:
        """Identity labels 0..K-1, long ``[N]`` (-1 where the dataset has none)."""
        if self._ids is None:
            self._ids = torch.tensor([it.identity for it in self.items], dtype=torch.long)
        return self._ids

    @property
    def class_names(self) -> tuple[str, ...]:
        """Names of the expression labels this dataset yields, indexed by label."""
        return EXPRESSIONS if self.contempt == "keep" else BASIC7

    def class_counts(self) -> torch.Tensor:
        """Items per expression class, long ``[len(class_names)]`` (unknown items not counted)."""
        e = self.expressions
        return torch.bincount(e[e >= 0], minlength=len(self.class_names))

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(root={str(self.root)!r}, split={self.split!r}, items={len(self)}, "
            f"identities={len(self.identity_names)}, problems={len(self.problems)})"
        )

    # --- internals ------------------------------------------------------------------------------
    def _normalise_split(self, split: str) -> str:
        s = split.strip().lower()
        s = {"valid": "val", "validation": "val", "training": "train", "testing": "test"}.get(s, s)
        s = self.split_aliases.get(s, s)
        if s not in self.splits:
            raise ValueError(f"{self.name}: unknown split {split!r}; known: {', '.join(self.splits)}")
        return s

    def _number_identities(self, items: list[FaceItem]) -> None:
        subjects = {it.extra["subject"] for it in items if it.extra.get("subject") is not None}
        if not subjects:
            return
        self.identity_names = sorted(subjects)
        index = {name: k for k, name in enumerate(self.identity_names)}
        for it in items:
            s = it.extra.get("subject")
            if s is not None:
                it.identity = index[s]

    def _fold_items(self, items: list[FaceItem], fold: int, folds: int, seed: int) -> list[FaceItem]:
        ids = [it.identity for it in items]
        splits = subject_folds(ids, folds, seed)
        if not 0 <= fold < folds:
            raise ValueError(f"{self.name}: fold {fold} outside 0..{folds - 1}")
        train_idx, test_idx = splits[fold]
        return [items[i] for i in (train_idx if self.split == "train" else test_idx)]

    def _apply_label_policy(self, items: list[FaceItem]) -> list[FaceItem]:
        if self.contempt == "drop":
            items = [it for it in items if it.expression != CONTEMPT]
        if self.labelled and self.unknown == "drop":
            items = [it for it in items if it.expression != UNKNOWN]
        return items


def subject_folds(
    dataset: FaceDataset | Sequence[int] | torch.Tensor, k: int, seed: int = 0
) -> list[tuple[list[int], list[int]]]:
    """Subject-independent k-fold splits: no subject appears in both halves of a fold.

    Subjects (identity labels) are shuffled with ``seed`` and dealt to folds in turn, so every
    fold has ``len(subjects) // k`` or one more subjects; together the test halves cover every
    item exactly once.

    Args:
        dataset: a dataset with ``identities`` or the identity labels themselves ``[N]``.
        k: number of folds (2 <= k <= number of subjects).
        seed: seed of the subject shuffle.

    Returns:
        ``k`` pairs ``(train_indices, test_indices)`` of sorted item indices.
    """
    ids = dataset.identities if isinstance(dataset, FaceDataset) else dataset
    ids = np.asarray(ids.tolist() if isinstance(ids, torch.Tensor) else ids, dtype=np.int64)
    if (ids < 0).any():
        missing = int((ids < 0).sum())
        raise ValueError(f"{missing} items have no subject id; subject folds need one for every item")
    subjects = np.unique(ids)
    if not 2 <= k <= len(subjects):
        raise ValueError(f"cannot make {k} subject-independent folds from {len(subjects)} subjects")
    order = np.random.default_rng(seed).permutation(subjects)
    fold_of = np.empty(int(subjects.max()) + 1, dtype=np.int64)
    fold_of[order] = np.arange(len(order)) % k
    item_fold = fold_of[ids]
    out = []
    for j in range(k):
        test = np.flatnonzero(item_fold == j)
        train = np.flatnonzero(item_fold != j)
        out.append((train.tolist(), test.tolist()))
    return out


def index_lines(path: str | os.PathLike) -> list[tuple[int, str]]:
    """Non-blank lines of a text index as ``(1-based line number, stripped text)``.

    Accepts UTF-8 with or without a byte-order mark and any line ending; a file that is not text
    raises :class:`DatasetIndexError` naming it.
    """
    p = Path(path)
    try:
        text = p.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise DatasetIndexError(p, None, "index file not found") from None
    except UnicodeDecodeError as e:
        try:  # old Windows-made lists
            text = p.read_bytes().decode("latin-1")
        except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes any byte string
            raise DatasetIndexError(p, None, f"not a text file ({e})") from None
    return [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1) if line.strip()]


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
