"""MTCNN face detector in pure torch: P-Net over an image pyramid, R-Net and O-Net refinement.

The cascade of Zhang et al., "Joint Face Detection and Alignment using Multi-task Cascaded
Convolutional Networks" (IEEE SPL 2016), with the weights its authors released, as converted to
PyTorch state dicts in the ``facenet-pytorch`` 2.6.0 wheel (``genfer weights fetch mtcnn``; the
module and parameter names here match those state dicts key for key).

The algorithm, as in the original release:

1. Image pyramid: scales ``12 / min_face_size * factor**k`` (factor 0.709) while the shorter side
   stays >= 12 px; each level is resized with area averaging and normalised as ``(x - 127.5) / 128``.
2. P-Net (fully convolutional, 12x12 window, stride 2) gives a face probability and box offsets
   per window; windows above threshold 0.6 become boxes, NMS (IoU 0.5) per level, NMS (0.7) over
   all levels, box regression, boxes made square.
3. R-Net on 24x24 crops (zero padding outside the image): threshold 0.7, NMS 0.7, regression, square.
4. O-Net on 48x48 crops: threshold 0.7, five landmarks, regression, NMS 0.7 on
   intersection-over-minimum.

Deviation for speed (documented, tiny): all pyramid levels of all images in a call are packed
side by side into one canvas and P-Net runs once on it (windows crossing a level's border are
discarded). A level of odd width/height ends with one window that, run alone, would see half a
pooling cell; on the canvas it sees one column/row of the neighbouring level instead.
Coordinates are continuous pixel coordinates (see ``detections``).

Options beyond the original, off by default (the original cascade stays the default):

- ``refine``: O-Net scores each of its candidates again on the regressed box made square, as
  several MTCNN implementations do; the refined boxes join the candidates and the final NMS keeps
  the box O-Net is surest of. Every score is still one O-Net pass's face probability.
- ``flip_onet``: O-Net probability, offsets and landmarks averaged over each crop and its mirror.
- ``detect(flip=True)``: the whole cascade also run on the mirrored image, results merged.

:data:`PHOTO_SETTINGS` (with ``flip=True`` and a 40 px minimum face) is what ``genfer recognize``
uses: on face-api's six demo photos it lifts the two faces the original scores 0.80 (a profile)
and 0.89 (looking down) to 0.987 and 0.995, with one extra detection at 0.87 (none at >= 0.95).
Mirror-averaged O-Net scoring and enlarged O-Net crops lowered those faces' scores and are not in
it (figures in ``docs/recognize.md``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genfer.core.registry import DETECTORS
from genfer.data.preprocess.detections import FaceDetections

PHOTO_SETTINGS: dict[str, object] = {"thresholds": (0.5, 0.6, 0.7), "refine": 1}
"""Cascade options for finding every face in photos: P-Net and R-Net pass more candidates to
O-Net (its own threshold, 0.7, is unchanged) and O-Net refines each once. With
``detect(flip=True)`` about 1.4x the time of the original cascade with the mirrored pass."""


# --- the three networks ---------------------------------------------------------------------------
class PNet(nn.Module):
    """Proposal network: fully convolutional, one output per 12x12 window at stride 2.

    Input float ``[B, 3, H, W]`` normalised; outputs face probability ``[B, H', W']`` and box
    offsets ``[B, 4, H', W']`` (``dx1, dy1, dx2, dy2`` in units of the window size), with
    ``H' = ceil((H - 2) / 2) - 4``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 10, kernel_size=3)
        self.prelu1 = nn.PReLU(10)
        self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(10, 16, kernel_size=3)
        self.prelu2 = nn.PReLU(16)
        self.conv3 = nn.Conv2d(16, 32, kernel_size=3)
        self.prelu3 = nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 2, kernel_size=1)  # not-face / face logits
        self.conv4_2 = nn.Conv2d(32, 4, kernel_size=1)  # box offsets

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        # channels-last convolutions and a slicing max-pool: same numbers, ~2x faster on CPU
        x = self.prelu1(self.conv1(x.contiguous(memory_format=torch.channels_last)))
        if x.shape[-1] % 2 == 0 and x.shape[-2] % 2 == 0:
            x = torch.maximum(
                torch.maximum(x[..., 0::2, 0::2], x[..., 0::2, 1::2]),
                torch.maximum(x[..., 1::2, 0::2], x[..., 1::2, 1::2]),
            )
        else:
            x = self.pool1(x)
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        return self.conv4_1(x).softmax(1)[:, 1], self.conv4_2(x)


def _flatten_whc(x: Tensor) -> Tensor:
    # the dense layers were trained (in Caffe) on transposed feature maps: flatten as (W, H, C)
    return x.permute(0, 3, 2, 1).flatten(1)


class RNet(nn.Module):
    """Refinement network on 24x24 crops: face probability ``[N]`` and box offsets ``[N, 4]``."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 28, kernel_size=3)
        self.prelu1 = nn.PReLU(28)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(28, 48, kernel_size=3)
        self.prelu2 = nn.PReLU(48)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = nn.Conv2d(48, 64, kernel_size=2)
        self.prelu3 = nn.PReLU(64)
        self.dense4 = nn.Linear(576, 128)
        self.prelu4 = nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.dense5_2 = nn.Linear(128, 4)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.prelu4(self.dense4(_flatten_whc(self.prelu3(self.conv3(x)))))
        return self.dense5_1(x).softmax(1)[:, 1], self.dense5_2(x)


class ONet(nn.Module):
    """Output network on 48x48 crops: probability ``[N]``, box offsets ``[N, 4]`` and landmarks
    ``[N, 10]`` (five x then five y, as fractions of the crop)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, kernel_size=3)
        self.prelu1 = nn.PReLU(32)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3)
        self.prelu2 = nn.PReLU(64)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = nn.Conv2d(64, 64, kernel_size=3)
        self.prelu3 = nn.PReLU(64)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4 = nn.Conv2d(64, 128, kernel_size=2)
        self.prelu4 = nn.PReLU(128)
        self.dense5 = nn.Linear(1152, 256)
        self.prelu5 = nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu5(self.dense5(_flatten_whc(self.prelu4(self.conv4(x)))))
        return self.dense6_1(x).softmax(1)[:, 1], self.dense6_2(x), self.dense6_3(x)


# --- box helpers ------------------------------------------------------------------------------------
def nms(
    boxes: Tensor, scores: Tensor, threshold: float, mode: str = "union", groups: Tensor | None = None
) -> Tensor:
    """Greedy non-maximum suppression in torch.

    Args:
        boxes: ``[N, 4]`` boxes ``x1, y1, x2, y2``.
        scores: ``[N]``.
        threshold: a box is dropped when its overlap with a kept, higher-scoring box exceeds this.
        mode: ``"union"`` (IoU) or ``"min"`` (intersection over the smaller area).
        groups: optional ``[N]`` integer group ids; boxes only suppress boxes of their own group.

    Returns:
        long ``[K]`` indices of the kept boxes, by descending score.
    """
    if mode not in ("union", "min"):
        raise ValueError(f"nms mode must be union or min, got {mode!r}")
    if boxes.numel() == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    b = boxes.double()
    if groups is not None:  # shift groups apart so that boxes of different groups never overlap
        b = b + (groups.double() * (b.max() - b.min() + 1.0))[:, None]
    x1, y1, x2, y2 = b.unbind(1)
    area = (x2 - x1).clamp(min=0) * (y2 - y1).clamp(min=0)
    rest = scores.argsort(descending=True, stable=True)
    keep = []
    while rest.numel() > 0:
        i = rest[0]
        keep.append(i)
        rest = rest[1:]
        if rest.numel() == 0:
            break
        iw = (torch.minimum(x2[i], x2[rest]) - torch.maximum(x1[i], x1[rest])).clamp(min=0)
        ih = (torch.minimum(y2[i], y2[rest]) - torch.maximum(y1[i], y1[rest])).clamp(min=0)
        inter = iw * ih
        denom = area[i] + area[rest] - inter if mode == "union" else torch.minimum(area[i], area[rest])
        rest = rest[inter <= threshold * denom.clamp(min=1e-12)]
    return torch.stack(keep)


def regress(boxes: Tensor, offsets: Tensor) -> Tensor:
    """Apply box offsets ``[N, 4]`` (fractions of width/height) to boxes ``[N, 4]``."""
    wh = (boxes[:, 2:] - boxes[:, :2]).repeat(1, 2)
    return boxes + offsets * wh


def square(boxes: Tensor) -> Tensor:
    """Boxes ``[N, 4]`` made square around the same centre, side = the longer side."""
    c = (boxes[:, :2] + boxes[:, 2:]) / 2
    side = (boxes[:, 2:] - boxes[:, :2]).max(1, keepdim=True).values
    return torch.cat([c - side / 2, c + side / 2], 1)


# --- the detector -----------------------------------------------------------------------------------
class MTCNN(nn.Module):
    """The three-stage MTCNN cascade.

    Args:
        min_face_size: smallest face side (pixels) searched for; the pyramid starts at scale
            ``12 / min_face_size``.
        factor: pyramid scale step.
        thresholds: face-probability thresholds of P-, R- and O-Net.
        nms_thresholds: NMS overlaps: P-Net per level, P-Net over levels, R-Net, O-Net (min).
        max_canvas_pixels: P-Net canvas budget; pyramids of many/large images are split over
            several canvases above it (bounds memory: ~90 bytes per canvas pixel).
        refine: extra O-Net passes: each O-Net candidate's regressed box, made square, is cropped
            and scored again (``refine`` times, each pass starting from the previous one's box);
            every pass's box joins the candidates and the final NMS keeps, per face, the box
            O-Net is surest of. Each kept box carries the probability of its own O-Net pass.
            0 is the original cascade.
        flip_onet: O-Net also scores each crop mirrored and averages the two passes (face
            probability, box offsets and landmarks mapped back), a test-time augmentation.

    Use :func:`load_mtcnn` for the released weights.
    """

    def __init__(
        self,
        min_face_size: float = 20.0,
        factor: float = 0.709,
        thresholds: Sequence[float] = (0.6, 0.7, 0.7),
        nms_thresholds: Sequence[float] = (0.5, 0.7, 0.7, 0.7),
        max_canvas_pixels: int = 4_000_000,
        refine: int = 0,
        flip_onet: bool = False,
    ) -> None:
        super().__init__()
        if min_face_size < 12:
            raise ValueError(f"min_face_size must be >= 12 (P-Net's window), got {min_face_size}")
        if not 0 < factor < 1:
            raise ValueError(f"factor must be in (0, 1), got {factor}")
        self.pnet, self.rnet, self.onet = PNet(), RNet(), ONet()
        self.min_face_size, self.factor = float(min_face_size), float(factor)
        self.thresholds = tuple(float(t) for t in thresholds)
        self.nms_thresholds = tuple(float(t) for t in nms_thresholds)
        self.max_canvas_pixels = int(max_canvas_pixels)
        if refine < 0:
            raise ValueError(f"refine must be >= 0, got {refine}")
        self.refine, self.flip_onet = int(refine), bool(flip_onet)
        self.eval()

    def load_state_dicts(self, pnet: dict, rnet: dict, onet: dict) -> MTCNN:
        """Load the three state dicts (strict: every key must match)."""
        self.pnet.load_state_dict(pnet, strict=True)
        self.rnet.load_state_dict(rnet, strict=True)
        self.onet.load_state_dict(onet, strict=True)
        return self

    @property
    def device(self) -> torch.device:
        return self.pnet.conv1.weight.device

    def scales(self, height: int, width: int) -> list[float]:
        """The pyramid scales for an image of this size (empty if it is smaller than a face)."""
        m = 12.0 / self.min_face_size
        side = min(height, width) * m
        out = []
        while side >= 12:
            out.append(m * self.factor ** len(out))
            side *= self.factor
        return out

    @torch.no_grad()
    def detect(
        self, images: Tensor | Sequence[Tensor], flip: bool = False
    ) -> FaceDetections | list[FaceDetections]:
        """Find faces.

        Args:
            images: a uint8 (or 0..255 float) ``[C, H, W]`` image, a ``[B, C, H, W]`` batch or a
                list of ``[C, H, W]`` images of any sizes; ``C`` is 3 (RGB) or 1 (grey, replicated).
            flip: also run the cascade on the mirrored images and merge (NMS on
                intersection-over-minimum, higher score wins): a test-time augmentation that
                finds some faces the cascade misses one way round, at twice the cost.

        Returns:
            :class:`FaceDetections` for a single ``[C, H, W]`` image, else one per image.
        """
        single = isinstance(images, Tensor) and images.dim() == 3
        if isinstance(images, Tensor):
            images = [images] if single else list(images.unbind(0))
        imgs = [self._prepare(im) for im in images]
        out = self._cascade(imgs) if imgs else []
        if flip and imgs:
            mirrored = self._cascade([im.flip(-1) for im in imgs])
            out = [_merge(d, _unmirror(m, im.shape[-1]), self.nms_thresholds[3]) for d, m, im in
                   zip(out, mirrored, imgs)]
        return out[0] if single else out

    def _cascade(self, imgs: list[Tensor]) -> list[FaceDetections]:
        boxes, img_idx = self._stage1(imgs)
        boxes, img_idx, _ = self._refine(imgs, boxes, img_idx, 24)
        boxes, img_idx, landmarks = self._refine(imgs, boxes, img_idx, 48)
        out = []
        for k in range(len(imgs)):
            sel = img_idx == k
            d = FaceDetections(boxes[sel, :4].float(), landmarks[sel].float(), boxes[sel, 4].float())
            out.append(d[d.scores.argsort(descending=True)].to("cpu"))
        return out

    # --- stages ---------------------------------------------------------------------------------------
    def _prepare(self, im: Tensor) -> Tensor:
        if im.dim() != 3 or im.shape[0] not in (1, 3):
            raise ValueError(f"expected a [3, H, W] or [1, H, W] image, got {tuple(im.shape)}")
        im = im.to(self.device, torch.float32)
        return im.expand(3, -1, -1) if im.shape[0] == 1 else im

    def _stage1(self, imgs: list[Tensor]) -> tuple[Tensor, Tensor]:
        """P-Net over the pyramids: square boxes ``[N, 5]`` (x1, y1, x2, y2, score), image index ``[N]``."""
        tiles = []  # (image, level height, level width)
        for k, im in enumerate(imgs):
            h, w = im.shape[1:]
            for s in self.scales(h, w):
                tiles.append((k, max(12, math.ceil(h * s)), max(12, math.ceil(w * s))))
        found: list[Tensor] = []
        found_img: list[Tensor] = []
        for canvas_tiles in _split_by_area(tiles, self.max_canvas_pixels):
            b, i = self._pnet_canvas(imgs, canvas_tiles)
            found.append(b)
            found_img.append(i)
        boxes = torch.cat(found) if found else torch.zeros(0, 9, device=self.device, dtype=torch.float64)
        img_idx = torch.cat(found_img) if found_img else torch.zeros(0, dtype=torch.long, device=self.device)
        if boxes.shape[0] == 0:
            return boxes[:, :5], img_idx
        # NMS over the levels on the windows themselves, then their offsets (as the original)
        keep = nms(boxes[:, :4], boxes[:, 4], self.nms_thresholds[1], groups=img_idx)
        boxes, img_idx = boxes[keep], img_idx[keep]
        return torch.cat([square(regress(boxes[:, :4], boxes[:, 5:])), boxes[:, 4:5]], 1), img_idx

    def _pnet_canvas(self, imgs: list[Tensor], tiles: list[tuple[int, int, int]]) -> tuple[Tensor, Tensor]:
        places, ch, cw = _pack(tiles)
        canvas = torch.zeros(1, 3, ch, cw, device=self.device)
        out_h, out_w = _pnet_out(ch), _pnet_out(cw)
        tile_of = torch.full((out_h, out_w), -1, dtype=torch.long, device=self.device)
        for t, ((k, th, tw), (oy, ox)) in enumerate(zip(tiles, places)):
            level = F.interpolate(imgs[k][None], size=(th, tw), mode="area")
            canvas[:, :, oy : oy + th, ox : ox + tw] = (level - 127.5) / 128.0
            tile_of[oy // 2 : oy // 2 + _pnet_out(th), ox // 2 : ox // 2 + _pnet_out(tw)] = t
        prob, reg = self.pnet(canvas)
        prob, reg = prob[0], reg[0]
        cy, cx = ((prob >= self.thresholds[0]) & (tile_of >= 0)).nonzero(as_tuple=True)
        t = tile_of[cy, cx]
        meta = torch.tensor(
            [[k, th, tw, oy, ox, imgs[k].shape[1], imgs[k].shape[2]]
             for (k, th, tw), (oy, ox) in zip(tiles, places)],
            dtype=torch.float64, device=self.device,
        )[t]
        sy, sx = meta[:, 1] / meta[:, 5], meta[:, 2] / meta[:, 6]  # actual level/image size ratios
        y0 = (2 * cy - meta[:, 3]).double() / sy  # window origin in image coordinates
        x0 = (2 * cx - meta[:, 4]).double() / sx
        boxes = torch.stack([x0, y0, x0 + 12 / sx, y0 + 12 / sy], 1)
        score = prob[cy, cx].double()
        offsets = reg[:, cy, cx].T.double()
        keep = nms(boxes, score, self.nms_thresholds[0], groups=t)
        return torch.cat([boxes[keep], score[keep, None], offsets[keep]], 1), meta[keep, 0].long()

    def _refine(
        self, imgs: list[Tensor], boxes: Tensor, img_idx: Tensor, size: int
    ) -> tuple[Tensor, Tensor, Tensor]:
        """R-Net (``size`` 24) or O-Net (48) on square boxes; returns boxes ``[N, 5]``, image index,
        landmarks ``[N, 5, 2]`` (zeros after R-Net)."""
        landmarks = torch.zeros(0, 5, 2, device=self.device, dtype=torch.float64)
        if boxes.shape[0] == 0:
            return boxes, img_idx, landmarks
        if size == 48:
            return self._output(imgs, boxes, img_idx)
        crops, ibox = _crops(imgs, boxes[:, :4], img_idx, size)
        outs = [self.rnet(c) for c in crops.split(512)]
        prob = torch.cat([o[0] for o in outs]).double()
        offsets = torch.cat([o[1] for o in outs]).double()
        ok = prob > self.thresholds[1]
        ibox, prob, offsets, img_idx = ibox[ok], prob[ok], offsets[ok], img_idx[ok]
        keep = nms(ibox, prob, self.nms_thresholds[2], groups=img_idx)
        new = square(regress(ibox[keep], offsets[keep]))
        return torch.cat([new, prob[keep, None]], 1), img_idx[keep], landmarks

    def _output(self, imgs: list[Tensor], boxes: Tensor, img_idx: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """O-Net stage (plus the ``refine`` passes): boxes ``[N, 5]``, image index, landmarks
        ``[N, 5, 2]``."""
        cand = []
        crop_boxes = boxes[:, :4]
        for _ in range(1 + self.refine):
            crops, ibox = _crops(imgs, crop_boxes, img_idx, 48)
            prob, offsets, lm = self._onet(crops)
            cand.append((ibox, prob, offsets, lm, img_idx))
            crop_boxes = square(regress(ibox, offsets))
        ibox, prob, offsets, lm, img_idx = (torch.cat(t) for t in zip(*cand))
        ok = prob > self.thresholds[2]
        ibox, prob, offsets, lm, img_idx = ibox[ok], prob[ok], offsets[ok], lm[ok], img_idx[ok]
        wh = ibox[:, 2:] - ibox[:, :2]
        xs = ibox[:, 0:1] + wh[:, 0:1] * lm[:, :5]
        ys = ibox[:, 1:2] + wh[:, 1:2] * lm[:, 5:]
        landmarks = torch.stack([xs, ys], 2)
        new = regress(ibox, offsets)
        keep = nms(new, prob, self.nms_thresholds[3], mode="min", groups=img_idx)
        return torch.cat([new[keep], prob[keep, None]], 1), img_idx[keep], landmarks[keep]

    def _onet(self, crops: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """O-Net on normalised crops ``[N, 3, 48, 48]`` (averaged with their mirrors if ``flip_onet``):
        float64 probability ``[N]``, offsets ``[N, 4]``, landmarks ``[N, 10]`` (fractions of the crop)."""
        def run(x: Tensor) -> tuple[Tensor, ...]:
            outs = [self.onet(c) for c in x.split(512)]
            return tuple(torch.cat([o[i] for o in outs]).double() for i in range(3))

        prob, offsets, lm = run(crops)
        if not self.flip_onet or crops.shape[0] == 0:
            return prob, offsets, lm
        mp, mo, ml = run(crops.flip(-1))
        # mirrored offsets: the left edge's offset is minus the mirrored right edge's
        mo = torch.stack([-mo[:, 2], mo[:, 1], -mo[:, 0], mo[:, 3]], 1)
        # mirrored landmarks: x -> 1 - x, and image-left / image-right points swap
        mx, my = 1 - ml[:, :5][:, [1, 0, 2, 4, 3]], ml[:, 5:][:, [1, 0, 2, 4, 3]]
        ml = torch.cat([mx, my], 1)
        return (prob + mp) / 2, (offsets + mo) / 2, (lm + ml) / 2


def _unmirror(d: FaceDetections, width: int) -> FaceDetections:
    """Detections in a horizontally mirrored image, mapped back (left/right landmarks swap)."""
    boxes = torch.stack([width - d.boxes[:, 2], d.boxes[:, 1], width - d.boxes[:, 0], d.boxes[:, 3]], 1)
    lm = d.landmarks[:, [1, 0, 2, 4, 3]].clone()
    lm[..., 0] = width - lm[..., 0]
    return FaceDetections(boxes, lm, d.scores)


def _merge(a: FaceDetections, b: FaceDetections, threshold: float) -> FaceDetections:
    both = FaceDetections.cat([a, b])
    return both[nms(both.boxes, both.scores, threshold, mode="min")]


def _pnet_out(n: int) -> int:
    """P-Net output length for input length ``n`` (conv3, ceil-mode pool2, conv3, conv3)."""
    return math.ceil((n - 2) / 2) - 4


def _split_by_area(tiles: list[tuple[int, int, int]], budget: int) -> list[list[tuple[int, int, int]]]:
    groups: list[list[tuple[int, int, int]]] = []
    area = 0
    for t in tiles:
        a = t[1] * t[2]
        if not groups or area + a > budget:
            groups.append([])
            area = 0
        groups[-1].append(t)
        area += a
    return groups


def _pack(tiles: list[tuple[int, int, int]]) -> tuple[list[tuple[int, int]], int, int]:
    """Shelf packing of ``(image, h, w)`` tiles at even offsets (P-Net's stride); returns the
    ``(y, x)`` offset of each tile and the canvas height and width."""
    even = lambda n: n + (n & 1)  # noqa: E731
    total = sum(even(h) * even(w) for _, h, w in tiles)
    width = even(max(max(w for _, _, w in tiles), math.isqrt(int(total * 1.15)) + 1))
    order = sorted(range(len(tiles)), key=lambda i: -tiles[i][1])
    places: list[tuple[int, int]] = [(0, 0)] * len(tiles)
    x = y = shelf = 0
    for i in order:
        _, h, w = tiles[i]
        if x + w > width:
            y, x, shelf = y + shelf, 0, 0
        places[i] = (y, x)
        x += even(w)
        shelf = max(shelf, even(h))
    return places, y + shelf, width


def _crops(imgs: list[Tensor], boxes: Tensor, img_idx: Tensor, size: int) -> tuple[Tensor, Tensor]:
    """Normalised ``[N, 3, size, size]`` crops of square boxes (zero pixels outside the image), and
    the integer boxes actually cropped ``[N, 4]`` (float64)."""
    x1y1 = boxes[:, :2].round()
    side = (boxes[:, 2] - boxes[:, 0]).round().clamp(min=1)
    ibox = torch.cat([x1y1, x1y1 + side[:, None]], 1)
    out = torch.empty(len(boxes), 3, size, size, device=boxes.device)
    for n, (bx, k) in enumerate(zip(ibox.long().tolist(), img_idx.tolist())):
        im = imgs[k]
        h, w = im.shape[1:]
        x1, y1, x2, y2 = bx
        s = x2 - x1
        patch = im.new_zeros(3, s, s)
        sx1, sy1, sx2, sy2 = max(x1, 0), max(y1, 0), min(x2, w), min(y2, h)
        if sx2 > sx1 and sy2 > sy1:
            patch[:, sy1 - y1 : sy2 - y1, sx1 - x1 : sx2 - x1] = im[:, sy1:sy2, sx1:sx2]
        # area averaging to shrink, bilinear to enlarge (what OpenCV's INTER_AREA does)
        mode = {"mode": "area"} if s >= size else {"mode": "bilinear", "align_corners": False}
        out[n] = F.interpolate(patch[None], size=(size, size), **mode)[0]
    return (out - 127.5) / 128.0, ibox


@DETECTORS.register("mtcnn")
def load_mtcnn(
    weights: str | os.PathLike | None = None, device: str | torch.device = "cpu", **kwargs
) -> MTCNN:
    """MTCNN with the released weights.

    Args:
        weights: folder holding ``pnet.pt``, ``rnet.pt``, ``onet.pt`` (default: the genfer cache,
            filled by ``genfer weights fetch mtcnn``; hashes are checked there).
        device: torch device.
        **kwargs: :class:`MTCNN` options (``min_face_size``, ``factor``, ``thresholds`` ...).

    Raises:
        WeightsNotFetchedError: the weights are not in the cache (the message says how to fetch them).
    """
    from pathlib import Path

    from genfer.core.weights import locate

    if weights is None:
        files = locate("mtcnn")
    else:
        d = Path(weights).expanduser()
        files = {n: d / n for n in ("pnet.pt", "rnet.pt", "onet.pt")}
        missing = [str(p) for p in files.values() if not p.is_file()]
        if missing:
            raise FileNotFoundError(f"MTCNN weights missing: {', '.join(missing)}")
    sd = {n: torch.load(p, map_location="cpu", weights_only=True) for n, p in files.items()}
    m = MTCNN(**kwargs).load_state_dicts(sd["pnet.pt"], sd["rnet.pt"], sd["onet.pt"])
    return m.to(device).eval().requires_grad_(False)
