"""A trained genfer recogniser run as the ED embedder ``recogniser`` (``genfer metrics ed --embedder recogniser``).

Registered in :data:`genfer.core.registry.EMBEDDERS` from here, the layer that loads runs, so that
the metrics never import the engine.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from genfer.core.registry import EMBEDDERS
from genfer.engine.checkpoint import load_method, resolve_checkpoint
from genfer.metrics.embedding import EmbedderUnavailableError, RecogniserEmbedder
from genfer.models.capabilities import Classifier, capabilities, provides


@EMBEDDERS.register("recogniser")
def recogniser_embedder(
    checkpoint: str | None = None, output: str = "probs", device: str = "cpu", **_: Any
) -> RecogniserEmbedder:
    """A genfer recogniser checkpoint (run or checkpoint folder) as an expression embedder.

    The embedder takes images ``[N, 3, H, W]`` float in [0, 1] and feeds the recogniser its own
    input (uint8 at its size and channels, as :mod:`genfer.apps.inference` does).

    Raises:
        EmbedderUnavailableError: no checkpoint given, or its method cannot classify.
    """
    if not checkpoint:
        raise EmbedderUnavailableError("the recogniser embedder needs a genfer checkpoint (--checkpoint DIR)")
    ckpt = resolve_checkpoint(checkpoint)
    method, cfg = load_method(ckpt, device)
    if not provides(method, Classifier):
        can = ", ".join(capabilities(method)) or "nothing"
        raise EmbedderUnavailableError(f"{ckpt}: a {cfg.method} checkpoint cannot classify (it can: {can})")
    size, channels = int(cfg.model.image_size), int(cfg.model.channels)

    def logits(images: Tensor) -> Tensor:
        x = images.float()
        if x.shape[-2:] != (size, size):
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        if channels == 1:
            x = 0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]
        u8 = (x * 255).round().clamp(0, 255).to(torch.uint8)
        return method.classify(method.to_input(u8.to(method.device))).float().cpu()

    return RecogniserEmbedder(logits, f"genfer-{cfg.method}:{ckpt}", output)
