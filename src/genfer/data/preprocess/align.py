"""Face alignment: a similarity transform from five landmarks to a named template, and crop presets.

Coordinates are continuous pixel coordinates (origin at the top-left corner of the image, pixel
centres at +0.5; see ``detections``). A transform is a float64 ``[2, 3]`` matrix ``M`` taking a
source point ``p`` to ``M[:, :2] @ p + M[:, 2]`` in the crop.

Ways to place a face in a crop (``align=``):

- ``five-point``: least-squares similarity (Umeyama 1991: scale, rotation, translation, no
  reflection) from the five landmarks to a template scaled to the crop;
- ``ffhq``: the rule NVIDIA used to build FFHQ, from eye centres and mouth corners (the oriented
  square around ``eye_avg + 0.1 * eye_to_mouth``, half-side ``max(2 |eye_to_eye|,
  1.8 |eye_to_mouth|)``), which StyleGAN-based methods expect;
- ``box``: the detector's box made square (scaled by ``1 + margin``), no rotation;
- ``none``: the whole image resized (for datasets that ship aligned faces).

Templates (``TEMPLATES``), as published, in their reference frame:

- ``arcface``: the 112x112 five-point template of InsightFace (Deng et al., ArcFace, CVPR 2019;
  ``deepinsight/insightface``, ``arcface_dst``), the de-facto standard for 5-point alignment.
  Published in OpenCV pixel-index coordinates; +0.5 converts them to ours.
- ``arcface-wide``: the same points shrunk by 0.8 about the crop centre: the same alignment with
  more context (forehead, chin, some hair), for expression work where the face outline matters.

Crop presets (:data:`genfer.core.registry.CROP_PRESETS`, also reachable here as ``PRESETS``) are the
per-seed crop rules of the five reproduced systems, registered under the method names.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from genfer.core.registry import CROP_PRESETS
from genfer.data.preprocess.detections import FaceDetections


@dataclass(frozen=True)
class Template:
    """Five reference points in a ``width`` x ``height`` frame (continuous coordinates).

    Args:
        name: short name.
        points: ``((x, y), ...)`` in ``LANDMARK_NAMES`` order.
        width: reference frame width.
        height: reference frame height.
        source: where the numbers come from.
    """

    name: str
    points: tuple[tuple[float, float], ...]
    width: float
    height: float
    source: str

    def scaled(self, size: int | tuple[int, int]) -> Tensor:
        """float64 ``[5, 2]`` template points for a crop of ``size`` (uniform scale, centred)."""
        h, w = _hw(size)
        s = min(w / self.width, h / self.height)
        p = torch.tensor(self.points, dtype=torch.float64) * s
        return p + torch.tensor([(w - self.width * s) / 2, (h - self.height * s) / 2], dtype=torch.float64)


_ARCFACE_INDEX = (  # OpenCV pixel-index coordinates in a 112 x 112 crop, as published
    (38.2946, 51.6963), (73.5318, 51.5014), (56.0252, 71.7366), (41.5493, 92.3655), (70.7299, 92.2041),
)
_ARCFACE = tuple((x + 0.5, y + 0.5) for x, y in _ARCFACE_INDEX)

TEMPLATES: dict[str, Template] = {
    "arcface": Template(
        "arcface", _ARCFACE, 112.0, 112.0,
        "InsightFace arcface_dst (Deng et al., ArcFace, CVPR 2019), 112x112, +0.5 px to continuous coordinates",
    ),
    "arcface-wide": Template(
        "arcface-wide", tuple((56 + 0.8 * (x - 56), 56 + 0.8 * (y - 56)) for x, y in _ARCFACE), 112.0, 112.0,
        "arcface shrunk by 0.8 about the crop centre (more context around the face)",
    ),
}
"""Named five-point templates; ``ffhq`` is a rule, not a template (see :func:`ffhq_matrix`)."""

ALIGN_MODES = ("five-point", "ffhq", "box", "none")


@dataclass(frozen=True)
class CropPreset:
    """A crop rule: how to place the face, output size and channels.

    Args:
        name: preset name (a method name).
        align: one of ``ALIGN_MODES``.
        size: output side in pixels.
        channels: 1 (grey) or 3 (RGB).
        template: template name for ``five-point``.
        margin: extra box margin for ``box`` (fraction of the side).
        padding: what fills crop pixels outside the photo: ``zeros``, ``border`` or ``reflection``.
        note: what the seed did and how this preset relates to it.
    """

    name: str
    align: str
    size: int
    channels: int
    template: str = "arcface"
    margin: float = 0.0
    padding: str = "zeros"
    note: str = ""


for _preset in (
    CropPreset(
        "tdgan", "box", 128, 1,
        note="TDGAN README: faces detected with MTCNN and resized to 128x128x1; the box is made square "
        "first (the README does not say how the aspect ratio was handled)",
    ),
    CropPreset(
        "cdan", "five-point", 112, 3, template="arcface-wide",
        note="CDAN used OpenFace 2.2 similarity-aligned 112x112 crops (68-point PDM, not reproducible from "
        "5 points); a 5-point similarity to the wide ArcFace template frames the face similarly",
    ),
    CropPreset(
        "au_cyclegan", "five-point", 112, 3, template="arcface-wide",
        note="the AU-conditioned cycle GAN (gtesei) reads OpenFace-aligned crops like CDAN; same rule",
    ),
    CropPreset(
        "jesrl", "five-point", 256, 3, template="arcface-wide",
        note="JESRL reads Multi-PIE 'align_5p' crops (5-point alignment from libfacedetection landmarks, "
        "template unpublished); 5-point similarity at 256",
    ),
    CropPreset(
        "asit", "ffhq", 256, 3, padding="reflection",
        note="ASIT/IFER invert into a StyleGAN2 FFHQ generator, so faces must be aligned as FFHQ was",
    ),
    CropPreset(
        "stylegan2", "ffhq", 256, 3, padding="reflection",
        note="the public StyleGAN2 generators were trained on FFHQ-aligned faces (256 px for the 256-px "
        "models; resize for 1024); generate/project and training on photos need the same alignment",
    ),
    CropPreset(
        "ifer", "ffhq", 256, 3, padding="reflection",
        note="IFER classifies with ASIT's encoder, so its faces follow ASIT's rule (the release resizes "
        "RAF-DB's aligned images to 256)",
    ),
):
    CROP_PRESETS.add(_preset.name, _preset)

PRESETS = CROP_PRESETS
"""The crop-preset registry under its older name here (``PRESETS["tdgan"]``, ``PRESETS.items()``)."""


# --- transforms ---------------------------------------------------------------------------------------
def similarity_transform(src: Tensor, dst: Tensor) -> Tensor:
    """Least-squares similarity (scale, rotation, translation; no reflection) taking ``src`` to ``dst``.

    Umeyama's closed form ("Least-squares estimation of transformation parameters between two
    point patterns", IEEE TPAMI 1991).

    Args:
        src: ``[N, 2]`` points (N >= 2, not all equal).
        dst: ``[N, 2]`` corresponding points.

    Returns:
        float64 ``[2, 3]`` matrix ``M`` with ``dst ~= src @ M[:, :2].T + M[:, 2]``.
    """
    src, dst = src.double(), dst.double()
    if src.shape != dst.shape or src.dim() != 2 or src.shape[1] != 2 or src.shape[0] < 2:
        raise ValueError(f"expected two [N>=2, 2] point sets, got {tuple(src.shape)} and {tuple(dst.shape)}")
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s_c, d_c = src - mu_s, dst - mu_d
    var_s = (s_c**2).sum() / src.shape[0]
    if var_s <= 1e-24:
        raise ValueError("source points coincide; no similarity transform is defined")
    cov = d_c.T @ s_c / src.shape[0]
    u, sig, vt = torch.linalg.svd(cov)
    d = torch.ones(2, dtype=torch.float64)
    if torch.det(u) * torch.det(vt) < 0:
        d[1] = -1.0
    rot = u @ torch.diag(d) @ vt
    scale = (sig * d).sum() / var_s
    t = mu_d - scale * rot @ mu_s
    return torch.cat([scale * rot, t[:, None]], 1)


def apply_transform(matrix: Tensor, points: Tensor) -> Tensor:
    """Points ``[..., 2]`` mapped by a ``[2, 3]`` matrix."""
    m = matrix.to(points.dtype)
    return points @ m[:, :2].T + m[:, 2]


def invert_transform(matrix: Tensor) -> Tensor:
    """Inverse of an invertible ``[2, 3]`` affine matrix."""
    a = matrix[:, :2]
    inv = torch.linalg.inv(a)
    return torch.cat([inv, -(inv @ matrix[:, 2:])], 1)


def ffhq_matrix(landmarks: Tensor, size: int) -> Tensor:
    """The FFHQ alignment rule from five landmarks, as a ``[2, 3]`` matrix into a ``size`` crop.

    Eye centres are ``landmarks[0], [1]``, mouth corners ``[3], [4]`` (the rule ignores the nose).
    """
    lm = landmarks.double()
    eye_avg = (lm[0] + lm[1]) / 2
    eye_to_eye = lm[1] - lm[0]
    eye_to_mouth = (lm[3] + lm[4]) / 2 - eye_avg
    # crop x axis: eye_to_eye plus eye_to_mouth turned -90 deg (both point right on an upright face)
    x = eye_to_eye - torch.stack([-eye_to_mouth[1], eye_to_mouth[0]])
    x = x / torch.linalg.norm(x)
    half = torch.maximum(torch.linalg.norm(eye_to_eye) * 2.0, torch.linalg.norm(eye_to_mouth) * 1.8)
    c = eye_avg + eye_to_mouth * 0.1
    # crop axes: u along x, v along x turned +90 deg (image y down); c -> centre; half-side -> size/2
    k = size / (2 * half)
    rot = torch.stack([x, torch.stack([-x[1], x[0]])])
    m = k * rot
    t = torch.tensor([size / 2, size / 2], dtype=torch.float64) - m @ c
    return torch.cat([m, t[:, None]], 1)


def box_matrix(box: Tensor, size: int | tuple[int, int], margin: float = 0.0) -> Tensor:
    """Scale + translation putting the square around ``box`` (side ``max(w, h) * (1 + margin)``)
    into the crop."""
    h, w = _hw(size)
    b = box.double()
    c = (b[:2] + b[2:]) / 2
    side = (b[2:] - b[:2]).max() * (1 + margin)
    if side <= 0:
        raise ValueError(f"empty box {box.tolist()}")
    k = min(w, h) / side
    m = torch.tensor([[k, 0.0], [0.0, k]], dtype=torch.float64)
    t = torch.tensor([w / 2, h / 2], dtype=torch.float64) - k * c
    return torch.cat([m, t[:, None]], 1)


def resize_matrix(image_hw: tuple[int, int], size: int | tuple[int, int]) -> Tensor:
    """The matrix of a plain resize of the whole image (``align="none"``)."""
    h, w = _hw(size)
    return torch.tensor([[w / image_hw[1], 0.0, 0.0], [0.0, h / image_hw[0], 0.0]], dtype=torch.float64)


def template_points(template: str | Template | Tensor, size: int | tuple[int, int]) -> Tensor:
    """``[5, 2]`` template points for a crop of ``size`` from a name, a Template or explicit points
    (a tensor is taken as already in crop coordinates)."""
    if isinstance(template, Tensor):
        return template.double()
    if isinstance(template, str):
        try:
            template = TEMPLATES[template]
        except KeyError:
            raise KeyError(f"unknown template {template!r}; known: {', '.join(TEMPLATES)}, or align=ffhq") from None
    return template.scaled(size)


# --- warping -------------------------------------------------------------------------------------------
def warp(
    image: Tensor, matrices: Tensor, size: int | tuple[int, int], padding: str = "zeros"
) -> Tensor:
    """Crops of ``image`` through ``[K, 2, 3]`` (or ``[2, 3]``) source-to-crop matrices.

    Bilinear sampling; where a crop shrinks the face by more than 2x the source region is first
    box-filtered by the integer factor, so small crops of large faces do not alias.

    Args:
        image: uint8 or float ``[C, H, W]``.
        matrices: float64 ``[K, 2, 3]`` or ``[2, 3]``.
        size: crop side or ``(H, W)``.
        padding: ``zeros``, ``border`` or ``reflection`` (``grid_sample`` padding modes).

    Returns:
        ``[K, C, h, w]`` (or ``[C, h, w]`` for one matrix), same dtype as ``image``.
    """
    one = matrices.dim() == 2
    mats = matrices[None] if one else matrices
    h, w = _hw(size)
    out = torch.empty(mats.shape[0], image.shape[0], h, w, dtype=torch.float32, device=image.device)
    src = image.float()
    for k, m in enumerate(mats.double()):
        # pixels of the crop per source pixel; shrink the source first when far below 1
        scale = float(torch.sqrt(torch.abs(torch.det(m[:, :2]))))
        factor = int(1 / scale) if scale < 0.5 else 1
        img, mk = src, m
        if factor > 1:
            img, mk = _shrink_region(src, m, (h, w), factor)
        out[k] = _sample(img, mk, (h, w), padding)
    out = out.round_().clamp_(0, 255).to(torch.uint8) if image.dtype == torch.uint8 else out.to(image.dtype)
    return out[0] if one else out


def _sample(img: Tensor, m: Tensor, hw: tuple[int, int], padding: str) -> Tensor:
    h, w = hw
    H, W = img.shape[1:]
    inv = invert_transform(m)
    v, u = torch.meshgrid(torch.arange(h, dtype=torch.float64) + 0.5,
                          torch.arange(w, dtype=torch.float64) + 0.5, indexing="ij")
    pts = torch.stack([u, v], -1) @ inv[:, :2].T + inv[:, 2]  # source continuous coordinates
    grid = torch.stack([pts[..., 0] * (2 / W) - 1, pts[..., 1] * (2 / H) - 1], -1)
    return F.grid_sample(img[None], grid[None].to(img), mode="bilinear", padding_mode=padding,
                         align_corners=False)[0]


def _shrink_region(src: Tensor, m: Tensor, hw: tuple[int, int], factor: int) -> tuple[Tensor, Tensor]:
    """Box-filter by ``factor`` the part of ``src`` the crop covers; returns it and the adjusted matrix."""
    h, w = hw
    H, W = src.shape[1:]
    corners = torch.tensor([[0, 0], [w, 0], [0, h], [w, h]], dtype=torch.float64)
    inv = invert_transform(m)
    pts = apply_transform(inv, corners)
    pad = 2 * factor
    x0 = max(int(pts[:, 0].min()) - pad, 0) // factor * factor
    y0 = max(int(pts[:, 1].min()) - pad, 0) // factor * factor
    x1 = min(int(pts[:, 0].max()) + pad + 1, W)
    y1 = min(int(pts[:, 1].max()) + pad + 1, H)
    if x1 - x0 < factor or y1 - y0 < factor:  # crop entirely outside the photo
        return src[:, :1, :1] * 0, m
    region = src[:, y0:y1, x0:x1]
    small = F.avg_pool2d(region[None], factor, ceil_mode=True, count_include_pad=False)[0]
    # source point p -> region point (p - origin) / factor
    s = torch.tensor([[1 / factor, 0, -x0 / factor], [0, 1 / factor, -y0 / factor]], dtype=torch.float64)
    s3 = torch.cat([s, torch.tensor([[0.0, 0.0, 1.0]], dtype=torch.float64)])
    m3 = torch.cat([m, torch.tensor([[0.0, 0.0, 1.0]], dtype=torch.float64)])
    return small, (m3 @ torch.linalg.inv(s3))[:2]


# --- the public entry points ---------------------------------------------------------------------------
def align(
    image: Tensor,
    landmarks: Tensor,
    template: str | Template | Tensor = "arcface",
    size: int | tuple[int, int] = 112,
    padding: str = "zeros",
) -> tuple[Tensor, Tensor]:
    """Align one face by a five-point similarity to a template.

    Args:
        image: uint8 or float ``[C, H, W]``.
        landmarks: ``[5, 2]`` landmarks (``LANDMARK_NAMES`` order) in ``image`` coordinates.
        template: a ``TEMPLATES`` name, a :class:`Template`, ``"ffhq"`` (the FFHQ rule), or explicit
            ``[5, 2]`` points in crop coordinates.
        size: crop side or ``(H, W)``.
        padding: fill outside the photo: ``zeros``, ``border`` or ``reflection``.

    Returns:
        ``(crop [C, h, w] of image's dtype, matrix float64 [2, 3] from image to crop coordinates)``.
    """
    if isinstance(template, str) and template == "ffhq":
        h, w = _hw(size)
        if h != w:
            raise ValueError("the FFHQ rule makes square crops")
        m = ffhq_matrix(landmarks, h)
    else:
        m = similarity_transform(landmarks, template_points(template, size))
    return warp(image, m, size, padding), m


def crop_matrices(
    detections: FaceDetections,
    image_hw: tuple[int, int],
    align: str = "five-point",
    size: int | tuple[int, int] = 112,
    template: str | Template | Tensor = "arcface",
    margin: float = 0.0,
) -> Tensor:
    """Source-to-crop matrices ``[K, 2, 3]`` for every detection by one of ``ALIGN_MODES``."""
    if align not in ALIGN_MODES:
        raise ValueError(f"align must be one of {', '.join(ALIGN_MODES)}; got {align!r}")
    k = len(detections)
    if align == "none":
        return resize_matrix(image_hw, size)[None].expand(max(k, 1), 2, 3).clone()
    mats = []
    for i in range(k):
        if align == "five-point":
            mats.append(similarity_transform(detections.landmarks[i], template_points(template, size)))
        elif align == "ffhq":
            mats.append(ffhq_matrix(detections.landmarks[i], _hw(size)[0]))
        else:
            mats.append(box_matrix(detections.boxes[i], size, margin))
    return torch.stack(mats) if mats else torch.zeros(0, 2, 3, dtype=torch.float64)


def _hw(size: int | tuple[int, int]) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
