"""Oulu-CASIA NIR&VIS: six posed expressions per subject, recorded as neutral-to-peak sequences.

Layout (``root`` is any of the folders on this path; the first match wins)::

    OriginalImg/VL/Strong/P001/Anger/000.jpeg ... 012.jpeg
               {VL,NI}/{Strong,Weak,Dark}/P001..P080/{Anger,Disgust,Fear,Happiness,Sadness,Surprise}/

(the preprocessed-crop folders of the distribution have the same ``<modality>/<lighting>/P###/
<Expression>/`` shape and are read the same way). ``modality`` ("VL" visible, "NI"
near-infrared) and ``lighting`` ("Strong", "Weak", "Dark") pick the sub-tree; VL/Strong is the
standard protocol. Each sequence contributes its last ``last`` frames (3 by default) with the
folder's label, plus its first frame as neutral with ``neutral=True`` (off by default: the
standard protocol is 6-class). Subjects (P001...) are identities in sorted order. No official
split: ``all``, or subject-independent fold ``fold`` of ``folds`` as ``test`` (rest ``train``).
"""

from __future__ import annotations

from pathlib import Path

from genfer.core.registry import DATASETS
from genfer.data.base import FaceDataset, FaceItem
from genfer.data.datasets._layout import find_dir, frame_number, list_images, subdirs
from genfer.data.labels import EXPRESSIONS, expression_index


@DATASETS.register("oulu")
class OuluCasia(FaceDataset):
    """Oulu-CASIA. Extra options: ``modality``, ``lighting``, ``last``, ``neutral``."""

    name = "oulu"
    splits = ("all", "train", "test")
    subject_protocol = True

    def __init__(
        self,
        root,
        split="train",
        channels=3,
        *,
        modality: str = "VL",
        lighting: str = "Strong",
        last: int = 3,
        neutral: bool = False,
        **kwargs,
    ) -> None:
        if last < 1:
            raise ValueError(f"oulu: last must be >= 1, got {last}")
        self.modality, self.lighting, self.last, self.neutral = modality, lighting, last, neutral
        super().__init__(root, split, channels, **kwargs)

    def _subject_root(self) -> Path:
        """The folder holding P001..P080 for the chosen modality and lighting."""
        if any(_is_subject(d.name) for d in subdirs(self.root)):
            return self.root
        base = find_dir(self.root, "OriginalImg") or self.root
        children = {d.name.lower(): d for d in subdirs(base)}
        # root may already be the modality folder (holding Strong/Weak/Dark)
        mod = base if self.lighting.lower() in children else find_dir(base, self.modality)
        light = None if mod is None else {d.name.lower(): d for d in subdirs(mod)}.get(self.lighting.lower())
        if light is None or not any(_is_subject(d.name) for d in subdirs(light)):
            raise FileNotFoundError(f"oulu: no {self.modality}/{self.lighting}/P###/ tree under {self.root}")
        return light

    def _load_items(self) -> list[FaceItem]:
        base = self._subject_root()
        items: list[FaceItem] = []
        for subject_dir in subdirs(base):
            if not _is_subject(subject_dir.name):
                continue
            for expr_dir in subdirs(subject_dir):
                try:
                    expression = expression_index(expr_dir.name)
                except KeyError as e:
                    self.report(expr_dir, None, f"not an expression folder ({e.args[0]})")
                    continue
                frames = sorted(list_images(expr_dir), key=frame_number)
                if not frames:
                    self.report(expr_dir, None, "sequence folder holds no images")
                    continue
                extra = {"subject": subject_dir.name, "sequence": f"{subject_dir.name}/{expr_dir.name}"}
                chosen = frames[-self.last :]
                for f in chosen:
                    items.append(FaceItem(f, expression, extra={**extra, "frame": frame_number(f)}))
                if self.neutral and frames[0] not in chosen:
                    first = {**extra, "frame": frame_number(frames[0])}
                    items.append(FaceItem(frames[0], EXPRESSIONS.index("neutral"), extra=first))
        return items


def _is_subject(name: str) -> bool:
    return len(name) > 1 and name[0] in "Pp" and name[1:].isdigit()
