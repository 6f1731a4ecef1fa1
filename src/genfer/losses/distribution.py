"""ASIT's distribution-alignment loss (CDC-like): keep the similarity structure of generator features.

Pick ``n_anchors`` random (feature map, sample) anchors. For each, the cosine similarities of the
anchor's flattened feature to the other samples of the batch, softmax-normalised, form a
distribution; the source distribution comes from features of random latents (no gradient), the
target from the features of the inverted codes. Loss = KL(source || target), averaged over the
entries (``nn.KLDivLoss()``'s default ``mean``, as released).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def _sims(feat: Tensor, i: int, others: Tensor) -> Tensor:
    """Cosine similarities of sample ``i`` of ``feat [B, ...]`` to the samples ``others`` -> ``[len(others)]``."""
    f = feat.flatten(1)
    return F.cosine_similarity(f[i : i + 1], f[others], dim=1)


def _kl_mean(log_q: Tensor, p: Tensor) -> Tensor:
    """``nn.KLDivLoss()(log_q, p)``: the mean over entries of ``p (log p - log_q)`` (0 where p = 0)."""
    return (torch.special.xlogy(p, p) - p * log_q).mean()


def distribution_alignment(source: list[Tensor], target: list[Tensor], n_anchors: int = 3,
                           generator: torch.Generator | None = None, faithful: bool = False) -> Tensor:
    """KL between anchor-to-batch similarity distributions of ``source`` and ``target`` features.

    Args:
        source: feature maps ``[B, C, H, W]`` from random latents (treated as fixed).
        target: the same layers for the inverted codes (differentiable).
        n_anchors: random (layer, sample) anchors (3 in the release).
        generator: RNG of the anchor draws (CPU).
        faithful: the release's indexing, written for a batch of 2: anchors draw their sample from
            {0, 1} whatever the batch, each anchor compares its sample with the *other anchors'*
            samples when they differ, and unfilled slots of the ``[3, 2]`` table stay 0.

    Returns:
        a scalar; 0 when a batch has a single sample (no pairs), and by construction 0 for
        ``faithful=False`` at batch 2 (one partner per anchor: the softmax is 1).
    """
    b = target[0].shape[0]
    n_layers = len(target)
    layer = torch.randint(0, n_layers, (n_anchors,), generator=generator).tolist()
    if faithful:
        if b < 2:
            raise ValueError("the release's distribution loss indexes samples 0 and 1: it needs a batch of 2 or more")
        sample = torch.randint(0, 2, (n_anchors,), generator=generator).tolist()
        src = target[0].new_zeros(n_anchors, n_anchors - 1)
        tgt_rows = []
        with torch.no_grad():
            for a in range(n_anchors):
                slots = [c for c in range(n_anchors) if sample[c] != sample[a]]
                for t, c in enumerate(slots):
                    src[a, t] = _sims(source[layer[a]], sample[a], torch.tensor([sample[c]]))[0]
        for a in range(n_anchors):
            slots = [c for c in range(n_anchors) if sample[c] != sample[a]]
            row = [_sims(target[layer[a]], sample[a], torch.tensor([sample[c]]))[0] for c in slots]
            row += [target[0].new_zeros(())] * (n_anchors - 1 - len(row))
            tgt_rows.append(torch.stack(row))
        tgt = torch.stack(tgt_rows)
        return _kl_mean(torch.log(F.softmax(tgt, 1)), F.softmax(src, 1))
    if b < 2:
        return target[0].new_zeros(())
    sample = torch.randint(0, b, (n_anchors,), generator=generator).tolist()
    src_rows, tgt_rows = [], []
    for a in range(n_anchors):
        others = torch.tensor([j for j in range(b) if j != sample[a]])
        with torch.no_grad():
            src_rows.append(_sims(source[layer[a]], sample[a], others))
        tgt_rows.append(_sims(target[layer[a]], sample[a], others))
    src, tgt = F.softmax(torch.stack(src_rows), 1), F.log_softmax(torch.stack(tgt_rows), 1)
    return _kl_mean(tgt, src)


__all__ = ["distribution_alignment"]
