"""Drawing detections on a photo (for ``--annotate`` outputs and the docs)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from PIL import Image, ImageDraw, ImageFont

from genfer.data.preprocess.detections import FaceDetections

LANDMARK_COLOURS = ((0, 255, 255), (0, 255, 255), (255, 0, 255), (255, 255, 0), (255, 255, 0))
"""Eyes cyan, nose magenta, mouth corners yellow."""


def draw_detections(
    image: torch.Tensor | Image.Image,
    detections: FaceDetections,
    labels: Sequence[str] | None = None,
    colour: tuple[int, int, int] = (0, 230, 0),
    line_width: int | None = None,
    landmarks: bool = True,
) -> Image.Image:
    """A copy of ``image`` with each face's box, five landmarks and a label drawn on it.

    Args:
        image: uint8 ``[C, H, W]`` tensor or a Pillow image.
        detections: the faces, in ``image`` coordinates.
        labels: one text per face (default: the score, e.g. ``"0.998"``).
        colour: box and label colour.
        line_width: box line width (default: ~1/300 of the image's longer side).
        landmarks: draw the five landmarks.

    Returns:
        An RGB Pillow image.
    """
    if isinstance(image, torch.Tensor):
        arr = image.detach().cpu()
        arr = arr.expand(3, -1, -1) if arr.shape[0] == 1 else arr
        pil = Image.fromarray(arr.permute(1, 2, 0).contiguous().numpy())
    else:
        pil = image.convert("RGB").copy()
    draw = ImageDraw.Draw(pil)
    lw = line_width or max(1, round(max(pil.size) / 300))
    font = _font(max(10, lw * 6))
    texts = list(labels) if labels is not None else [f"{s:.3f}" for s in detections.scores.tolist()]
    for box, lm, text in zip(detections.boxes.tolist(), detections.landmarks.tolist(), texts):
        draw.rectangle(box, outline=colour, width=lw)
        r = lw * 1.5
        for (x, y), c in zip(lm if landmarks else [], LANDMARK_COLOURS):
            draw.ellipse([x - r, y - r, x + r, y + r], fill=c)
        tb = draw.textbbox((0, 0), text, font=font)
        th = tb[3] + 2 * lw
        x0 = min(max(box[0], 0), max(pil.width - tb[2] - 2 * lw, 0))
        y0 = box[1] - th if box[1] - th >= 0 else max(box[1], 0)  # above the box, else inside it
        draw.rectangle([x0, y0, x0 + tb[2] + 2 * lw, y0 + th], fill=colour)
        draw.text((x0 + lw, y0 + lw), text, fill=(0, 0, 0), font=font)
    return pil


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one fixed-size default font
        return ImageFont.load_default()
