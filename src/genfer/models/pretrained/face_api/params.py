"""Where face-api's weights live and how a manifest becomes a torch state dict.

Parameters are named after the manifest, ``/`` becoming ``.`` (``conv32_1/conv1/conv/filters`` is
``conv32_1.conv1.conv.filters``), with kernels moved to torch's layout; dense weights keep tfjs'
``[in, out]`` layout (the nets compute ``x @ W`` as tfjs' ``matMul``).
"""

from __future__ import annotations

import os
from pathlib import Path

from torch import Tensor, nn

from genfer.core.weights import locate
from genfer.models.pretrained.tfjs import conv_kernel, depthwise_kernel, read_manifest

PACKAGE = "faceapi"
"""genfer's name of the weights package (``genfer weights fetch faceapi``)."""

MODELS = {
    "recognition": "face_recognition_model",
    "expression": "face_expression_model",
    "landmarks": "face_landmark_68_model",
}
"""face-api model file stems by genfer's name for the net."""


def manifest_path(model: str, weights: str | os.PathLike | None = None, cache: str | None = None) -> Path:
    """The manifest of ``model`` (a :data:`MODELS` key).

    Args:
        model: ``recognition``, ``expression`` or ``landmarks``.
        weights: a folder holding face-api's model files or a manifest file; None takes the
            fetched package from genfer's cache (checking every file's SHA-256).
        cache: genfer's cache folder (default ``$GENFER_CACHE`` or ``~/.cache/genfer``).

    Raises:
        FileNotFoundError: the files are not there; the message names ``genfer weights fetch faceapi``.
    """
    name = f"{MODELS[model]}-weights_manifest.json"
    if weights is None:
        return locate(PACKAGE, cache)[name]
    p = Path(weights).expanduser()
    if p.is_dir():
        p = p / name
    if not p.is_file():
        raise FileNotFoundError(
            f"face-api {model} weights not found at {p}; run `genfer weights fetch {PACKAGE}` "
            "and leave weights unset, or pass the folder holding face-api's model files"
        )
    return p


def torch_state(tensors: dict[str, Tensor]) -> dict[str, Tensor]:
    """Manifest tensors -> state dict: ``.``-separated names, conv kernels in torch layout."""
    out = {}
    for name, t in tensors.items():
        leaf = name.rsplit("/", 1)[-1]
        if leaf == "depthwise_filter":
            t = depthwise_kernel(t)
        elif t.dim() == 4:
            t = conv_kernel(t)
        out[name.replace("/", ".")] = t
    return out


def load_weights(net: nn.Module, model: str, weights: str | os.PathLike | None = None,
                 cache: str | None = None) -> nn.Module:
    """Load ``model``'s manifest into ``net`` (every parameter, strictly), frozen in eval mode."""
    net.load_state_dict(torch_state(read_manifest(manifest_path(model, weights, cache))), strict=True)
    return net.requires_grad_(False).eval()
