"""Total variation: zero on constant maps, known value on a step, lower after a smoothing step."""

from __future__ import annotations

import pytest
import torch

from genfer.losses.tv import total_variation


def test_constant_maps_have_no_variation():
    assert total_variation(torch.full((3, 1, 5, 4), 0.7)).item() == 0.0


def test_known_value_and_batch_mean():
    step = torch.tensor([[[[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]]]])  # one vertical edge of height 2
    assert total_variation(step).item() == pytest.approx(2.0)  # two horizontal jumps of 1, squared
    both = torch.cat([step, 2 * step])  # per image 2 and 8: the batch mean is 5
    assert total_variation(both).item() == pytest.approx(5.0)


def test_gradient_descent_smooths():
    m = torch.rand(2, 1, 6, 6, generator=torch.Generator().manual_seed(0)).requires_grad_()
    tv = total_variation(m)
    (g,) = torch.autograd.grad(tv, m)
    assert total_variation(m.detach() - 0.01 * g).item() < tv.item()
