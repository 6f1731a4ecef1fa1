"""KDEF (Karolinska Directed Emotional Faces): 70 people, 7 expressions, 5 angles, 2 sessions.

Layout: one folder per session-person, ``root/AF01/AF01ANS.JPG`` (``root`` may also be the
``KDEF_and_AKDEF`` folder holding ``KDEF/``). A file name is session (A/B) + gender (F/M) +
person (01-35) + expression code + angle (FL, HL, S, HR, FR; note ``S`` is one letter), e.g.
``BM21DIHL.JPG``. Expression codes (``labels.KDEF_CODES``): AF afraid, AN angry, DI disgusted,
HA happy, NE neutral, SA sad, SU surprised.

The identity is gender + person (``F01``...; the same person in both sessions), numbered in
sorted order. ``angles`` keeps only some views (e.g. ``("S",)`` for the 980 frontal images);
default all. No official split: ``all``, or subject-independent fold ``fold`` of ``folds``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from genfer.core.registry import DATASETS
from genfer.data.base import FaceDataset, FaceItem
from genfer.data.datasets._layout import find_dir, list_images
from genfer.data.labels import KDEF_CODES, expression_index

NAME = re.compile(r"^([AB])([FM])(\d{2})([A-Z]{2})(FL|FR|HL|HR|S)$", re.IGNORECASE)
ANGLES = ("FL", "HL", "S", "HR", "FR")


@DATASETS.register("kdef")
class KDEF(FaceDataset):
    """KDEF. Extra option: ``angles`` (subset of FL, HL, S, HR, FR)."""

    name = "kdef"
    splits = ("all", "train", "test")
    subject_protocol = True

    def __init__(
        self, root, split="train", channels=3, *, angles: Sequence[str] | None = None, **kwargs
    ) -> None:
        if angles is not None:
            angles = tuple(a.upper() for a in ([angles] if isinstance(angles, str) else angles))
            bad = [a for a in angles if a not in ANGLES]
            if bad:
                raise ValueError(f"kdef: unknown angle(s) {bad}; known: {', '.join(ANGLES)}")
        self.angles = angles
        super().__init__(root, split, channels, **kwargs)

    def _load_items(self) -> list[FaceItem]:
        base = find_dir(self.root, "KDEF") or self.root
        files = list_images(base, recursive=True)
        if not files:
            raise FileNotFoundError(f"kdef: no images under {base} (expected AF01/AF01ANS.JPG ...)")
        items: list[FaceItem] = []
        for f in files:
            m = NAME.match(f.stem)
            if m is None:
                self.report(f, None, "name is not <A|B><F|M><01-35><expression><angle> (e.g. AF01ANS.JPG)")
                continue
            session, gender, person, code, angle = (g.upper() for g in m.groups())
            if code not in KDEF_CODES:
                self.report(f, None, f"unknown expression code {code!r}; known: {', '.join(KDEF_CODES)}")
                continue
            if self.angles is not None and angle not in self.angles:
                continue
            extra = {"subject": gender + person, "session": session, "angle": angle}
            items.append(FaceItem(f, expression_index(KDEF_CODES[code]), extra=extra))
        return items
