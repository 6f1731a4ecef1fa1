"""The Action Unit catalogue genfer works with: the 17 intensity AUs OpenFace 2.x estimates.

Intensities are on OpenFace's 0..5 scale (FACS A..E mapped to 1..5). AU45 (blink) has intensity
but is not part of any prototype expression.

Below the catalogue: reading and writing the files AUs travel in, OpenFace 2.x CSVs
(FeatureExtraction and FaceLandmarkImg) and GANimation's ``aus_openface.pkl``.
"""

from __future__ import annotations

import io as _io
import os
import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

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


# --- OpenFace 2.x CSV and GANimation pkl I/O ---------------------------------------------------------

PRESENCE_IDS: tuple[int, ...] = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 25, 26, 28, 45)
"""The 18 AUs OpenFace 2.x classifies (``AUxx_c``): the 17 intensity AUs plus AU28 (lip suck),
which OpenFace only detects as present/absent and never estimates an intensity for."""


@dataclass
class OpenFaceTable:
    """The rows of one OpenFace 2.x CSV, with the AUs in ``AU_NAMES`` order.

    Attributes:
        path: the CSV file.
        kind: ``"FeatureExtraction"`` (sequence: ``frame, face_id, timestamp, confidence,
            success, ...``) or ``"FaceLandmarkImg"`` (image: ``face, confidence, ...``).
        frame: int64 ``[N]`` frame numbers (1-based, as OpenFace writes them); for
            FaceLandmarkImg files, the 1-based row number.
        face_id: int64 ``[N]`` (``face_id`` column, or FaceLandmarkImg's ``face``; 0 if absent).
        timestamp: float64 ``[N]`` seconds, or None (FaceLandmarkImg).
        confidence: float64 ``[N]`` landmark-tracking confidence.
        success: bool ``[N]`` (all True when the file has no ``success`` column).
        intensity: float32 ``[N, 17]`` ``AUxx_r`` (0..5); NaN where the file lacks the column.
        presence: float32 ``[N, 17]`` ``AUxx_c`` (0 or 1); NaN where the file lacks the column.
        au28_presence: float32 ``[N]`` ``AU28_c``, or None when absent.
        columns: every column of the file by its (space-stripped) header name, float64 ``[N]``
            (gaze, pose, landmarks ...).
        dropped: rows removed by the ``success`` filter.
    """

    path: Path
    kind: str
    frame: np.ndarray
    face_id: np.ndarray
    timestamp: np.ndarray | None
    confidence: np.ndarray
    success: np.ndarray
    intensity: np.ndarray
    presence: np.ndarray
    au28_presence: np.ndarray | None
    columns: dict[str, np.ndarray] = field(repr=False)
    dropped: int = 0

    def __len__(self) -> int:
        return len(self.frame)


def read_openface_csv(path: str | os.PathLike, success_only: bool = True) -> OpenFaceTable:
    """Read an OpenFace 2.x FeatureExtraction or FaceLandmarkImg CSV.

    Handles the ``", "`` separators OpenFace writes (header names are stripped, values may carry
    leading spaces), a UTF-8 byte-order mark, CRLF line ends and any subset of columns; columns
    are found by name, never by position.

    Args:
        path: the CSV file.
        success_only: drop rows whose ``success`` column is 0 (tracking failed; their AUs are
            meaningless). Files without the column keep every row.

    Returns:
        An :class:`OpenFaceTable`.

    Raises:
        ValueError: an empty file, a file without AU columns, or a malformed row (the message
            names the file and line).
    """
    p = Path(path)
    text = p.read_bytes().decode("utf-8-sig")
    header_line, _, body = text.partition("\n")
    header = [h.strip() for h in header_line.strip().split(",")]
    if not header_line.strip():
        raise ValueError(f"{p}: empty file, expected an OpenFace CSV header")
    if len(set(header)) != len(header):
        dup = sorted({h for h in header if header.count(h) > 1})
        raise ValueError(f"{p}:1: duplicate column(s) {', '.join(dup)}")
    if not any(h.startswith("AU") and h[-2:] in ("_r", "_c") for h in header):
        raise ValueError(f"{p}:1: no AUxx_r / AUxx_c columns; is this an OpenFace output CSV with -aus?")
    data = _parse_rows(p, body, len(header))
    cols = {h: data[:, j] for j, h in enumerate(header)}
    n = data.shape[0]

    kind = "FeatureExtraction" if "frame" in cols else "FaceLandmarkImg"
    success = cols["success"] != 0 if "success" in cols else np.ones(n, dtype=bool)
    keep = success if success_only else np.ones(n, dtype=bool)
    cols = {h: v[keep] for h, v in cols.items()}
    m = int(keep.sum())

    def au_block(suffix: str) -> np.ndarray:
        out = np.full((m, NUM_AUS), np.nan, dtype=np.float32)
        for j, name in enumerate(AU_NAMES):
            if f"{name}{suffix}" in cols:
                out[:, j] = cols[f"{name}{suffix}"]
        return out

    frame = cols["frame"] if "frame" in cols else np.flatnonzero(keep) + 1
    face = cols.get("face_id", cols.get("face", np.zeros(m)))
    return OpenFaceTable(
        path=p,
        kind=kind,
        frame=np.asarray(frame).astype(np.int64),
        face_id=np.asarray(face).astype(np.int64),
        timestamp=cols.get("timestamp"),
        confidence=cols.get("confidence", np.full(m, np.nan)),
        success=success[keep],
        intensity=au_block("_r"),
        presence=au_block("_c"),
        au28_presence=cols["AU28_c"].astype(np.float32) if "AU28_c" in cols else None,
        columns=cols,
        dropped=n - m,
    )


def _parse_rows(p: Path, body: str, ncols: int) -> np.ndarray:
    if not body.strip():
        return np.zeros((0, ncols))
    try:
        data = np.loadtxt(_io.StringIO(body), delimiter=",", ndmin=2, dtype=np.float64)
        if data.shape[1] == ncols:
            return data
    except ValueError:
        pass
    # Slow path, only to say which line is wrong.
    for n, line in enumerate(body.splitlines(), 2):
        if not line.strip():
            continue
        fields = line.split(",")
        if len(fields) != ncols:
            raise ValueError(f"{p}:{n}: {len(fields)} values for {ncols} header columns")
        for j, f in enumerate(fields):
            try:
                float(f)
            except ValueError:
                raise ValueError(f"{p}:{n}: column {j + 1} value {f.strip()!r} is not a number") from None
    raise ValueError(f"{p}: could not parse the rows")  # pragma: no cover - the loop finds the line


def presence_from_intensity(aus: np.ndarray) -> np.ndarray:
    """genfer's presence rule for written CSVs: present (1.0) iff the written intensity >= 1.

    The rule is applied to the intensity rounded to the 2 decimals it is written with, so a file
    is self-consistent when read back. (OpenFace itself runs separate classifiers; its ``_c``
    need not agree with its ``_r``.)
    """
    a = np.asarray(aus, dtype=np.float64)
    written = np.array([float(f"{v:.2f}") for v in a.reshape(-1)]).reshape(a.shape)  # as printed
    return (written >= 1.0).astype(np.float32)


def write_openface_csv(
    path: str | os.PathLike,
    aus: np.ndarray,
    frames: Sequence[int] | None = None,
    confidence: Sequence[float] | np.ndarray | None = None,
    success: Sequence[bool] | np.ndarray | None = None,
    timestamps: Sequence[float] | np.ndarray | None = None,
) -> None:
    """Write AU intensities as an OpenFace 2.x FeatureExtraction-style CSV.

    Columns: ``frame, face_id, timestamp, confidence, success, AU01_r .. AU45_r (17),
    AU01_c .. AU45_c (17)``, separated by ``", "`` and formatted as OpenFace does (timestamp 3
    decimals, confidence and ``_r`` 2 decimals, ``_c`` 1 decimal). ``face_id`` is 0. ``_c`` follows
    :func:`presence_from_intensity`. AU28_c is not written: genfer has no AU28 estimate.
    :func:`read_openface_csv` gives back exactly the written (rounded) values.

    Args:
        path: output file (parent folders are created).
        aus: intensities ``[N, 17]`` in ``AU_NAMES`` order, finite.
        frames: frame numbers (default 1..N).
        confidence: per-row confidence (default 1.0).
        success: per-row success flags (default all 1).
        timestamps: per-row seconds (default 0.0).
    """
    a = np.asarray(aus, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != NUM_AUS:
        raise ValueError(f"aus must be [N, {NUM_AUS}] in AU_NAMES order, got {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError("aus contains NaN or infinite values")
    n = a.shape[0]
    frames_ = np.arange(1, n + 1) if frames is None else np.asarray(frames, dtype=np.int64)
    conf = np.ones(n) if confidence is None else np.asarray(confidence, dtype=np.float64)
    succ = np.ones(n, dtype=bool) if success is None else np.asarray(success, dtype=bool)
    ts = np.zeros(n) if timestamps is None else np.asarray(timestamps, dtype=np.float64)
    for name, v in (("frames", frames_), ("confidence", conf), ("success", succ), ("timestamps", ts)):
        if v.shape != (n,):
            raise ValueError(f"{name} must have one value per row ({n}), got shape {v.shape}")

    def fmt(v: float, decimals: int) -> str:
        s = f"{v:.{decimals}f}"
        return s[1:] if s.startswith("-") and float(s) == 0 else s  # no "-0.00"

    header = ["frame", "face_id", "timestamp", "confidence", "success"]
    header += [f"{x}_r" for x in AU_NAMES] + [f"{x}_c" for x in AU_NAMES]
    lines = [", ".join(header)]
    for i in range(n):
        r = [fmt(v, 2) for v in a[i]]
        c = ["1.0" if float(s) >= 1.0 else "0.0" for s in r]
        head = [str(int(frames_[i])), "0", fmt(ts[i], 3), fmt(conf[i], 2), str(int(succ[i]))]
        lines.append(", ".join(head + r + c))
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")


_PICKLE_ALLOWED = frozenset(
    {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),  # protocol 5 arrays
        ("numpy._core.numeric", "_frombuffer"),
        ("collections", "OrderedDict"),
        ("_codecs", "encode"),  # how protocol-2 pickles made by Python 3 spell bytes
    }
)


class _AUPickleUnpickler(pickle.Unpickler):
    """Unpickles only plain containers/numbers and numpy arrays: never runs other code."""

    def find_class(self, module: str, name: str):  # type: ignore[override]
        if (module, name) not in _PICKLE_ALLOWED:
            raise pickle.UnpicklingError(
                f"refusing to load {module}.{name}: an AU pickle may only hold a dict of numpy arrays"
            )
        if module.startswith("numpy.core.") and hasattr(np, "_core"):  # numpy 1 pickles under numpy 2
            module = "numpy._core." + module.removeprefix("numpy.core.")
        return super().find_class(module, name)


def read_ganimation_pkl(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a GANimation ``aus_openface.pkl``: ``{image stem: AU vector}`` (as float32).

    The pickle is read with a restricted unpickler (plain containers, numbers and numpy arrays
    only), so a malicious file cannot run code. GANimation's own files hold the 17 OpenFace
    ``AUxx_r`` intensities in ``AU_NAMES`` order; CDAN's hold 6 (AU01, 04, 06, 12, 15, 25), so the
    vector length is returned as stored.
    """
    p = Path(path)
    try:
        with open(p, "rb") as f:
            obj = _AUPickleUnpickler(f, encoding="latin1").load()  # latin1: Python 2 pickles
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as e:
        raise ValueError(f"{p}: not a readable AU pickle ({e})") from None
    if not isinstance(obj, Mapping):
        raise ValueError(f"{p}: expected a dict of image name -> AU vector, got {type(obj).__name__}")
    out: dict[str, np.ndarray] = {}
    for k, v in obj.items():
        try:
            vec = np.asarray(v, dtype=np.float32).reshape(-1)
        except (TypeError, ValueError):
            raise ValueError(f"{p}: entry {k!r} is not a numeric vector") from None
        out[str(k)] = vec
    return out


def write_ganimation_pkl(path: str | os.PathLike, table: Mapping[str, np.ndarray]) -> None:
    """Write ``{image stem: AU vector}`` as GANimation's loader expects (float64 numpy arrays)."""
    data = {str(k): np.asarray(v, dtype=np.float64).reshape(-1) for k, v in table.items()}
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as f:
        pickle.dump(data, f, protocol=4)
