"""Identity loss: keep a face recognisable by a given face embedder."""

from __future__ import annotations

from collections.abc import Callable

import torch.nn.functional as F
from torch import Tensor


def cosine_distance(a: Tensor, b: Tensor) -> Tensor:
    """Row-wise ``1 - cos(a_i, b_i)`` of ``[B, D]`` embeddings -> ``[B]`` in [0, 2]."""
    return 1 - F.cosine_similarity(a.flatten(1), b.flatten(1), dim=1, eps=1e-8)


def identity_loss(
    embedder: Callable[[Tensor], Tensor], x: Tensor, target: Tensor, detach_target: bool = True
) -> Tensor:
    """Mean cosine distance between the embeddings of generated and source faces.

    Args:
        embedder: images ``[B, C, H, W]`` -> embeddings ``[B, D]`` (differentiable in its input; a
            frozen face-recognition net, e.g. a port in ``genfer.models.pretrained``).
        x: generated faces ``[B, C, H, W]``.
        target: the faces whose identity ``x`` should keep, same shape.
        detach_target: the target's embeddings are a fixed reference.

    Returns:
        scalar in [0, 2]; 0 when each ``x_i`` embeds in the direction of ``target_i``.
    """
    e_t = embedder(target)
    return cosine_distance(embedder(x), e_t.detach() if detach_target else e_t).mean()


__all__ = ["cosine_distance", "identity_loss"]
