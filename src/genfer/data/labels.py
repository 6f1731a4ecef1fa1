"""The canonical expression taxonomy and explicit maps from each dataset's own label order.

genfer uses AffectNet's order as its canonical one (it is the largest dataset and the only one
that also carries contempt): 0 neutral, 1 happiness, 2 sadness, 3 surprise, 4 fear, 5 disgust,
6 anger, 7 contempt. The seven basic classes (0..6) are what every 7-class model predicts;
contempt (7) exists for the datasets that label it and is dropped or kept explicitly.
Every dataset keeps its own order in a ``LabelMap`` so a reader converts with one lookup and a
wrong label fails loudly instead of being silently re-numbered.
"""

from __future__ import annotations

from dataclasses import dataclass

EXPRESSIONS: tuple[str, ...] = (
    "neutral",
    "happiness",
    "sadness",
    "surprise",
    "fear",
    "disgust",
    "anger",
    "contempt",
)
"""Canonical expression names; the index is the canonical label."""

BASIC7: tuple[str, ...] = EXPRESSIONS[:7]
"""The seven basic classes every 7-class recogniser in genfer predicts, in canonical order."""

CONTEMPT = EXPRESSIONS.index("contempt")
UNKNOWN = -1
"""Label of an item whose expression is unknown or not a face (e.g. AffectNet 8..10)."""


def expression_index(name: str) -> int:
    """Canonical index of an expression name (case-insensitive; accepts common aliases)."""
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    try:
        return EXPRESSIONS.index(key)
    except ValueError:
        raise KeyError(f"unknown expression {name!r}; known: {', '.join(EXPRESSIONS)}") from None


_ALIASES = {
    "happy": "happiness",
    "joy": "happiness",
    "sad": "sadness",
    "surprised": "surprise",
    "fearful": "fear",
    "afraid": "fear",
    "disgusted": "disgust",
    "angry": "anger",
    "neutrality": "neutral",
    "contemptuous": "contempt",
}


@dataclass(frozen=True)
class LabelMap:
    """A dataset's own label order, mapped onto the canonical taxonomy.

    Args:
        dataset: dataset name, used in error messages.
        names: the dataset's class names, indexed by its own label value minus ``offset``.
        offset: the dataset's first label value (RAF-DB counts from 1).
    """

    dataset: str
    names: tuple[str, ...]
    offset: int = 0

    def to_canonical(self, label: int) -> int:
        """Dataset label -> canonical index; ``UNKNOWN`` for non-expression classes."""
        i = int(label) - self.offset
        if not 0 <= i < len(self.names):
            raise ValueError(
                f"{self.dataset}: label {label} outside {self.offset}..{self.offset + len(self.names) - 1}"
            )
        name = self.names[i]
        return UNKNOWN if name == "unknown" else expression_index(name)

    def from_canonical(self, index: int) -> int:
        """Canonical index -> dataset label (for writing files in the dataset's own format)."""
        name = EXPRESSIONS[index]
        if name not in self.names:
            raise ValueError(f"{self.dataset} has no class {name!r}")
        return self.names.index(name) + self.offset


# RAF-DB basic: list_patition_label.txt labels 1..7.
RAFDB = LabelMap(
    "rafdb", ("surprise", "fear", "disgust", "happiness", "sadness", "anger", "neutral"), offset=1
)
# FER2013 / FERPlus emotion column 0..6.
FER2013 = LabelMap("fer2013", ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral"))
# AffectNet expression 0..10; 8 none, 9 uncertain, 10 non-face.
AFFECTNET = LabelMap("affectnet", (*EXPRESSIONS, "unknown", "unknown", "unknown"))
# CK+ Emotion/*.txt values 0..7 (0 is neutral, which CK+ only implies by the first frame).
CKPLUS = LabelMap(
    "ckplus", ("neutral", "anger", "contempt", "disgust", "fear", "happiness", "sadness", "surprise")
)
# FERPlus fer2013new.csv vote columns, in file order (``unknown`` and ``NF`` = not a face).
FERPLUS_COLUMNS: tuple[str, ...] = (
    "neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown", "NF"
)
"""The ten vote columns of fer2013new.csv, in file order."""
FERPLUS = LabelMap("ferplus", (*FERPLUS_COLUMNS[:8], "unknown", "unknown"))

# Multi-PIE as JESRL numbers it (README: "do not change this order"). Scream and squint have no
# canonical class: ``MULTIPIE`` maps them to unknown; readers can keep the native 6 labels instead.
MULTIPIE_CLASSES: tuple[str, ...] = ("disgust", "scream", "smile", "squint", "surprise", "neutral")
MULTIPIE = LabelMap("multipie", ("disgust", "unknown", "happiness", "unknown", "surprise", "neutral"))
MULTIPIE_RECORDINGS: dict[tuple[int, int], str] = {
    (1, 1): "neutral", (1, 2): "smile",
    (2, 1): "neutral", (2, 2): "surprise", (2, 3): "squint",
    (3, 1): "neutral", (3, 2): "smile", (3, 3): "disgust",
    (4, 1): "neutral", (4, 2): "neutral", (4, 3): "scream",
}
"""Multi-PIE expression of each (session, recording), as native ``MULTIPIE_CLASSES`` names."""

# KDEF file-name expression codes (characters 5-6 of e.g. AF01ANS.JPG).
KDEF_CODES: dict[str, str] = {
    "AF": "fear", "AN": "anger", "DI": "disgust", "HA": "happiness",
    "NE": "neutral", "SA": "sadness", "SU": "surprise",
}

LABEL_MAPS: dict[str, LabelMap] = {
    m.dataset: m for m in (RAFDB, FER2013, AFFECTNET, CKPLUS, FERPLUS, MULTIPIE)
}
"""Every dataset label order by name, for readers of numbered class folders or CSV lists."""
