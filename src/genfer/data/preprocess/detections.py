"""What a face detector returns: boxes, five landmarks and scores of the faces in one image.

Coordinates are continuous pixel coordinates: x to the right, y down, origin at the top-left
corner of the top-left pixel (so that pixel's centre is (0.5, 0.5)). Boxes are ``x1, y1, x2, y2``
with ``x2 - x1`` the width. The five landmarks come in MTCNN's order, named by where they are in
the image (image-left = smaller x, which is the subject's right): left eye, right eye, nose tip,
left mouth corner, right mouth corner.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import Tensor

LANDMARK_NAMES: tuple[str, ...] = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
"""Names of the five landmarks, in the order of ``FaceDetections.landmarks[:, k]``."""


@dataclass
class FaceDetections:
    """The faces found in one image, sorted by descending score.

    Args:
        boxes: float32 ``[K, 4]`` boxes ``x1, y1, x2, y2``.
        landmarks: float32 ``[K, 5, 2]`` points ``(x, y)`` in ``LANDMARK_NAMES`` order.
        scores: float32 ``[K]`` face probabilities in 0..1.
    """

    boxes: Tensor
    landmarks: Tensor
    scores: Tensor

    def __post_init__(self) -> None:
        k = self.scores.shape[0]
        if self.boxes.shape != (k, 4) or self.landmarks.shape != (k, 5, 2):
            raise ValueError(
                f"inconsistent detections: boxes {tuple(self.boxes.shape)}, landmarks "
                f"{tuple(self.landmarks.shape)}, scores {tuple(self.scores.shape)}"
            )

    @classmethod
    def empty(cls, device: torch.device | str = "cpu") -> FaceDetections:
        """No faces."""
        z = torch.zeros(0, device=device)
        return cls(z.new_zeros(0, 4), z.new_zeros(0, 5, 2), z)

    def __len__(self) -> int:
        return self.scores.shape[0]

    def __getitem__(self, index: int | slice | Sequence[int] | Tensor) -> FaceDetections:
        """A subset (an int keeps a length-1 result, so the type never changes)."""
        if isinstance(index, int):
            index = slice(index, index + 1 if index != -1 else None)
        return FaceDetections(self.boxes[index], self.landmarks[index], self.scores[index])

    def to(self, device: torch.device | str) -> FaceDetections:
        return FaceDetections(self.boxes.to(device), self.landmarks.to(device), self.scores.to(device))

    # --- named accessors ------------------------------------------------------------------------
    @property
    def left_eye(self) -> Tensor:
        """``[K, 2]`` centre of the image-left eye (the subject's right eye)."""
        return self.landmarks[:, 0]

    @property
    def right_eye(self) -> Tensor:
        """``[K, 2]`` centre of the image-right eye (the subject's left eye)."""
        return self.landmarks[:, 1]

    @property
    def nose(self) -> Tensor:
        """``[K, 2]`` nose tip."""
        return self.landmarks[:, 2]

    @property
    def mouth_left(self) -> Tensor:
        """``[K, 2]`` image-left mouth corner."""
        return self.landmarks[:, 3]

    @property
    def mouth_right(self) -> Tensor:
        """``[K, 2]`` image-right mouth corner."""
        return self.landmarks[:, 4]

    @property
    def widths(self) -> Tensor:
        """``[K]`` box widths."""
        return self.boxes[:, 2] - self.boxes[:, 0]

    @property
    def heights(self) -> Tensor:
        """``[K]`` box heights."""
        return self.boxes[:, 3] - self.boxes[:, 1]

    @property
    def areas(self) -> Tensor:
        """``[K]`` box areas."""
        return self.widths.clamp(min=0) * self.heights.clamp(min=0)

    @property
    def centers(self) -> Tensor:
        """``[K, 2]`` box centres."""
        return (self.boxes[:, :2] + self.boxes[:, 2:]) / 2

    # --- selection ------------------------------------------------------------------------------
    def above(self, min_score: float) -> FaceDetections:
        """The faces with score >= ``min_score``."""
        return self[self.scores >= min_score]

    def select(self, how: str = "largest") -> FaceDetections:
        """The face with the ``largest`` box or the ``best`` score (none if there is none), or ``all``."""
        if how == "all" or len(self) <= 1:
            return self
        if how == "largest":
            return self[int(self.areas.argmax())]
        if how == "best":
            return self[int(self.scores.argmax())]
        raise ValueError(f"face selection must be largest, best or all; got {how!r}")

    def to_records(self) -> list[dict[str, Any]]:
        """One JSON-ready dict per face: ``box``, ``score``, ``landmarks`` (rounded to 0.01 px)."""
        out = []
        for b, lm, s in zip(self.boxes.tolist(), self.landmarks.tolist(), self.scores.tolist()):
            out.append({
                "box": [round(v, 2) for v in b],
                "score": round(s, 6),
                "landmarks": [[round(x, 2), round(y, 2)] for x, y in lm],
            })
        return out

    @staticmethod
    def cat(parts: Sequence[FaceDetections]) -> FaceDetections:
        """Concatenate detections (e.g. of tiles of one image); the result is re-sorted by score."""
        if not parts:
            return FaceDetections.empty()
        d = FaceDetections(
            torch.cat([p.boxes for p in parts]),
            torch.cat([p.landmarks for p in parts]),
            torch.cat([p.scores for p in parts]),
        )
        return d[d.scores.argsort(descending=True)]


class FaceDetector(Protocol):
    """What ``DETECTORS`` entries build: something that finds faces in uint8 images."""

    def detect(self, images: Tensor | Sequence[Tensor]) -> FaceDetections | list[FaceDetections]:
        """Faces of one uint8 ``[C, H, W]`` image, or a list per image of ``[B, C, H, W]`` / a list."""
        ...
