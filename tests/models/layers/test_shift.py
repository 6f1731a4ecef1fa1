"""random_shift: whole-pixel translation per image, edges repeated, differentiable."""

from __future__ import annotations

import pytest
import torch

from genfer.models.layers.shift import random_shift


def test_each_image_moves_by_its_own_whole_pixel_shift():
    x = torch.rand(16, 3, 32, 32, requires_grad=True)
    torch.manual_seed(0)
    y = random_shift(x, 0.25)
    assert y.shape == x.shape
    shifts = set()
    for i in range(16):  # every output is the input shifted by (dy, dx), |d| <= 8
        found = [(dy, dx) for dy in range(-8, 9) for dx in range(-8, 9)
                 if torch.equal(y[i, :, 8:24, 8:24], x[i, :, 8 - dy:24 - dy, 8 - dx:24 - dx])]
        assert len(found) == 1
        shifts.add(found[0])
    assert len(shifts) > 4  # drawn per image
    y.sum().backward()  # every output pixel comes from one input pixel
    assert x.grad is not None and float(x.grad.sum()) == pytest.approx(x.numel())


def test_uncovered_border_repeats_the_edge():
    x = torch.arange(8.0).view(1, 1, 1, 8).expand(64, 1, 8, 8).contiguous()
    torch.manual_seed(0)
    y = random_shift(x, 0.375)  # up to 3 px
    for row in y[:, 0, 0]:
        d = int(row[4] - x[0, 0, 0, 4])
        assert torch.equal(row, (torch.arange(8.0) + d).clamp(0, 7))


def test_zero_is_the_identity():
    x = torch.rand(2, 1, 8, 8)
    assert random_shift(x, 0.0) is x
