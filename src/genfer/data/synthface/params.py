"""Parameter sampling for SynthFace: identities, FACS expression prototypes and nuisances.

Every random draw is a pure function of its key, ``(seed, identity id, index, stream)``, through a
counter-based integer hash rather than a sequential generator, so an image does not depend on which
other images were drawn with it: the same ``(seed, identity)`` is always the same person and the
same ``(seed, identity, index)`` always the same picture, whatever the batch or split around it.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from genfer.data.aus import AU_MAX, AU_NAMES, NUM_AUS, au_index

# --- counter-based hashing ----------------------------------------------------------------------
_M32 = 0xFFFFFFFF
_MUL = 0x45D9F3B  # < 2**31, so (h < 2**32) * _MUL never overflows int64

STREAM_IDENTITY = 1
STREAM_EXPRESSION = 2
STREAM_NUISANCE = 3


def _mix(h: Tensor) -> Tensor:
    """Integer avalanche hash on int64 tensors holding 32-bit values."""
    h = (((h >> 16) ^ h) * _MUL) & _M32
    h = (((h >> 16) ^ h) * _MUL) & _M32
    return (h >> 16) ^ h


def _absorb(h: Tensor, v: Tensor | int) -> Tensor:
    """Fold a 64-bit key (low and high halves) into the hash state."""
    if isinstance(v, int):
        v = torch.tensor(v, dtype=torch.int64)
    h = _mix(h ^ (v & _M32))
    return _mix(h ^ ((v >> 32) & _M32) ^ 0x9E3779B9)


def hash_uniform(seed: int, keys: tuple[Tensor | int, ...], stream: int, count: int) -> Tensor:
    """Uniform draws in (0, 1) that depend only on ``(seed, keys, stream)`` and the column.

    Args:
        seed: dataset seed (any Python int).
        keys: per-row integer keys, each an int or a long tensor [N] (identity id, image index, ...).
        stream: which family of draws (identity, expression, nuisance), so they never collide.
        count: draws per row.

    Returns:
        float32 [N, count].
    """
    n = max((k.numel() for k in keys if isinstance(k, Tensor)), default=1)
    h = torch.full((n,), (seed & _M32) ^ (stream * 0x27D4EB2F & _M32), dtype=torch.int64)
    h = _absorb(_mix(h), seed >> 32)
    for k in keys:
        h = _absorb(h, k.long().reshape(-1) if isinstance(k, Tensor) else k)
    cols = torch.arange(count, dtype=torch.int64) * 0x61C88647 & _M32
    out = _mix(_mix(h[:, None] ^ cols[None, :]) ^ 0x632BE5AB)
    return ((out >> 8).float() + 0.5) / float(1 << 24)


class _Draw:
    """Consumes the columns of a uniform matrix one named parameter at a time."""

    def __init__(self, u: Tensor) -> None:
        self.u = u
        self.i = 0

    def u01(self) -> Tensor:
        col = self.u[:, self.i]
        self.i += 1
        return col

    def __call__(self, lo: float, hi: float) -> Tensor:
        return lo + (hi - lo) * self.u01()

    def normal(self, std: float = 1.0) -> Tensor:
        return torch.erfinv(2 * self.u01() - 1) * (std * 2**0.5)


# --- identity -----------------------------------------------------------------------------------
# Colour palettes (linear-ish sRGB in [0, 1]); picking along them keeps colours plausible.
_SKIN = torch.tensor(
    [
        [0.97, 0.83, 0.73],
        [0.92, 0.74, 0.62],
        [0.84, 0.63, 0.48],
        [0.70, 0.50, 0.36],
        [0.55, 0.37, 0.25],
        [0.40, 0.26, 0.17],
    ]
)
_HAIR = torch.tensor(
    [
        [0.07, 0.06, 0.05],  # black
        [0.20, 0.13, 0.08],  # dark brown
        [0.38, 0.25, 0.15],  # brown
        [0.75, 0.60, 0.38],  # blond
        [0.55, 0.24, 0.11],  # red
        [0.55, 0.54, 0.52],  # grey
    ]
)
_HAIR_P = torch.tensor([0.30, 0.27, 0.18, 0.12, 0.06, 0.07])
_IRIS = torch.tensor(
    [
        [0.23, 0.14, 0.08],
        [0.40, 0.25, 0.12],
        [0.45, 0.38, 0.18],
        [0.30, 0.42, 0.28],
        [0.30, 0.45, 0.62],
        [0.45, 0.50, 0.55],
    ]
)

HAIR_STYLES: tuple[str, ...] = ("short", "long", "buzz", "fringe")


def _palette(u: Tensor, pal: Tensor) -> Tensor:
    """Linear interpolation along a palette at positions u in [0, 1]: [N] -> [N, 3]."""
    x = u.clamp(0, 1) * (len(pal) - 1)
    i = x.floor().long().clamp(max=len(pal) - 2)
    f = (x - i)[:, None]
    return pal[i] * (1 - f) + pal[i + 1] * f


def _choice(u: Tensor, probs: Tensor) -> Tensor:
    """Categorical index from a uniform draw: [N] -> long [N]."""
    edges = probs.cumsum(0) / probs.sum()
    return torch.searchsorted(edges, u.contiguous()).clamp(max=len(probs) - 1)


IDENTITY_DRAWS = 64


def sample_identity(identities: Tensor, seed: int = 0) -> dict[str, Tensor]:
    """Identity parameters of each identity id (pure function of ``(seed, id)``).

    Geometry is in the canonical face frame: x right, y down, the image spanning [-1, 1].

    Args:
        identities: long [N] identity ids.
        seed: dataset seed.

    Returns:
        dict of float [N] tensors (colours [N, 3], ``hair_style`` long [N]).
    """
    d = _Draw(hash_uniform(seed, (identities,), STREAM_IDENTITY, IDENTITY_DRAWS))
    p: dict[str, Tensor] = {}
    # face outline
    p["face_a"] = d(0.55, 0.67)  # half-width
    p["face_cy"] = d(-0.01, 0.05)
    p["face_bt"] = d(0.76, 0.86)  # half-height above centre
    p["face_bb"] = d(0.76, 0.86)  # half-height below centre (chin)
    p["jaw"] = d(0.1, 0.4)  # jaw taper towards the chin
    # eyes
    p["eye_y"] = d(-0.14, -0.07)
    p["eye_x"] = d(0.235, 0.295)
    p["eye_w"] = d(0.105, 0.135)
    p["eye_hu"] = d(0.045, 0.062)
    p["eye_hl"] = d(0.030, 0.042)
    p["eye_tilt"] = d(-0.004, 0.018)
    p["iris_r"] = d(0.040, 0.050)
    # brows
    p["brow_gap"] = d(0.12, 0.165)  # eye centre to brow centre line
    p["brow_in"] = d(0.075, 0.11)
    p["brow_out"] = d(0.03, 0.07)  # beyond the outer eye corner
    p["brow_arch"] = d(0.01, 0.04)
    p["brow_th"] = d(0.026, 0.046)
    # nose
    p["nose_len"] = d(0.27, 0.35)  # eye line to nose tip
    p["nose_w"] = d(0.075, 0.11)
    # mouth
    p["mouth_gap"] = d(0.16, 0.22)  # nose tip to mouth line
    p["mouth_w"] = d(0.17, 0.23)
    p["lip_u"] = d(0.022, 0.038)
    p["lip_l"] = d(0.030, 0.050)
    # ears, neck
    p["ear_h"] = d(0.11, 0.15)
    p["neck_w"] = d(0.26, 0.34)
    # skin, lines, colours
    p["age"] = d(0.5, 1.3)  # depth of folds and wrinkles
    skin = _palette(d.u01() ** 1.3, _SKIN)
    skin = skin * (1 + 0.04 * torch.stack([d.normal(), d.normal(), d.normal()], 1))
    p["skin"] = skin.clamp(0.05, 1)
    p["blush"] = d(0.0, 1.0)
    hair_i = _choice(d.u01(), _HAIR_P)
    p["hair"] = (_HAIR[hair_i] * d(0.8, 1.2)[:, None]).clamp(0, 1)
    p["hair_style"] = _choice(d.u01(), torch.tensor([0.4, 0.3, 0.1, 0.2]))
    p["hairline"] = d(-0.72, -0.56)
    p["hair_side"] = d(-0.08, 0.08)  # parting asymmetry
    p["hair_len"] = d(0.45, 1.1)
    p["hair_vol"] = d(0.04, 0.12)
    p["hair_tex"] = d(0.0, 1.0)
    p["iris"] = _IRIS[_choice(d.u01(), torch.ones(len(_IRIS)))]
    lipmix = d(0.35, 0.6)[:, None]
    p["lip"] = (p["skin"] * (1 - lipmix) + torch.tensor([0.62, 0.24, 0.26]) * lipmix) * 0.92
    browdark = d(0.25, 0.45)[:, None]
    p["brow"] = 0.5 * p["hair"] + 0.5 * p["skin"] * browdark
    p["glasses"] = (d.u01() < 0.2).float()
    p["glasses_col"] = torch.stack([d(0.02, 0.5)] * 3, 1) * torch.stack([d(0.7, 1.0) for _ in range(3)], 1)
    p["glasses_th"] = d(0.010, 0.02)
    p["clothes"] = torch.stack([d(0.05, 0.9) for _ in range(3)], 1)
    return p


# --- expression ---------------------------------------------------------------------------------
PROTOTYPES: dict[int, dict[str, float]] = {
    0: {},  # neutral
    1: {"AU06": 3.0, "AU12": 3.5, "AU25": 1.5},  # happiness
    2: {"AU01": 3.0, "AU04": 2.5, "AU15": 3.0, "AU17": 1.5},  # sadness
    3: {"AU01": 3.5, "AU02": 3.5, "AU05": 3.0, "AU25": 3.0, "AU26": 3.5},  # surprise
    4: {  # fear
        "AU01": 3.0,
        "AU02": 2.5,
        "AU04": 2.5,
        "AU05": 3.5,
        "AU07": 2.0,
        "AU20": 3.5,
        "AU25": 2.5,
        "AU26": 2.0,
    },
    5: {"AU09": 3.5, "AU10": 2.5, "AU15": 2.0, "AU17": 2.5},  # disgust
    6: {"AU04": 3.5, "AU05": 2.5, "AU07": 3.0, "AU23": 3.5, "AU17": 1.5},  # anger
}
"""Canonical expression index -> {AU name: typical intensity on the 0..5 scale} (FACS prototypes)."""

DROP_PROB: dict[int, dict[str, float]] = {
    1: {"AU06": 0.15, "AU25": 0.5},
    2: {"AU04": 0.15, "AU17": 0.6},
    3: {"AU05": 0.2, "AU26": 0.1},
    4: {"AU02": 0.2, "AU07": 0.3, "AU26": 0.3},
    5: {"AU10": 0.5, "AU15": 0.25, "AU17": 0.25},
    6: {"AU05": 0.3, "AU07": 0.2, "AU17": 0.6},
}
"""Probability that a prototype AU is missing from one sample (individual variation); AUs not
listed here are the prototype's core and always present."""

EXPRESSION_DRAWS = 4 * NUM_AUS + 4


def _proto_tables() -> tuple[Tensor, Tensor]:
    typ = torch.zeros(7, NUM_AUS)
    drop = torch.zeros(7, NUM_AUS)
    for e, aus in PROTOTYPES.items():
        for name, v in aus.items():
            typ[e, au_index(name)] = v
            drop[e, au_index(name)] = DROP_PROB.get(e, {}).get(name, 0.0)
    return typ, drop


_TYPICAL, _DROP = _proto_tables()


def aus_from_uniform(expressions: Tensor, u: Tensor) -> Tensor:
    """AU intensities for expressions from a given matrix of uniform draws.

    Each sample scales its prototype by one overall intensity (0.7..1.2) and each AU by its
    own factor (0.75..1.25), drops non-core AUs with their ``DROP_PROB``, adds with probability
    0.25 one extra AU at low intensity, sprinkles small values (< 0.4) on some absent AUs as an AU
    detector would, and blinks (AU45) now and then.

    Args:
        expressions: long [N] canonical labels 0..6.
        u: float [N, >= EXPRESSION_DRAWS] uniform draws in (0, 1).

    Returns:
        float32 [N, 17] intensities in [0, 5].
    """
    e = expressions.long()
    if e.numel() and (e.min() < 0 or e.max() > 6):
        raise ValueError("expressions must be canonical labels 0..6")
    k = NUM_AUS
    typ, drop = _TYPICAL[e], _DROP[e]
    overall = 0.7 + 0.5 * u[:, 0:1]
    each = 0.75 + 0.5 * u[:, 4 : 4 + k]
    keep = (u[:, 4 + k : 4 + 2 * k] >= drop).float()
    aus = typ * overall * each * keep
    # small detector-like noise on absent AUs
    noise = 0.4 * u[:, 4 + 2 * k : 4 + 3 * k] * (u[:, 4 + 3 * k : 4 + 4 * k] < 0.3).float()
    aus = torch.where(typ > 0, aus, noise)
    # one extra AU at low intensity for a quarter of the samples (never a blink)
    extra = (u[:, 1] * (k - 1)).long().clamp(max=k - 2)
    extra_v = (0.5 + 1.0 * u[:, 2]) * (u[:, 3] < 0.25).float()
    aus = aus.scatter(1, extra[:, None], torch.maximum(aus.gather(1, extra[:, None]), extra_v[:, None]))
    # blinks: 5% of samples, whatever the expression
    blink = au_index("AU45")
    blink_v = torch.where(u[:, 3] > 0.95, 2.0 + 60.0 * (u[:, 3] - 0.95), aus[:, blink])
    aus[:, blink] = blink_v
    return aus.clamp(0, AU_MAX)


SPARSE_AU_P = 0.3
"""Probability of each AU in an independent (``sparse_aus``) draw."""


def sparse_aus(on_u: Tensor, level_u: Tensor, p: float = SPARSE_AU_P) -> Tensor:
    """AU intensities drawn independently of any expression: each AU present with probability ``p``
    at an intensity uniform in [0.5, 5], else 0.

    Prototype draws tie AUs together (AU25 always comes with AU12 or AU26), so a model trained on
    them alone cannot tell those AUs apart; these draws show every AU on its own.

    Args:
        on_u: uniform draws [N, 17] deciding presence.
        level_u: uniform draws [N, 17] setting intensity.
        p: presence probability per AU.

    Returns:
        float32 [N, 17] intensities in [0, 5].
    """
    return torch.where(on_u < p, 0.5 + (AU_MAX - 0.5) * level_u, torch.zeros_like(level_u))


def sample_aus(expressions: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Sample AU intensities for canonical expression labels from the FACS prototypes.

    Args:
        expressions: long [N] canonical labels 0..6 (0 neutral .. 6 anger).
        generator: torch generator for the draws.

    Returns:
        float32 [N, 17] intensities in [0, 5], columns in ``AU_NAMES`` order.
    """
    u = torch.rand(len(expressions), EXPRESSION_DRAWS, generator=generator).clamp(1e-6, 1 - 1e-6)
    return aus_from_uniform(expressions, u)


def aus_vector(aus: Mapping[str, float]) -> Tensor:
    """{AU name: intensity} -> float32 [17] in ``AU_NAMES`` order (unnamed AUs are 0)."""
    v = torch.zeros(len(AU_NAMES))
    for name, val in aus.items():
        v[au_index(name)] = float(val)
    return v


# --- nuisances ----------------------------------------------------------------------------------
NUISANCE_DRAWS = 48


def sample_nuisance(seed: int, identities: Tensor, keys: Tensor, strength: float = 1.0) -> dict[str, Tensor]:
    """Pose, framing, lighting, background and noise of each image.

    Args:
        seed: dataset seed.
        identities: long [N] identity ids.
        keys: long [N] per-image keys (the image index within its identity).
        strength: 0 gives a frontal, centred, evenly lit, noise-free face on a plain background;
            1 the default variation; larger values exaggerate it.

    Returns:
        dict of float tensors [N] (background colours [N, 3]).
    """
    d = _Draw(hash_uniform(seed, (identities, keys), STREAM_NUISANCE, NUISANCE_DRAWS))
    s = float(strength)
    p: dict[str, Tensor] = {}
    p["roll"] = d(-1, 1) * (0.14 * s)  # radians (~8 degrees)
    p["yaw"] = d(-1, 1) * (0.20 * s)  # radians (~11 degrees)
    p["scale"] = 1 + d(-1, 1) * (0.07 * s)
    p["tx"] = d(-1, 1) * (0.06 * s)
    p["ty"] = d(-1, 1) * (0.06 * s)
    theta = d(0, 6.2832)
    g = d(0, 0.35 * s)
    p["light_x"], p["light_y"] = g * torch.cos(theta), g * torch.sin(theta)
    p["bright"] = 1 + d(-1, 1) * (0.12 * s)
    p["noise"] = d.u01().square() * (0.02 * s)
    p["gaze_x"] = d(-1, 1) * (0.012 * s)
    p["gaze_y"] = d(-1, 1) * (0.006 * s)
    # background: colour + linear gradients + one soft vertical and one soft horizontal edge, a
    # sum of a per-column and a per-row term (so it costs one pass to paint)
    k = min(s, 1.0)
    base = torch.stack([d(0.1, 0.9) for _ in range(3)], 1)
    grey = base.mean(1, keepdim=True)
    base = grey + (base - grey) * d(0, 1)[:, None]
    p["bg_base"] = 0.55 + (base - 0.55) * k

    def rgb(scale: float) -> Tensor:  # mostly a brightness change, a little colour
        return scale * k * (d(-1, 1)[:, None] + 0.35 * torch.stack([d(-1, 1) for _ in range(3)], 1))

    p["bg_gx"], p["bg_gy"] = rgb(0.15), rgb(0.15)
    p["bg_ex"] = rgb(0.3) * (d.u01() < 0.5).float()[:, None]
    p["bg_ey"] = rgb(0.3) * (d.u01() < 0.35).float()[:, None]
    p["bg_x0"], p["bg_y0"] = d(-1, 1), d(-1, 1)
    p["bg_soft"] = d(0.01, 0.3)
    p["noise_pick"] = (d.u01() * 65521).long()
    return p
