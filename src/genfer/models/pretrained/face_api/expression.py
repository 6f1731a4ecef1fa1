"""face-api.js ``FaceExpressionNet`` as a genfer :class:`ExpressionRecognizer` (``PRETRAINED["faceapi"]``).

Seven softmax probabilities in face-api's order (neutral, happy, sad, angry, fearful, disgusted,
surprised), named canonically. The crop: face-api classifies the detector's box as it is (or,
after landmark detection, the landmarks' bounding box widened by 20%) and pads it with black to
a square; genfer's ``box`` rule cuts the detector's box made square with image content around
it. Margin 0 (face-api's detector-box rule) also measured closest to face-api's landmark-based
crop on the 22 faces of its demo photos with MTCNN boxes: same top class for 0.86 of faces
(0.68 to 0.82 for margins -0.2 to 0.4; ``tools/references/faceapi_crop_margin.py``).
"""

from __future__ import annotations

import os

from torch import Tensor

from genfer.core.registry import PRETRAINED
from genfer.data.labels import EXPRESSIONS, expression_index
from genfer.data.preprocess.align import CropPreset
from genfer.models.pretrained.face_api.input import Images
from genfer.models.pretrained.face_api.loading import load_net

FACEAPI_LABELS = ("neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised")
"""face-api's ``FACE_EXPRESSION_LABELS``: its output order."""

CROP = CropPreset(
    "faceapi", "box", 112, 3, margin=0.0,
    note="face-api classifies the detector box (or the 68-landmark box + 20%) zero-padded to a square "
    "and resized to 112; here the detector box made square, margin 0 (closest to face-api's own crop "
    "on its demo faces)",
)


class FaceApiExpression:
    """face-api's expression net: crops -> probabilities over :attr:`classes`.

    Args:
        weights: face-api model folder or None (the fetched ``faceapi`` package).
        device: torch device.
        cache: genfer's cache folder.
    """

    name = "faceapi"
    classes: tuple[str, ...] = tuple(EXPRESSIONS[expression_index(n)] for n in FACEAPI_LABELS)
    crop = CROP

    def __init__(
        self, weights: str | os.PathLike | None = None, device: str = "cpu", cache: str | None = None
    ) -> None:
        self.net = load_net("expression", weights, device, cache)

    def logits(self, faces: Images) -> Tensor:
        """Crops of any size (uint8 ``[N, 3, H, W]``, float in [0, 1], or a list) -> logits ``[N, 7]``."""
        return self.net.run(faces)[0]

    def __call__(self, faces: Images) -> Tensor:
        """Crops (see :meth:`logits`; face-api pads and resizes them itself) -> probabilities ``[N, 7]``."""
        return self.logits(faces).softmax(1)


@PRETRAINED.register("faceapi")
def build_recognizer(device: str = "cpu", cache: str | None = None) -> FaceApiExpression:
    """``PRETRAINED`` factory: face-api's expression net from the fetched ``faceapi`` weights."""
    return FaceApiExpression(device=device, cache=cache)
