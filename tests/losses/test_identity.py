"""Identity loss: cosine distance between embeddings of a given embedder."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from genfer.losses.identity import cosine_distance, identity_loss


def test_cosine_distance_known_values():
    a = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 1.0]])
    b = torch.tensor([[2.0, 0.0], [0.0, 3.0], [-1.0, -1.0]])
    torch.testing.assert_close(cosine_distance(a, b), torch.tensor([0.0, 1.0, 2.0]))


def test_identity_loss_is_zero_for_the_same_faces_and_falls_along_its_gradient():
    torch.manual_seed(0)
    embedder = nn.Sequential(nn.Conv2d(3, 4, 3, 2), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 3 * 3, 8))
    target = torch.rand(2, 3, 8, 8)
    assert identity_loss(embedder, target, target).item() == pytest.approx(0.0, abs=1e-6)
    x = torch.rand(2, 3, 8, 8, requires_grad=True)
    loss = identity_loss(embedder, x, target)
    assert loss.item() > 0
    (g,) = torch.autograd.grad(loss, x)
    assert identity_loss(embedder, x.detach() - 0.5 * g / g.norm(), target).item() < loss.item()


def test_target_embedding_is_a_fixed_reference():
    w = torch.tensor([[1.0, 0.0], [0.0, 1.0]], requires_grad=True)
    x, t = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    (g,) = torch.autograd.grad(identity_loss(lambda z: z @ w, x, t), w)
    # only the x branch carries a gradient: d/dw of -cos(x w, t w_fixed) touches w's first row only
    assert bool((g[1] == 0).all()) and bool((g[0] != 0).any())
