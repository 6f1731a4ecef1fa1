"""A fake expression recogniser and a fake two-face detector for the photo tests (no weights)."""

from __future__ import annotations

import torch

from genfer.data.preprocess.align import CropPreset
from genfer.data.preprocess.detections import FaceDetections

FAKE = "test-fake"


class FakeRecognizer:
    """Three classes in a non-canonical order; a crop's mean brightness decides the expression
    (bright -> happiness, dark -> anger), so tests can steer the prediction with pixel values."""

    name = FAKE
    classes = ("happiness", "neutral", "anger")
    crop = CropPreset(FAKE, "box", 16, 1)

    def __init__(self) -> None:
        self.seen: list[tuple[int, ...]] = []

    def __call__(self, faces: torch.Tensor) -> torch.Tensor:
        assert faces.dtype == torch.uint8
        self.seen.append(tuple(faces.shape))
        m = faces.float().mean((1, 2, 3)) / 255 * 8 - 4  # -4 (black) .. 4 (white)
        return torch.stack([m, torch.zeros_like(m), -m], 1).softmax(1)


def register_fake() -> None:
    from genfer.core.registry import PRETRAINED

    if FAKE not in PRETRAINED:
        PRETRAINED.add(FAKE, lambda device="cpu", cache=None: FakeRecognizer())


class TwoFaceDetector:
    """A flat image has no face; any other has two: its left and right thirds (upper half)."""

    def __init__(self) -> None:
        self.calls = 0
        self.flips: list[bool] = []

    def detect(self, image: torch.Tensor, flip: bool = False) -> FaceDetections:
        self.calls += 1
        self.flips.append(flip)
        if image.float().std() < 1:
            return FaceDetections.empty()
        h, w = image.shape[1:]
        boxes = torch.tensor([[0.0, 0.0, w / 3, h / 2], [2 * w / 3, 0.0, float(w), h / 2]])
        lm = torch.tensor([[0.3, 0.4], [0.7, 0.4], [0.5, 0.55], [0.35, 0.75], [0.65, 0.75]])
        lms = torch.stack([b[:2] + lm * (b[2:] - b[:2]) for b in boxes])
        return FaceDetections(boxes, lms, torch.tensor([0.99, 0.9]))


def two_tone(h: int = 60, w: int = 90) -> torch.Tensor:
    """uint8 ``[3, h, w]``: white left third, black elsewhere (left face happy, right face angry)."""
    img = torch.zeros(3, h, w, dtype=torch.uint8)
    img[:, :, : w // 3] = 255
    return img
