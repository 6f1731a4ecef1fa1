"""L1/L2 reconstruction: known values, masks that select what counts, zero for identical images."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from genfer.losses.reconstruction import l1_loss, l2_loss


def test_unmasked_equals_torch_and_is_zero_for_identical_inputs():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(2, 3, 4, 4, generator=g), torch.randn(2, 3, 4, 4, generator=g)
    torch.testing.assert_close(l1_loss(x, y), F.l1_loss(x, y))
    torch.testing.assert_close(l2_loss(x, y), F.mse_loss(x, y))
    assert l1_loss(x, x).item() == 0.0 and l2_loss(x, x).item() == 0.0


def test_mask_restricts_the_mean_to_masked_pixels():
    x = torch.zeros(1, 2, 2, 2)
    y = torch.tensor([[[[1.0, 3.0], [100.0, 100.0]]]]).expand(1, 2, 2, 2)
    mask = torch.tensor([[[[1.0, 1.0], [0.0, 0.0]]]])  # [B, 1, H, W]: only the top row counts
    assert l1_loss(x, y, mask).item() == pytest.approx(2.0)  # mean(|1|, |3|) over both channels
    assert l2_loss(x, y, mask).item() == pytest.approx(5.0)  # mean(1, 9)
    half = mask * 0.5  # weights, not just a selection: a uniform scale leaves the mean unchanged
    assert l1_loss(x, y, half).item() == pytest.approx(2.0)
    assert l1_loss(x, y, torch.zeros_like(mask)).item() == 0.0  # an empty mask: 0, not NaN


def test_gradient_points_towards_the_target_only_inside_the_mask():
    x = torch.zeros(1, 1, 2, 2, requires_grad=True)
    y = torch.ones(1, 1, 2, 2)
    mask = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])
    (g,) = torch.autograd.grad(l2_loss(x, y, mask), x)
    assert bool((g[mask.bool()] < 0).all()) and bool((g[~mask.bool()] == 0).all())
