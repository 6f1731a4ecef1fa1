"""Built, weight-loaded face-api nets, shared per (net, weights, device, cache) in this process."""

from __future__ import annotations

import functools
import os

from torch import nn

from genfer.models.pretrained.face_api.features import FaceProcessor
from genfer.models.pretrained.face_api.params import load_weights
from genfer.models.pretrained.face_api.recognition import FaceRecognitionNet

_BUILD = {
    "recognition": FaceRecognitionNet,
    "expression": lambda: FaceProcessor(7),
    "landmarks": lambda: FaceProcessor(136),
}


def load_net(
    model: str, weights: str | os.PathLike | None = None, device: str = "cpu", cache: str | None = None
) -> nn.Module:
    """face-api's ``model`` (``recognition``, ``expression`` or ``landmarks``) with its weights, frozen.

    Nets are frozen and in eval mode, so one instance per arguments is shared.

    Raises:
        FileNotFoundError: weights missing (the message names ``genfer weights fetch faceapi``).
    """
    if model not in _BUILD:
        raise KeyError(f"unknown face-api net {model!r}; known: {', '.join(_BUILD)}")
    return _load(model, None if weights is None else os.fspath(weights), str(device), cache)


@functools.lru_cache(maxsize=16)
def _load(model: str, weights: str | None, device: str, cache: str | None) -> nn.Module:
    return load_weights(_BUILD[model](), model, weights, cache).to(device)
