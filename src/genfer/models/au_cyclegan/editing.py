"""AU target vectors for editing: ``"AU12=3,AU06=2"`` strings, emotion presets, strips and grids.

Emotion presets are SynthFace's FACS prototypes (``genfer.data.synthface.PROTOTYPES``) plus
contempt, which SynthFace does not render (the seed's mapping: AU12 + AU14). Everything here works
on intensities on the 0..5 scale in ``AU_NAMES`` order; the method turns them into its condition.
"""

from __future__ import annotations

import torch
from torch import Tensor

from genfer.data.aus import AU_MAX, AU_NAMES, NUM_AUS, au_index
from genfer.data.labels import CONTEMPT, EXPRESSIONS, expression_index

CONTEMPT_AUS: dict[str, float] = {"AU12": 1.5, "AU14": 3.0}
"""Contempt for presets: lip-corner puller and dimpler (unilateral in FACS; bilateral here)."""

GRID_AUS: tuple[str, ...] = ("AU01", "AU02", "AU04", "AU05", "AU10", "AU12", "AU15", "AU25", "AU45")
"""The AUs of the seed's qualitative single-AU editing figure, in its column order."""

GRID_INTENSITIES: tuple[float, ...] = (0.0, 5 / 3, 10 / 3, 5.0)
"""The seed figure's rows: the condition at 0, .33, .66 and 1 of its range, as intensities."""


def parse_aus(spec: str) -> dict[str, float]:
    """``"AU12=3,AU06=2"`` (also ``12=3``, ``au12_r=3``, spaces or commas) -> ``{"AU12": 3.0, "AU06": 2.0}``.

    Raises:
        ValueError: for a malformed item or an intensity outside 0..5.
        KeyError: for an unknown AU.
    """
    out: dict[str, float] = {}
    for item in spec.replace(",", " ").split():
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise ValueError(f"AU item {item!r} is not of the form AU12=3")
        try:
            v = float(value)
        except ValueError:
            raise ValueError(f"AU item {item!r}: {value!r} is not a number") from None
        if not 0 <= v <= AU_MAX:
            raise ValueError(f"AU item {item!r}: intensity must be in 0..{AU_MAX:g}")
        out[AU_NAMES[au_index(name)]] = v
    return out


def aus_tensor(aus: dict[str, float], base: Tensor | None = None) -> Tensor:
    """Intensities ``[17]``: ``base`` (default zeros) with the named AUs set."""
    v = torch.zeros(NUM_AUS) if base is None else base.detach().float().cpu().clone()
    for name, val in aus.items():
        v[au_index(name)] = float(val)
    return v


def emotion_aus(emotion: str | int, intensity: float | None = None) -> Tensor:
    """AU intensities ``[17]`` of an emotion's FACS prototype.

    Args:
        emotion: canonical name (``happiness``, aliases like ``happy``) or index 0..7.
        intensity: the strongest AU's value (0..5); the others keep their proportions.
            ``None`` keeps the prototype's typical intensities (e.g. happiness AU06 3, AU12 3.5,
            AU25 1.5).
    """
    from genfer.data.synthface import PROTOTYPES

    idx = emotion if isinstance(emotion, int) else expression_index(emotion)
    if not 0 <= idx < len(EXPRESSIONS):
        raise KeyError(f"unknown expression index {idx}")
    proto = CONTEMPT_AUS if idx == CONTEMPT else PROTOTYPES[idx]
    v = aus_tensor(proto)
    if intensity is not None:
        if not 0 <= intensity <= AU_MAX:
            raise ValueError(f"intensity must be in 0..{AU_MAX:g}, got {intensity}")
        peak = float(v.max())
        if peak > 0:
            v = v * (intensity / peak)
    return v


def interpolation(start: Tensor, end: Tensor, steps: int) -> Tensor:
    """``steps`` vectors from ``start`` to ``end`` inclusive: ``[steps, K]``."""
    if steps < 2:
        raise ValueError(f"an interpolation strip needs at least 2 steps, got {steps}")
    t = torch.linspace(0, 1, steps, dtype=start.dtype, device=start.device)[:, None]
    return start[None] * (1 - t) + end[None] * t


def single_au_grid(
    base: Tensor, aus: tuple[str, ...] = GRID_AUS, intensities: tuple[float, ...] = GRID_INTENSITIES
) -> Tensor:
    """Targets ``[len(intensities) * len(aus), 17]``: row r, column k is ``base`` with AU k at intensity r."""
    rows = []
    for v in intensities:
        for name in aus:
            t = base.clone()
            t[au_index(name)] = v
            rows.append(t)
    return torch.stack(rows)




def target_aus(
    source: Tensor,
    aus: dict[str, float] | None = None,
    emotion: str | int | None = None,
    intensity: float | None = None,
    base: str = "source",
) -> Tensor:
    """The target intensities ``[N, 17]`` of an edit request, one row per source row.

    Args:
        source: the faces' own intensities ``[N, 17]`` (e.g. the critic's estimate).
        aus: AUs to set (``parse_aus`` output).
        emotion: an emotion preset (``emotion_aus``) instead of, or under, ``aus``.
        intensity: the preset's strongest AU (0..5); ``None`` keeps its typical intensities.
        base: what unnamed AUs keep when only ``aus`` is given: ``source`` (the face's own AUs)
            or ``neutral`` (0). With an emotion the preset is the base.
    """
    if base not in ("source", "neutral"):
        raise ValueError(f"base must be 'source' or 'neutral', got {base!r}")
    if emotion is None and not aus:
        raise ValueError("give target AUs, an emotion, or both")
    n = source.shape[0]
    if emotion is not None:
        start = emotion_aus(emotion, intensity).expand(n, -1)
    elif base == "source":
        start = source.float().cpu()
    else:
        start = torch.zeros(n, NUM_AUS)
    return torch.stack([aus_tensor(aus or {}, start[i]) for i in range(n)])


def edit_request(
    method,
    images: Tensor,
    aus: dict[str, float] | None = None,
    emotion: str | int | None = None,
    intensity: float | None = None,
    base: str = "source",
    strip: int = 0,
    grid: bool = False,
) -> tuple[Tensor, int]:
    """Everything ``genfer edit`` can make, as one image batch and its number of columns.

    Args:
        method: a trained ``AUCycleGAN``.
        images: faces uint8 ``[N, C, H, W]`` at the model's size.
        aus, emotion, intensity, base: the target (``target_aus``); ``grid`` needs none.
        strip: ``> 1``: per face, the input then ``strip`` images interpolating from its own AUs
            (the critic's estimate) to the target.
        grid: per face, the seed's single-AU figure: rows ``GRID_INTENSITIES``, columns
            ``GRID_AUS``, the other AUs kept at the face's own.

    Returns:
        ``([M, C, H, W] floats in [0, 1], columns)``: one face and no strip or grid gives the
        edited image alone (1 column); several faces give rows [input, edited].
    """
    source = method.estimate_aus(images)
    if grid:
        out = [method.au_grid(images[i : i + 1], base=source[i]) for i in range(images.shape[0])]
        return torch.cat(out).cpu(), len(GRID_AUS)
    target = target_aus(source, aus, emotion, intensity, base)
    unit = images.float() / 255 if images.dtype == torch.uint8 else images.float()
    if strip:
        rows = [
            torch.cat([unit[i : i + 1].cpu(), method.strip(images[i : i + 1], target[i], strip, source[i]).cpu()])
            for i in range(images.shape[0])
        ]
        return torch.cat(rows), strip + 1
    edited = method.edit(images, target).cpu()
    if images.shape[0] == 1:
        return edited, 1
    return torch.stack((unit.cpu(), edited), 1).flatten(0, 1), 2


__all__ = [
    "CONTEMPT_AUS",
    "GRID_AUS",
    "GRID_INTENSITIES",
    "aus_tensor",
    "edit_request",
    "emotion_aus",
    "interpolation",
    "parse_aus",
    "single_au_grid",
    "target_aus",
]
