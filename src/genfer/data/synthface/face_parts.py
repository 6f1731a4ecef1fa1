"""The face parts of SynthFace, painted back to front on a ``_Canvas``: background, body, face,
hair, brows, mid-face, eyes, mouth, glasses. ``_geometry`` turns identity parameters and AU
activations into the shapes they share."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .canvas import _LUMA, _c, _Canvas, _hump, _line, _pixel_grid, _q, _r, _s


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
