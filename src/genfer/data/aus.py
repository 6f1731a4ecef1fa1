"""The Action Unit catalogue genfer works with: the 17 intensity AUs OpenFace 2.x estimates.

Intensities are on OpenFace's 0..5 scale (FACS A..E mapped to 1..5). AU45 (blink) has intensity
but is not part of any prototype expression.
"""

from __future__ import annotations

AU_IDS: tuple[int, ...] = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 25, 26, 45)
AU_NAMES: tuple[str, ...] = tuple(f"AU{i:02d}" for i in AU_IDS)
AU_DESCRIPTIONS: dict[str, str] = {
    "AU01": "inner brow raiser",
    "AU02": "outer brow raiser",
    "AU04": "brow lowerer",
    "AU05": "upper lid raiser",
    "AU06": "cheek raiser",
    "AU07": "lid tightener",
    "AU09": "nose wrinkler",
    "AU10": "upper lip raiser",
    "AU12": "lip corner puller",
    "AU14": "dimpler",
    "AU15": "lip corner depressor",
    "AU17": "chin raiser",
    "AU20": "lip stretcher",
    "AU23": "lip tightener",
    "AU25": "lips part",
    "AU26": "jaw drop",
    "AU45": "blink",
}
NUM_AUS = len(AU_IDS)
AU_MAX = 5.0


def au_index(name: str | int) -> int:
    """Position of an AU in the 17-vector: accepts ``12``, ``"12"``, ``"AU12"``, ``"au12_r"``."""
    s = str(name).strip().upper().removesuffix("_R").removesuffix("_C").removeprefix("AU")
    try:
        return AU_IDS.index(int(s))
    except ValueError:
        raise KeyError(f"unknown Action Unit {name!r}; known: {', '.join(AU_NAMES)}") from None
