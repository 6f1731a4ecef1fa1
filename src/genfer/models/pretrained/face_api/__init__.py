"""Ports of three face-api.js nets (``@vladmandic/face-api`` 1.7.15): descriptor, expression, landmarks.

- :func:`build_embedder`: the 128-D face descriptor (``FaceRecognitionNet``), an
  :class:`~genfer.metrics.embedding.Embedder` for ACD (``--embedder face_api``) and a
  differentiable identity feature;
- :class:`FaceApiExpression`: the 7-class expression net, ``PRETRAINED["faceapi"]``;
- :func:`landmarks68`: the 68-point landmark net.

Weights: ``genfer weights fetch faceapi`` (the npm tarball's ``model/`` files, MIT). Each net
reproduces face-api's preprocessing (pad to a centred square, tfjs' own bilinear resize, mean
RGB subtraction) and layer graph with TensorFlow's padding; outputs match the original runtime
(Node, tfjs 4.22 wasm) within 1e-4 on the fixtures in ``tests/fixtures/pretrained/faceapi``.
"""

from __future__ import annotations

import os

from torch import Tensor

from genfer.models.pretrained.face_api.expression import FACEAPI_LABELS, FaceApiExpression, build_recognizer
from genfer.models.pretrained.face_api.input import Images, to_batch_tensor
from genfer.models.pretrained.face_api.landmarks import landmarks68
from genfer.models.pretrained.face_api.loading import load_net

__all__ = [
    "FACEAPI_LABELS", "FaceApiEmbedder", "FaceApiExpression", "build_embedder", "build_recognizer",
    "landmarks68", "load_net", "to_batch_tensor",
]  # fmt: skip

EMBEDDER_NAME = "face_api-recognition-128d"


class FaceApiEmbedder:
    """face-api's 128-D descriptor as an embedder: images -> ``[N, 128]``, compared with L2.

    Same person: distance below ~0.6 (face-api's threshold). Differentiable in float input
    (the net's parameters are frozen), so it also serves as an identity loss.

    Args:
        weights: face-api model folder or None (the fetched ``faceapi`` package).
        device: torch device.
        cache: genfer's cache folder.
    """

    name = EMBEDDER_NAME
    distance = "l2"

    def __init__(
        self, weights: str | os.PathLike | None = None, device: str = "cpu", cache: str | None = None
    ) -> None:
        self.net = load_net("recognition", weights, device, cache)
        self.device = device

    def __call__(self, images: Images) -> Tensor:
        """Face images -> descriptors.

        Args:
            images: ``[N, 3, H, W]`` float in [0, 1] or uint8 (any size; padded to a square and
                resized to 150 as face-api does), or a list of ``[3, H, W]``.

        Returns:
            float32 ``[N, 128]`` on the embedder's device.
        """
        return self.net.describe(images)


def build_embedder(
    weights: str | os.PathLike | None = None, device: str = "cpu", cache: str | None = None, **_: object
) -> FaceApiEmbedder:
    """The ``face_api`` embedder of :mod:`genfer.metrics.embedding`.

    Raises:
        FileNotFoundError: weights missing (the message names ``genfer weights fetch faceapi``).
    """
    return FaceApiEmbedder(weights, device, cache)
