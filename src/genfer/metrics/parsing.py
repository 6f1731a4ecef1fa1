"""How well a soft face-parsing mask selects where Action Units live.

- :func:`binary_auc`: area under the ROC curve of scores as a detector of binary labels
  (Mann-Whitney U with tied scores sharing their mean rank).
- :func:`mask_auc`: the AUC of mask values as a detector of AU-affected pixels (a parsing
  ground truth, e.g. the pixels SynthFace changes when it renders one AU on and off).
- :func:`hog` and :func:`parsing_pr`: CDAN's released ``PR.py`` metric. For each AU the images
  are split into an AU-active group (intensity != 0) and an inactive one; the HOG descriptors of
  their parsed images are summed per group and L1-normalised, and PR is KL(active || inactive).
  The release computed the inactive distribution from the active group's sum (it reused
  ``s_norm``), so its PR is always 0; ``released_bug=True`` reproduces that.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def binary_auc(scores: Tensor, labels: Tensor) -> float:
    """ROC AUC of ``scores`` (any shape) for the boolean ``labels`` of the same shape.

    Returns NaN when one class is absent.
    """
    s = scores.reshape(-1).double()
    y = labels.reshape(-1).bool()
    n_pos = int(y.sum())
    n_neg = y.numel() - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = torch.argsort(s)
    sorted_s = s[order]
    ranks = torch.empty_like(s)
    ranks[order] = torch.arange(1, s.numel() + 1, dtype=torch.float64)
    # tied scores get the mean of their ranks
    _, inverse, counts = torch.unique_consecutive(sorted_s, return_inverse=True, return_counts=True)
    ends = torch.cumsum(counts, 0).double()
    mean_rank = ends - (counts.double() - 1) / 2
    ranks[order] = mean_rank[inverse]
    u = float(ranks[y].sum()) - n_pos * (n_pos + 1) / 2
    return u / (n_pos * n_neg)


def mask_auc(masks: Tensor, targets: Tensor) -> float:
    """AUC of soft masks ``[N, 1, H, W]`` as detectors of the pixels ``targets`` marks (bool, same shape)."""
    if masks.shape != targets.shape:
        raise ValueError(f"masks {tuple(masks.shape)} and targets {tuple(targets.shape)} differ in shape")
    return binary_auc(masks, targets)


def changed_pixels(a: Tensor, b: Tensor, threshold: float = 8 / 255) -> Tensor:
    """Pixels where two renders ``[N, C, H, W]`` (float [0, 1] or uint8) differ by more than
    ``threshold`` in some channel: bool ``[N, 1, H, W]``."""
    a = a.float() / 255 if a.dtype == torch.uint8 else a.float()
    b = b.float() / 255 if b.dtype == torch.uint8 else b.float()
    return (a - b).abs().amax(1, keepdim=True) > threshold


def hog(images: Tensor, orientations: int = 8, cell: int = 8, block: int = 2, eps: float = 1e-5) -> Tensor:
    """Histograms of oriented gradients, as ``skimage.feature.hog(..., block_norm="L1")`` lays them out.

    Args:
        images: ``[N, C, H, W]`` float (colour is averaged to grey).
        orientations: unsigned orientation bins over [0, 180) degrees.
        cell: cell side in pixels.
        block: block side in cells; blocks slide by one cell and are L1-normalised.

    Returns:
        ``[N, D]`` descriptors, ``D = (cy - block + 1) * (cx - block + 1) * block**2 * orientations``.
    """
    g = images.float().mean(1, keepdim=True)
    gy = torch.zeros_like(g)
    gx = torch.zeros_like(g)
    gy[..., 1:-1, :] = g[..., 2:, :] - g[..., :-2, :]
    gx[..., :, 1:-1] = g[..., :, 2:] - g[..., :, :-2]
    mag = torch.sqrt(gx**2 + gy**2)
    ang = torch.rad2deg(torch.atan2(gy, gx)) % 180
    bins = (ang / (180 / orientations)).long().clamp(max=orientations - 1)
    n, _, h, w = g.shape
    cy, cx = h // cell, w // cell
    onehot = F.one_hot(bins[:, 0, : cy * cell, : cx * cell], orientations).float()  # [N, H, W, O]
    weighted = onehot * mag[:, 0, : cy * cell, : cx * cell, None]
    cells = weighted.reshape(n, cy, cell, cx, cell, orientations).sum((2, 4)) / (cell * cell)  # [N, cy, cx, O]
    blocks = cells.unfold(1, block, 1).unfold(2, block, 1)  # [N, by, bx, O, block, block]
    blocks = blocks.permute(0, 1, 2, 4, 5, 3).reshape(n, blocks.shape[1], blocks.shape[2], -1)
    blocks = blocks / (blocks.abs().sum(-1, keepdim=True) + eps)
    return blocks.reshape(n, -1)


def parsing_pr(parsed: Tensor, aus: Tensor, released_bug: bool = False, eps: float = 1e-10) -> list[float]:
    """CDAN's parsing metric PR per AU: KL(active || inactive) of summed HOG descriptors.

    Args:
        parsed: ``[N, C, H, W]`` parsed images (the release: mask-input image minus mask image).
        aus: ``[N, K]`` AU intensities; an AU is active where its intensity is not 0.
        released_bug: compute the inactive distribution from the active group's sum, as the
            release did (every PR is then 0).
        eps: added to both distributions before the logarithm.

    Returns:
        K values (NaN where a group is empty).
    """
    d = hog(parsed)
    out = []
    for k in range(aus.shape[1]):
        on = aus[:, k] != 0
        if not bool(on.any()) or bool(on.all()):
            out.append(math.nan)
            continue
        s = d[on].sum(0)
        p = s / s.sum()
        t = s if released_bug else d[~on].sum(0)
        q = t / t.sum()
        out.append(float(((p + eps) * torch.log((p + eps) / (q + eps))).sum()))
    return out


__all__ = ["binary_auc", "changed_pixels", "hog", "mask_auc", "parsing_pr"]
