"""CK+ (Extended Cohn-Kanade): posed sequences from neutral to peak, labelled at the peak.

Layout (``root`` holds both folders, directly or one level down)::

    cohn-kanade-images/S005/001/S005_001_00000001.png ... S005_001_00000011.png
    Emotion/S005/001/S005_001_00000011_emotion.txt      one float, e.g. "   3.0000000e+00"

Labels 0..7 = neutral, anger, contempt, disgust, fear, happiness, sadness, surprise
(``labels.CKPLUS``); only 327 of the 593 sequences have an Emotion file and only those are read.
The emotion file names the peak frame. ``frames`` picks the protocol:

- ``"sequence"`` (default): the last ``last`` frames up to the peak (3 by default) carry the
  sequence's label, and with ``neutral=True`` the first frame is added as neutral;
- ``"peak"``: only the peak frame.

Subjects (``S005``...) are identities, numbered in sorted order. CK+ has no official split:
``all`` is every item; ``train``/``test`` are the subject-independent fold ``fold`` of ``folds``
(10 by default, subjects dealt by ``fold_seed``); see ``genfer.data.base.subject_folds``.
"""

from __future__ import annotations

import re

from genfer.core.registry import DATASETS
from genfer.data.base import FaceDataset, FaceItem, index_lines
from genfer.data.datasets._layout import find_dir, frame_number, list_images
from genfer.data.labels import CKPLUS, EXPRESSIONS

EMOTION_FILE = re.compile(r"^(S\d+)_(\d+)_(\d+)_emotion\.txt$", re.IGNORECASE)


@DATASETS.register("ckplus")
class CKPlus(FaceDataset):
    """CK+. Extra options: ``frames`` (``"sequence"``/``"peak"``), ``last``, ``neutral``."""

    name = "ckplus"
    splits = ("all", "train", "test")
    subject_protocol = True

    def __init__(
        self,
        root,
        split="train",
        channels=3,
        *,
        frames: str = "sequence",
        last: int = 3,
        neutral: bool = True,
        **kwargs,
    ) -> None:
        if frames not in ("sequence", "peak"):
            raise ValueError(f"ckplus: frames must be 'sequence' or 'peak', got {frames!r}")
        if last < 1:
            raise ValueError(f"ckplus: last must be >= 1, got {last}")
        self.frames, self.last, self.neutral = frames, last, neutral
        super().__init__(root, split, channels, **kwargs)

    def _load_items(self) -> list[FaceItem]:
        images, emotion = find_dir(self.root, "cohn-kanade-images"), find_dir(self.root, "Emotion")
        if images is None or emotion is None:
            raise FileNotFoundError(f"ckplus: need cohn-kanade-images/ and Emotion/ under {self.root}")
        items: list[FaceItem] = []
        for label_file in sorted(emotion.glob("*/*/*_emotion.txt")):
            m = EMOTION_FILE.match(label_file.name)
            if m is None:
                self.report(label_file, None, "name is not S###_###_########_emotion.txt")
                continue
            subject, seq, peak = m.group(1), m.group(2), int(m.group(3))
            lines = index_lines(label_file)
            try:
                value = float(lines[0][1]) if lines else float("nan")
                if value != int(value):
                    raise ValueError(f"{value} is not a whole number")
                expression = CKPLUS.to_canonical(int(value))
            except (ValueError, OverflowError) as e:
                self.report(label_file, 1, f"emotion label: {e}")
                continue
            seq_dir = images / subject / seq
            frames = sorted((p.name for p in list_images(seq_dir)), key=frame_number)
            numbers = [frame_number(f) for f in frames]
            if peak not in numbers:
                self.report(label_file, None, f"peak frame {peak} not found in {seq_dir}")
                continue
            upto = frames[: numbers.index(peak) + 1]
            chosen = upto[-1:] if self.frames == "peak" else upto[-self.last :]
            extra = {"subject": subject, "sequence": f"{subject}/{seq}"}
            items.extend(
                FaceItem(seq_dir / f, expression, extra={**extra, "frame": frame_number(f)}) for f in chosen
            )
            if self.frames == "sequence" and self.neutral and upto[0] not in chosen:
                first = {**extra, "frame": frame_number(upto[0])}
                items.append(FaceItem(seq_dir / upto[0], EXPRESSIONS.index("neutral"), extra=first))
        return items
