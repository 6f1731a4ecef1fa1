"""Batched, vectorised SynthFace rasteriser.

A face is painted in a canonical frame (x right, y down; see ``ZOOM``) from soft-edged
primitives evaluated on the pixel grid, then one affine resample applies roll, scale and
translation, and lighting and noise are added in the output frame. Three choices keep it fast on
a CPU:

* Every primitive is separable: its shape is a per-column curve (or per-row, for the nasolabial
  folds) tested against the row coordinate, so per-pixel work is a handful of broadcast ops.
* Features are painted inside fixed pixel windows of the canonical frame (brows, eyes, cheeks,
  nose, folds, mouth, chin), wide enough for every identity, AU and yaw, not over the whole image.
* Yaw is a per-image remapping of the column coordinate (points on a sphere turning), so it costs
  nothing per pixel and every primitive picks it up for free.

Coverage of a shape with signed distance ``sd`` (canonical units, positive inside) is
``clamp(sd / pixel + 0.5, 0, 1)``: a one-pixel anti-aliased edge at every resolution.
"""

from __future__ import annotations

import copy
import math
from concurrent.futures import ThreadPoolExecutor

import torch
import torch.nn.functional as F
from torch import Tensor

from genfer.data.aus import AU_MAX, AU_NAMES, NUM_AUS

from .params import sample_identity, sample_nuisance

_LUMA = torch.tensor([0.299, 0.587, 0.114])
ZOOM = 1.2
Y_SHIFT = 0.08
"""The canvas shows canonical x in [-1/ZOOM, 1/ZOOM] and y in Y_SHIFT + [-1/ZOOM, 1/ZOOM]: a tight
face crop from the forehead to the chin, as aligned face datasets are."""


def _pixel_grid(size: int) -> Tensor:
    """Pixel-centre coordinates in [-1, 1] (the ``align_corners=False`` convention): [size]."""
    return (torch.arange(size, dtype=torch.float32) + 0.5) * (2.0 / size) - 1.0


_NOISE_BANK: dict[int, Tensor] = {}
_NOISE_K = 127


def _noise_bank(size: int) -> Tensor:
    """A fixed bank of unit Gaussian noise fields [K, S, S], built once per size.

    Each image (and channel) takes one field, picked by its nuisance draw: drawing fresh noise per
    image would cost more than rendering the face.
    """
    if size not in _NOISE_BANK:
        g = torch.Generator().manual_seed(20240601 + size)
        _NOISE_BANK[size] = torch.randn(_NOISE_K, size, size, generator=g)
    return _NOISE_BANK[size]


class _Window:
    """A fixed rectangle of the canonical canvas with its coordinates.

    Attributes:
        img: view [N, C, h, w] into the canvas.
        x: feature x of each column [N, w] (yaw applied); xf: face-outline x [N, w].
        y: row coordinates [h]; Y: the same as [1, h, 1] for broadcasting.
    """

    def __init__(self, cv: _Canvas, x0: float, x1: float, y0: float, y1: float) -> None:
        s, z = cv.size, ZOOM
        c0, c1 = max(0, math.floor((x0 * z + 1) * s / 2)), min(s, math.ceil((x1 * z + 1) * s / 2))
        y0, y1 = y0 - Y_SHIFT, y1 - Y_SHIFT
        r0, r1 = max(0, math.floor((y0 * z + 1) * s / 2)), min(s, math.ceil((y1 * z + 1) * s / 2))
        self.img = cv.img[:, :, r0:r1, c0:c1]
        self.x = cv.x[:, c0:c1]
        self.xf = cv.xf[:, c0:c1]
        self.y = cv.grid[r0:r1]
        self.Y = self.y[None, :, None]
        self.ipx = cv.ipx
        self.cv = cv

    def subset(self, idx: Tensor) -> _Window:
        """This window for images ``idx`` only (a copy; ``commit`` writes it back).

        For layers that few images have (glasses, long hair): painting a gathered subset beats
        painting every image with zero coverage.
        """
        sub = copy.copy(self)
        sub.img, sub.x, sub.xf = self.img[idx], self.x[idx], self.xf[idx]
        sub.parent, sub.idx = self, idx
        return sub

    def commit(self) -> None:
        self.parent.img[self.idx] = self.img

    def cov(self, sd: Tensor) -> Tensor:
        """Coverage in [0, 1] of a signed distance (modified in place)."""
        return sd.mul_(self.ipx).add_(0.5).clamp_(0, 1)

    def paint(self, colour: Tensor, cov: Tensor) -> None:
        """Alpha-blend a colour [N, 3] (RGB) with coverage [N, h, w] over the window."""
        self.img.lerp_(self.cv.colour(colour), cov[:, None])

    def shade(self, factor: Tensor) -> None:
        """Multiply the window by a factor [N, h, w] (darkening < 1 < lightening)."""
        self.img.mul_(factor[:, None])


class _Canvas:
    """The canonical canvas [N, C, S, S] of one chunk, with per-image column coordinates."""

    def __init__(self, n: int, size: int, channels: int, x: Tensor, xf: Tensor, yaw: Tensor) -> None:
        self.size, self.channels = size, channels
        self.yaw = yaw
        self.grid = _pixel_grid(size) / ZOOM + Y_SHIFT  # row coordinates
        self.ipx = size * ZOOM / 2.0  # 1 / pixel size in canonical units
        self.x, self.xf = x, xf
        self.img = torch.empty(n, channels, size, size)

    def colour(self, rgb: Tensor) -> Tensor:
        """RGB [N, 3] -> [N, C, 1, 1] in the canvas's channels (luma for grey)."""
        c = rgb if self.channels == 3 else (rgb @ _LUMA)[:, None]
        return c[:, :, None, None]

    def window(self, x0: float, x1: float, y0: float, y1: float) -> _Window:
        return _Window(self, x0, x1, y0, y1)


def _c(t: Tensor) -> Tensor:
    """Per-column [N, w] -> [N, 1, w]."""
    return t[:, None, :]


def _r(t: Tensor) -> Tensor:
    """Per-row [N, h] -> [N, h, 1]."""
    return t[:, :, None]


def _s(t: Tensor) -> Tensor:
    """Per-image [N] -> [N, 1] (for combining with [N, w] or [N, h] vectors)."""
    return t[:, None]


def _hump(d: Tensor, w: float | Tensor) -> Tensor:
    """Soft bump max(0, 1 - (d / w)^2): 1 at d = 0, 0 beyond |d| = w."""
    return (1 - (d / w).square()).clamp_(min=0)


def _q(dx: Tensor, dy: Tensor) -> Tensor:
    """Separable squared radius: per-column dx [N, w] and per-row dy [N or 1, h] -> [N, h, w]."""
    return _c(dx.square()) + _r(dy.square())


def _line(w: _Window, yc: Tensor, half: float | Tensor) -> Tensor:
    """Signed distance to a horizontal-ish curve y = yc[col] of half-thickness ``half``: [N, h, w]."""
    return (_c(yc) - w.Y).abs_().neg_().add_(half)


def _geometry(ip: dict[str, Tensor], t: dict[str, Tensor]) -> dict[str, Tensor]:
    """Identity + normalised AU intensities (0..1) -> the face's geometry, per image [N]."""
    g: dict[str, Tensor] = {}
    g["cy"] = ip["face_cy"]
    g["a"] = ip["face_a"]
    g["bt"] = ip["face_bt"]
    g["bb"] = ip["face_bb"] + 0.075 * t["AU26"]
    g["ey"] = ip["eye_y"]
    g["ex"] = ip["eye_x"]
    g["ew"] = ip["eye_w"] * (1 - 0.06 * t["AU07"] - 0.05 * t["AU06"])
    g["hu"] = (
        ip["eye_hu"]
        * (1 + 1.0 * t["AU05"])
        * (1 - 0.35 * t["AU07"])
        * (1 - 0.3 * t["AU04"])
        * (1 - 0.25 * t["AU06"])
        * (1 - 0.2 * t["AU09"])
    )
    g["hl"] = (
        ip["eye_hl"]
        * (1 + 0.15 * t["AU05"])
        * (1 - 0.6 * t["AU07"])
        * (1 - 0.55 * t["AU06"])
        * (1 - 0.3 * t["AU09"])
    )
    g["close"] = t["AU45"] * t["AU45"] * (3 - 2 * t["AU45"])  # smoothstep
    # brows (positive dy = down)
    g["by"] = ip["eye_y"] - ip["brow_gap"]
    g["bin"] = (ip["brow_in"] - 0.045 * t["AU04"] - 0.01 * t["AU09"]).clamp(min=0.03)
    g["bout"] = ip["eye_x"] + ip["eye_w"] + ip["brow_out"]
    g["b_in"] = -0.11 * t["AU01"] + 0.065 * t["AU04"] + 0.035 * t["AU09"] + 0.01 * t["AU07"]
    g["b_out"] = -0.1 * t["AU02"] - 0.02 * t["AU01"] + 0.025 * t["AU04"] + 0.01 * t["AU09"]
    g["arch"] = ip["brow_arch"] * (1 + 0.8 * t["AU02"] - 0.5 * t["AU04"])
    g["bth"] = ip["brow_th"] * (1 + 0.15 * t["AU04"])
    # nose
    g["tip"] = ip["eye_y"] + ip["nose_len"]
    g["nlift"] = -0.028 * t["AU09"] - 0.018 * t["AU10"]
    g["nw"] = ip["nose_w"] * (1 + 0.15 * t["AU09"] + 0.08 * t["AU10"])
    # mouth
    g["my"] = g["tip"] + ip["mouth_gap"] - 0.015 * t["AU17"] - 0.01 * t["AU10"]
    g["hw"] = ip["mouth_w"] * (
        1
        + 0.17 * t["AU12"]
        + 0.36 * t["AU20"]
        - 0.16 * t["AU23"]
        - 0.12 * t["AU14"]
        - 0.08 * t["AU26"]
        + 0.05 * t["AU10"]
        - 0.05 * t["AU17"]
    )
    g["cdy"] = (
        -0.1 * t["AU12"]
        + 0.09 * t["AU15"]
        + 0.02 * t["AU20"]
        - 0.02 * t["AU14"]
        + 0.012 * t["AU09"]
    )
    g["lift17"] = 0.03 * t["AU17"]
    g["gu"] = 0.014 * t["AU25"] + 0.014 * t["AU26"] + 0.026 * t["AU10"] + 0.008 * t["AU09"]
    g["gl"] = 0.026 * t["AU25"] + 0.12 * t["AU26"] + 0.01 * t["AU20"] * t["AU25"]
    g["tu"] = ip["lip_u"] * (1 - 0.65 * t["AU23"]) * (1 - 0.25 * t["AU20"]) * (1 - 0.3 * t["AU12"])
    g["tl"] = ip["lip_l"] * (1 - 0.6 * t["AU23"]) * (1 - 0.25 * t["AU20"]) * (1 - 0.2 * t["AU12"])
    g["tl"] = g["tl"] * (1 + 0.3 * t["AU17"])
    g["square"] = 2 + 3.5 * t["AU20"] + 1.5 * t["AU10"]
    return g


# --- layers -------------------------------------------------------------------------------------
def _background(cv: _Canvas, nu: dict[str, Tensor]) -> None:
    g = _pixel_grid(cv.size)[None, None]  # [1, 1, S]

    def edge(pos: Tensor) -> Tensor:
        return ((g - pos[:, None, None]) / nu["bg_soft"][:, None, None]).clamp(-1, 1) * 0.5 + 0.5

    col = nu["bg_base"][:, :, None] + nu["bg_gx"][:, :, None] * g + nu["bg_ex"][:, :, None] * edge(nu["bg_x0"])
    row = nu["bg_gy"][:, :, None] * g + nu["bg_ey"][:, :, None] * edge(nu["bg_y0"])  # [N, 3, S]
    if cv.channels == 1:
        col, row = (col * _LUMA[:, None]).sum(1, keepdim=True), (row * _LUMA[:, None]).sum(1, keepdim=True)
    torch.add(row[:, :, :, None], col[:, :, None, :], out=cv.img)


def _body(cv: _Canvas, ip: dict[str, Tensor], g: dict[str, Tensor]) -> None:
    """Neck, clothes and long hair falling behind the head."""
    idx = (ip["hair_style"] == 1).nonzero().squeeze(1)
    if len(idx):  # long hair behind the head and shoulders
        w = cv.window(-1, 1, -1, 1.2).subset(idx)
        ha, cy = g["a"][idx] + ip["hair_vol"][idx] + 0.1, g["cy"][idx]
        q = _q(w.xf / _s(ha), (w.y[None] - _s(cy - 0.1)) / 1.05)
        sd = torch.minimum((1 - q).mul_(0.3), _r(_s(ip["hair_len"][idx] + cy) - w.y[None]))
        w.paint(ip["hair"][idx] * 0.85, w.cov(sd))
        w.commit()
    # neck
    w = cv.window(-0.56, 0.56, -0.02, 1.2)
    nw = _s(ip["neck_w"]) + 0.08 * (w.y[None] - _s(g["cy"])).clamp(min=0)  # [N, h]
    sd = torch.minimum(_r(nw) - w.xf.abs()[:, None], _r(w.y[None] - _s(g["cy"])))
    w.paint(ip["skin"] * 0.72, w.cov(sd))
    # clothes: shoulders sloping away from the neck, with a collar dip
    w = cv.window(-1, 1, 0.6, 1.2)
    top = _s(g["cy"] + g["bb"] - 0.06) + 0.3 * (w.xf.abs() - _s(ip["neck_w"]) + 0.04).clamp(min=0)
    top = top + 0.16 * _hump(w.xf, _s(ip["neck_w"]))
    w.paint(ip["clothes"], w.cov(w.Y - _c(top)))


def _face(cv: _Canvas, ip: dict[str, Tensor], g: dict[str, Tensor]) -> Tensor:
    """Ears, face oval with jaw taper and 3-D shading; returns the face's coverage."""
    # ears (hidden by long hair), in the band of rows they can occupy
    w = cv.window(-0.9, 0.9, -0.22, 0.2)
    ear = _s((ip["hair_style"] != 1).float())[:, :, None]
    q = _q((w.xf.abs() - _s(g["a"] * 0.96)) / 0.065, (w.y[None] - _s(g["ey"] + 0.1)) / _s(ip["ear_h"]))
    w.paint(ip["skin"] * 0.9, w.cov((1 - q) * 0.035).mul_(ear))
    w.shade(1 - 0.25 * _hump(q.sqrt_(), 0.6) * ear)
    w = cv.window(-0.9, 0.9, -1, 1.2)
    yrel = w.y[None] - _s(g["cy"])  # [N, h]
    # face oval: half-width tapers towards the chin
    b = torch.where(yrel < 0, _s(g["bt"]), _s(g["bb"]))
    tau = ((yrel / b - 0.2) / 0.8).clamp(0, 1)
    arow = _s(g["a"]) * (1 - _s(ip["jaw"]) * tau.square())
    qx = _r(arow.reciprocal().square()) * _c(w.xf.square())
    q = qx + _r((yrel / b).square())
    cov = w.cov((1 - q).mul_(_r(0.5 * arow)))
    w.paint(ip["skin"], cov)
    # rounder look: darker towards the cheeks' edges and under the jaw
    shade = qx.clamp_(0, 1).square_().add_(_r(0.5 * (yrel / b).clamp(min=0).pow(4)))
    shade = shade.mul_(cov).mul_(-0.22).add_(1)
    w.shade(shade)
    return cov


def _hair_cap(cv: _Canvas, ip: dict[str, Tensor], g: dict[str, Tensor]) -> None:
    w = cv.window(-1, 1, -1, 0.25)
    style = ip["hair_style"]
    vol = ip["hair_vol"]
    cx = _s(g["cy"] - 0.06 - vol)
    q = _q(w.xf / _s(g["a"] + vol + 0.01), (w.y[None] - cx) / _s(g["bt"] + 0.1 + vol))
    sd_skull = (1 - q).mul_(0.3)
    brow_room = g["by"] - 0.21  # keep the brows and their raise visible
    h0 = torch.where(style == 3, brow_room, ip["hairline"]).clamp(max=brow_room)
    h0 = torch.where(style == 2, h0 - 0.05, h0)
    xl = w.xf - _s(ip["hair_side"])
    line = _s(h0) + 0.04 * xl.abs() + 4.0 * xl.square().square() * torch.where(style == 3, 0.3, 1.0)[:, None]
    # never over the brows (nor their raise), whatever the parting and yaw
    line = torch.where(w.xf.abs() < 0.55, torch.minimum(line, _s(brow_room + 0.04)), line)
    side_len = _s(g["ey"] + torch.where(style == 1, 0.45, 0.0) + 0.1 * vol)
    sd = torch.minimum(torch.minimum(sd_skull, _c(line) - w.Y), _r(side_len - w.y[None]))
    cov = w.cov(sd)
    alpha = torch.where(style == 2, 0.55, 0.97)[:, None, None]
    w.paint(ip["hair"], cov * alpha)
    # strands: a faint directional texture inside the hair
    tex = torch.sin(_c(w.xf * 110 - 9 * xl.abs()) + w.Y * 15).mul_(cov)
    tex = tex.mul_(_s(ip["hair_tex"] * 0.06)[:, :, None])
    w.shade(1 - tex)


def _brows(cv: _Canvas, ip: dict[str, Tensor], g: dict[str, Tensor], t: dict[str, Tensor]) -> None:
    w = cv.window(-0.66, 0.66, -0.72, -0.06)
    ax = w.x.abs()
    length = _s(g["bout"] - g["bin"])
    sc = ((ax - _s(g["bin"])) / length).clamp(0, 1)
    # forehead wrinkles: AU1 in the middle, AU2 at the sides
    yw = _s(g["by"] - 0.085) - 0.08 * w.x.square()
    wt = (_s(t["AU01"]) * _hump(w.x, 0.3) + _s(t["AU02"]) * _hump(ax - 0.3, 0.16)).clamp_(max=1)
    wt = wt * _s(0.33 * ip["age"].clamp(max=1.1))
    period = 0.042
    phase = _c(yw / period) - w.Y / period
    band = (phase * 4 + 1.5).clamp_(0, 1) * (10.5 - phase * 4).clamp_(0, 1)
    lines = (phase - phase.round()).abs_().mul_(-5).add_(1).clamp_(min=0)
    fac = 1 - lines.mul_(band).mul_(_c(wt))
    # glabella: vertical lines between the brows (AU4)
    gl_col = _hump(ax - 0.032, 0.012) * _s(t["AU04"] * 0.4)
    gl_row = _hump(w.y[None] - _s(g["by"] + 0.02), 0.08)
    fac = fac - _c(gl_col) * _r(gl_row)
    w.shade(fac)
    # brow: thick tapered curve, arched, raised/lowered per end by AUs
    yb = (
        _s(g["by"])
        + _s(g["b_in"]) * (1 - sc).pow(1.3)
        + _s(g["b_out"]) * sc.pow(1.3)
        - _s(g["arch"]) * torch.sin(math.pi * sc.pow(0.8))
    )
    half = _s(g["bth"]) * (0.6 - 0.3 * sc)
    sdx = torch.minimum(ax - _s(g["bin"]), _s(g["bout"]) - ax)
    sd = torch.minimum(_line(w, yb, _c(half)), _c(sdx))
    w.paint(ip["brow"], w.cov(sd).mul_(0.92))


def _eyes(
    cv: _Canvas, ip: dict[str, Tensor], g: dict[str, Tensor], t: dict[str, Tensor], nu: dict[str, Tensor]
) -> None:
    w = cv.window(-0.72, 0.72, -0.29, 0.1)
    ax, side = w.x.abs(), torch.sign(w.x)
    ex, ew, ey = _s(g["ex"]), _s(g["ew"]), _s(g["ey"])
    r = (ax - ex) / ew
    e = (1 - r.square()).clamp_(min=0)
    base = ey - _s(ip["eye_tilt"]) * r
    yu_open = base - _s(g["hu"]) * e.pow(0.55) * (1 - 0.12 * r)
    yl = base + _s(g["hl"]) * e.pow(0.7) * (1 + 0.1 * r)
    yu = yu_open + (yl - yu_open) * _s(g["close"])
    sdx = (1 - r.abs()) * ew
    yrow = w.y[None] - ey  # [N, h]
    # shading: socket, lid crease, AU6 cheek furrow and crow's feet, AU7 lower-lid bulge
    qs = _c(((ax - ex) / (ew + 0.07)).square()) + _r(((yrow + 0.02) / 0.1).square())
    fac = 1 - 0.1 * (1 - qs).clamp_(min=0)
    crease_y = base - (_s(ip["eye_hu"]) + 0.032) * e.sqrt()
    crease_k = 0.28 * (1 - 0.85 * t["AU05"]) * (1 - 0.6 * g["close"])
    fac -= _hump(w.Y - _c(crease_y), 0.012) * _c((sdx / 0.03).clamp(0, 1)) * _s(crease_k)[:, :, None]
    bulge_y = yl + 0.024 * e
    fac -= _hump(w.Y - _c(bulge_y), 0.01) * _c(e.sqrt() * _s(0.35 * t["AU07"]))
    furrow_y = base + _s(ip["eye_hl"]) + 0.05 - 0.02 * _s(t["AU06"]) + 0.01 * r.square()
    fac -= _hump(w.Y - _c(furrow_y), 0.014) * _c(_hump(r, 1.1) * _s(0.28 * t["AU06"] + 0.05 * ip["age"]))
    dxo = ax - ex - ew
    fmask = (dxo / 0.015).clamp(0, 1) * ((0.12 - dxo) / 0.04).clamp(0, 1) * _s(0.26 * t["AU06"])
    k = _r(yrow) / _c(dxo.clamp(min=0) + 0.03) / 0.55
    feet = (k - k.round()).abs_().mul_(-4).add_(1).clamp_(min=0).mul_((1.6 - k.abs()).clamp_(0, 1))
    fac -= feet.mul_(_c(fmask))
    w.shade(fac)
    # eyeball: sclera, iris with a dark limbus, pupil; clipped by the lids
    sd_open = torch.minimum(torch.minimum(w.Y - _c(yu), _c(yl) - w.Y), _c(sdx))
    open_ = w.cov(sd_open)
    sclera = torch.tensor([0.93, 0.90, 0.87]) * (0.85 + 0.15 * ip["skin"].mean(1, keepdim=True))
    w.paint(sclera, open_)
    ri = _s(ip["iris_r"])
    dx = w.x - side * ex - _s(nu["gaze_x"])
    dy = yrow - _s(nu["gaze_y"] - 0.004)
    dist = (_c(dx.square()) + _r(dy.square())).sqrt_()
    iris = w.cov(_r(ri) - dist).mul_(open_)
    w.paint(ip["iris"], iris)
    limbus = w.cov(dist - _r(ri - 0.011)).mul_(iris)
    w.paint(ip["iris"] * 0.45, limbus.mul_(0.8))
    pupil = w.cov(_r(ri * 0.42) - dist).mul_(open_)
    w.paint(torch.full_like(ip["skin"], 0.03), pupil)
    glint = (_c((dx + 0.35 * ri).square()) + _r((dy + 0.35 * ri).square())).sqrt_()
    w.paint(torch.full_like(ip["skin"], 0.97), w.cov(_r(ri * 0.22) - glint).mul_(open_).mul_(0.8))
    # the upper lid's shadow on the eyeball
    w.shade(1 - ((_c(yu + 0.03) - w.Y) / 0.03).clamp_(0, 1).mul_(open_).mul_(0.3))
    # lash line (thicker towards the outer corner) and the lower lid
    half = 0.007 + 0.005 * r.clamp(0, 1) + 0.003 * _s(g["close"])
    lash = torch.minimum(_line(w, yu, _c(half)), _c(sdx + 0.012))
    w.paint(ip["brow"] * 0.5, w.cov(lash))
    low = torch.minimum(_line(w, yl, 0.004), _c(sdx))
    w.paint(ip["skin"] * 0.6, w.cov(low).mul_(0.6 * (1 - g["close"])[:, None, None]))


def _glasses(cv: _Canvas, ip: dict[str, Tensor], g: dict[str, Tensor]) -> None:
    idx = ip["glasses"].nonzero().squeeze(1)
    if not len(idx):
        return
    w = cv.window(-0.8, 0.8, -0.3, 0.2).subset(idx)
    ax = w.x.abs()
    ex, ey = _s(g["ex"][idx]), _s(g["ey"][idx]) + 0.012
    rw, rh = _s(ip["eye_w"][idx]) + 0.06, 0.1
    q = _q((ax - ex) / rw, (w.y[None] - ey) / rh)
    th = _s(ip["glasses_th"][idx])[:, :, None]
    lens = w.cov((1 - q) * (0.5 * rh)).mul_(0.12)
    w.paint(torch.tensor([0.75, 0.85, 0.9]).expand(len(idx), 3), lens)
    colour = ip["glasses_col"][idx]
    w.paint(colour, w.cov(th * 0.5 - (1 - q).abs_() * (0.5 * rh)))
    # bridge and temple arms
    outer = (ax > ex + rw - 0.01) & (ax < _s(g["a"][idx] * 0.97))
    colmask = ((ax < ex - rw + 0.01) | outer).float()
    w.paint(colour, w.cov(_line(w, (ey - 0.03).expand_as(ax), th * 0.5)).mul_(_c(colmask)))
    w.commit()


def _mid_face(cv: _Canvas, ip: dict[str, Tensor], g: dict[str, Tensor], t: dict[str, Tensor]) -> None:
    """Cheeks, nose and nasolabial folds, each in its own window (all shading but the nostrils)."""
    # cheeks: raised by AU6 (and a little by AU12), blush in colour
    w = cv.window(-0.64, 0.64, -0.12, 0.24)
    cy = _s(g["ey"] + 0.21 - 0.06 * t["AU06"] - 0.03 * t["AU12"])
    cheek = (1 - _q((w.x.abs() - _s(g["ex"] + 0.03)) / 0.13, (w.y[None] - cy) / 0.09)).clamp_(min=0)
    w.paint(ip["skin"] * torch.tensor([1.0, 0.8, 0.8]), cheek * _s(0.25 * ip["blush"])[:, :, None])
    w.shade(cheek.square_().mul_(_s(0.11 * t["AU06"] + 0.06 * t["AU12"])[:, :, None]).add_(1))
    # nose: x shifted further by yaw (the nose sticks out)
    w = cv.window(-0.46, 0.46, -0.12, 0.36)
    yrow = w.y[None]  # [1, h]
    xn = w.x - _s(0.1 * torch.sin(cv.yaw))
    axn = xn.abs()
    tip = _s(g["tip"])
    nwid = _s(g["nw"])
    bridge = _c(_hump(axn - 0.55 * nwid, 0.022))
    brow_ = ((yrow - _s(g["ey"] + 0.04)) / 0.07).clamp(0, 1) * ((tip - 0.015 - yrow) / 0.05).clamp(0, 1)
    fac = 1 - bridge * _r(brow_ * 0.11)
    fac += (1 - _q(xn / 0.05, (yrow - tip + 0.03) / 0.045)).clamp_(min=0).mul_(0.07)
    lift = _s(g["nlift"])
    qa = _q((axn - 0.78 * nwid) / (0.4 * nwid), (yrow - tip - 0.005 - lift) / 0.042)
    ala = _hump(qa - 1, 0.35).mul_(_c((axn > 0.72 * nwid).float()))
    fac -= ala.mul_(_r((yrow > tip - 0.02 + lift).float() * 0.3))
    fac -= _c(_hump(xn, 0.05)) * _r(_hump(yrow - tip - 0.04 - lift, 0.025) * 0.12)
    # AU9: horizontal wrinkles across the bridge
    nphase = (_r(yrow - _s(g["ey"] + 0.03)) + _c(1.5 * xn.square())) / 0.03
    nband = (nphase * 3 + 1).clamp(0, 1) * (8 - nphase * 3).clamp(0, 1)
    nl = (nphase - nphase.round()).abs_().mul_(-4).add_(1).clamp_(min=0).mul_(nband)
    fac -= nl * _c(_hump(xn, 0.075) * _s(0.22 * t["AU09"]))
    w.shade(fac)
    qn = _q((axn - 0.42 * nwid) / (0.28 * nwid), (yrow - tip - 0.028 - lift) / 0.012)
    w.paint(ip["skin"] * 0.28, w.cov((1 - qn) * 0.006))  # nostrils
    # nasolabial folds from the nose wing to beyond the mouth corners
    w = cv.window(-0.7, 0.7, 0.04, 0.64)
    yrow = w.y[None]
    y0 = tip - 0.03 + lift
    y1 = _s(g["my"] + 0.08 - 0.03 * t["AU12"]) + 0.02
    tau = ((yrow - y0) / (y1 - y0)).clamp(0, 1)
    x0 = nwid + 0.025
    x1 = _s(g["hw"]) + 0.05
    xfold = x0 + (x1 - x0) * tau.pow(0.8) + 0.025 * torch.sin(math.pi * tau)
    fade = (tau * 6).clamp(0, 1) * ((1 - tau) * 4).clamp(0, 1) * ((yrow - y0) > 0).float()
    depth = (
        0.07 * ip["age"]
        + 0.3 * t["AU12"]
        + 0.3 * t["AU10"]
        + 0.25 * t["AU09"]
        + 0.1 * t["AU06"]
        + 0.08 * t["AU20"]
    ).clamp(max=0.55)
    d = _c(w.x.abs()) - _r(xfold)
    fac = 1 - _hump(d, 0.02).mul_(_r(fade * _s(depth)))
    fac += _hump(d - 0.05, 0.04).mul_(_r(fade * _s(depth * 0.35)))
    w.shade(fac)


def _mouth(cv: _Canvas, ip: dict[str, Tensor], g: dict[str, Tensor], t: dict[str, Tensor]) -> None:
    # chin: AU17 raises a bulging chin boss with a shadow below it
    w = cv.window(-0.3, 0.3, 0.45, 1.1)
    chin_y = _s(g["cy"] + g["bb"] - 0.13)
    boss = (1 - _q(w.x / 0.13, (w.y[None] - chin_y) / 0.07)).clamp_(min=0)
    fac = 1 + boss.mul_(_s(0.1 * t["AU17"])[:, :, None])
    fac -= _c(_hump(w.x, 0.12)) * _r(_hump(w.y[None] - chin_y - 0.075, 0.03) * _s(0.15 * t["AU17"]))
    w.shade(fac)
    w = cv.window(-0.58, 0.58, 0.12, 0.86)
    n = len(w.x)
    hw = _s(g["hw"])
    s = w.x / hw
    as_ = s.abs()
    inside = (1 - as_.square()).clamp(min=0)
    yc = _s(g["my"]) + _s(g["cdy"]) * as_.pow(2.2) - _s(g["lift17"]) * inside
    shape = (1 - as_.pow(_s(g["square"]))).clamp(min=0).pow(0.7)
    yui = yc - _s(g["gu"]) * shape
    yli = yc + _s(g["gl"]) * shape
    bow = 1 - 0.3 * torch.exp(-(s / 0.13).square())
    yuo = yui - _s(g["tu"]) * inside.pow(0.45) * bow
    ylo = yli + _s(g["tl"]) * inside.pow(0.6)
    sdx = (1 - as_) * hw
    # shading: lower-lip shadow (AU17 deepens it), dimples (AU14)
    sul_y = _s(g["my"] + g["gl"] + g["tl"]) + 0.04 - 0.015 * _s(t["AU17"]) - 0.03 * s.square()
    fac = 1 - _hump(w.Y - _c(sul_y), 0.02) * _c(_hump(s, 0.9) * _s(0.1 + 0.4 * t["AU17"]))
    cy_corner = _s(g["my"] + g["cdy"])
    dim_col = _hump(w.x.abs() - hw - 0.035, 0.016) * _s(0.6 * t["AU14"])
    dim_row = _hump(w.y[None] - cy_corner + 0.005, 0.05)
    fac -= _c(dim_col) * _r(dim_row)
    w.shade(fac)
    # lips, darker upper lip
    sd_lips = torch.minimum(torch.minimum(w.Y - _c(yuo), _c(ylo) - w.Y), _c(sdx))
    lips = w.cov(sd_lips)
    w.paint(ip["lip"], lips)
    upper = w.cov(_c(yc) - w.Y).mul_(lips).mul_(0.18)
    w.shade(1 - upper)
    # mouth line with darker corners
    sd_line = torch.minimum(_line(w, yc, _c(0.0055 + 0.004 * as_)), _c(sdx + 0.014))
    w.paint(ip["lip"] * 0.35, w.cov(sd_line).mul_(0.85))
    # opening: dark inside, upper and lower teeth
    sd_open = torch.minimum(torch.minimum(w.Y - _c(yui), _c(yli) - w.Y), _c(sdx - 0.012))
    open_ = w.cov(sd_open.clone())
    if bool((open_ > 0).any()):
        w.paint(torch.tensor([0.22, 0.06, 0.07]).expand(n, 3), open_)
        teeth_col = torch.tensor([0.93, 0.91, 0.86]).expand(n, 3) * 0.95
        up_teeth = torch.minimum(sd_open, _c(yui + 0.03 * inside.sqrt()) - w.Y)
        w.paint(teeth_col, w.cov(up_teeth))
        lo_teeth = torch.minimum(sd_open, w.Y - _c(yli - 0.02 * inside.sqrt()))
        w.paint(teeth_col * 0.8, w.cov(lo_teeth).mul_(0.9))


def _finish(cv: _Canvas, nu: dict[str, Tensor]) -> Tensor:
    """Roll/scale/translate the canonical canvas, light it, add noise: float [N, C, S, S] in 0..255."""
    img = cv.img
    n, _, s, _ = img.shape
    roll, scale = nu["roll"], nu["scale"]
    if bool((roll != 0).any() | (scale != 1).any() | (nu["tx"] != 0).any() | (nu["ty"] != 0).any()):
        # source = R(-roll) (p - t) / scale for each output pixel p; the sampling grid is a sum of
        # a per-column and a per-row term (cheaper than F.affine_grid's batched matmul)
        cs, sn = torch.cos(roll) / scale, torch.sin(roll) / scale
        tx, ty = nu["tx"], nu["ty"]
        p = _pixel_grid(s)[None]
        grid = torch.empty(n, s, s, 2)
        torch.add(_c(_s(cs) * p - _s(cs * tx + sn * ty)), _r(_s(sn) * p), out=grid[..., 0])
        torch.add(_c(_s(-sn) * p), _r(_s(cs) * p + _s(sn * tx - cs * ty)), out=grid[..., 1])
        img = F.grid_sample(img, grid, mode="bilinear", padding_mode="border", align_corners=False)
    # out = 255 * (img * light + noise) + 0.5, in two full passes
    g = _pixel_grid(s)
    b = nu["bright"] * 255
    light = _s(b)[:, :, None] + _c(_s(b * nu["light_x"]) * g[None]) + _r(_s(b * nu["light_y"]) * g[None])
    # luminance noise: one field per image, shared by the channels
    noise = _noise_bank(s).index_select(0, nu["noise_pick"] % _NOISE_K)[:, None]
    noise.mul_((nu["noise"] * 255)[:, None, None, None]).add_(0.5)
    return torch.addcmul(noise, img, light[:, None])


def _render_chunk(
    ip: dict[str, Tensor], aus: Tensor, nu: dict[str, Tensor], size: int, channels: int
) -> Tensor:
    n = len(aus)
    t01 = (aus / AU_MAX).clamp(0, 1)
    t = {name: t01[:, i] for i, name in enumerate(AU_NAMES)}
    g = _geometry(ip, t)
    grid = _pixel_grid(size) / ZOOM
    # yaw: a column at image x shows the canonical point that turned onto it on a sphere of radius R
    rad = 0.78
    yaw = nu["yaw"]
    phi = torch.asin((grid[None] / rad).clamp(-0.999, 0.999)) - yaw[:, None]
    x = rad * torch.sin(phi.clamp(-1.45, 1.45))
    xf = grid[None] - 0.12 * torch.sin(yaw)[:, None]
    cv = _Canvas(n, size, channels, x, xf, yaw)
    _background(cv, nu)
    _body(cv, ip, g)
    _face(cv, ip, g)
    _hair_cap(cv, ip, g)
    _brows(cv, ip, g, t)
    _mid_face(cv, ip, g, t)
    _eyes(cv, ip, g, t, nu)
    _mouth(cv, ip, g, t)
    _glasses(cv, ip, g)
    return _finish(cv, nu).clamp_(0, 255)


parallel_chunks = True
"""Render chunks on a thread pool of ``torch.get_num_threads()`` single-threaded workers."""


def chunk_size(size: int) -> int:
    """Images per internal batch: half a megapixel (32 at 128x128), measured fastest on 2 MiB L2."""
    return max(4, (1 << 19) // (size * size))


@torch.no_grad()
def render_keys(
    identities: Tensor,
    keys: Tensor,
    aus: Tensor,
    size: int = 128,
    channels: int = 1,
    seed: int = 0,
    nuisance: float = 1.0,
) -> Tensor:
    """Render identities wearing AU vectors, with nuisances keyed per image.

    Args:
        identities: long [N] identity ids.
        keys: long [N] nuisance keys (a dataset passes each image's index within its identity).
        aus: float [N, 17] AU intensities on the 0..5 scale, ``AU_NAMES`` order.
        size: output height and width in pixels (>= 32).
        channels: 1 (grey) or 3 (RGB).
        seed: dataset seed; identity and nuisance draws depend on it.
        nuisance: strength of pose/framing/lighting/background/noise variation (0 = none).

    Returns:
        uint8 [N, channels, size, size].
    """
    identities = torch.as_tensor(identities, dtype=torch.long).reshape(-1)
    keys = torch.as_tensor(keys, dtype=torch.long).reshape(-1)
    aus = torch.as_tensor(aus, dtype=torch.float32)
    n = len(identities)
    if aus.shape != (n, NUM_AUS):
        raise ValueError(f"aus must be [{n}, {NUM_AUS}], got {list(aus.shape)}")
    if len(keys) != n:
        raise ValueError(f"keys must have {n} entries, got {len(keys)}")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    if size < 32:
        raise ValueError(f"size must be >= 32, got {size}")
    out = torch.empty(n, channels, size, size, dtype=torch.uint8)
    out_np = out.numpy()
    step = chunk_size(size)

    def one(i: int) -> None:
        sl = slice(i, i + step)
        ip = sample_identity(identities[sl], seed)
        nu = sample_nuisance(seed, identities[sl], keys[sl], nuisance)
        # numpy's float -> uint8 cast (truncation; values already carry +0.5) is faster than torch's
        out_np[sl] = _render_chunk(ip, aus[sl], nu, size, channels).numpy()

    starts = range(0, n, step)
    threads = torch.get_num_threads()
    if threads == 1 or len(starts) == 1 or not parallel_chunks:
        for i in starts:
            one(i)
        return out
    # Chunks in parallel, each single-threaded: hundreds of small ops per chunk would otherwise
    # each synchronise all intra-op threads, which stalls badly when other processes share the cores.
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(min(threads, len(starts))) as pool:
            list(pool.map(one, starts))
    finally:
        torch.set_num_threads(threads)
    return out


def render(
    identities: Tensor,
    aus: Tensor,
    size: int = 128,
    channels: int = 1,
    seed: int = 0,
    nuisance: float = 1.0,
    nuisance_seed: int | Tensor = 0,
) -> Tensor:
    """Render given identities wearing given AU intensities.

    Used to make new renders of known identities with a chosen expression. Row ``i`` gets the
    nuisance draws (pose, framing, lighting, background, noise) keyed by
    ``(seed, identities[i], nuisance_seed * 65536 + i)``; pass a long tensor [N] as
    ``nuisance_seed`` to give each row's key directly: ``SynthFace`` image ``j`` of identity ``k``
    is ``render([k], aus, nuisance_seed=torch.tensor([j]))``.

    Args:
        identities: long [N] identity ids.
        aus: float [N, 17] intensities on the 0..5 scale in ``AU_NAMES`` order.
        size: output height and width (>= 32).
        channels: 1 (grey) or 3 (RGB).
        seed: dataset seed (identity appearance depends on it).
        nuisance: variation strength; 0 renders a frontal, centred, evenly lit face.
        nuisance_seed: int offset or per-row long tensor [N] of keys.

    Returns:
        uint8 [N, channels, size, size].
    """
    identities = torch.as_tensor(identities, dtype=torch.long).reshape(-1)
    if isinstance(nuisance_seed, Tensor):
        keys = nuisance_seed.long().reshape(-1)
    else:
        keys = int(nuisance_seed) * 65536 + torch.arange(len(identities))
    return render_keys(identities, keys, aus, size, channels, seed, nuisance)
