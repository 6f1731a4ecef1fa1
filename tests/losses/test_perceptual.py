"""Perceptual losses over any feature extractor, and LPIPS as a loss."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from genfer.losses.perceptual import PerceptualLoss, lpips_loss, perceptual_loss


class TwoLayers(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.a = nn.Conv2d(3, 4, 3, padding=1)
        self.b = nn.Conv2d(4, 4, 3, 2, 1)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        h1 = F.relu(self.a(x))
        return [h1, self.drop(F.relu(self.b(h1)))]


def test_known_value_with_layer_weights_and_zero_for_identical_images():
    net = TwoLayers().eval()
    g = torch.Generator().manual_seed(1)
    x, y = torch.rand(2, 3, 8, 8, generator=g), torch.rand(2, 3, 8, 8, generator=g)
    fx, fy = net(x), net(y)
    want = 0.25 * F.mse_loss(fx[0], fy[0]) + 2.0 * F.mse_loss(fx[1], fy[1])
    torch.testing.assert_close(perceptual_loss(net, x, y, weights=(0.25, 2.0)), want)
    want_l1 = F.l1_loss(fx[0], fy[0]) + F.l1_loss(fx[1], fy[1])
    torch.testing.assert_close(perceptual_loss(net, x, y, distance="l1"), want_l1)
    assert perceptual_loss(net, x, x).item() == 0.0
    with pytest.raises(ValueError, match="weights"):
        perceptual_loss(net, x, y, weights=(1.0,))


def test_a_single_tensor_extractor_and_a_detached_target():
    w = torch.tensor(2.0, requires_grad=True)
    x, y = torch.ones(1, 1, 2, 2), torch.full((1, 1, 2, 2), 0.5)
    loss = perceptual_loss(lambda t: w * t + 1, x, y)  # features 3 and 2: mean((3 - 2)^2) = 1
    assert loss.item() == pytest.approx(1.0)
    (gw,) = torch.autograd.grad(loss, w)
    assert gw.item() == pytest.approx(2.0)  # 2 (f(x) - f(y)) * x; through both branches it would be * (x - y) = 1
    (gw,) = torch.autograd.grad(perceptual_loss(lambda t: w * t + 1, x, y, detach_target=False), w)
    assert gw.item() == pytest.approx(1.0)


def test_module_freezes_its_extractor_even_in_train_mode():
    loss = PerceptualLoss(TwoLayers(), distance="l1").train()
    assert not loss.extractor.training and not any(p.requires_grad for p in loss.parameters())
    x = torch.rand(2, 3, 8, 8, requires_grad=True)
    y = torch.rand(2, 3, 8, 8)
    a, b = loss(x, y), loss(x, y)
    assert a.item() == b.item()  # dropout off: deterministic
    (g,) = torch.autograd.grad(a, x)
    assert g.abs().sum() > 0


def test_lpips_as_a_loss_is_zero_for_identical_images_and_differentiable():
    from genfer.metrics.lpips import LPIPS

    torch.manual_seed(0)
    net = LPIPS("alex").eval().requires_grad_(False)  # random weights: the function, not the calibration
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.startswith("lin"):
                p.abs_()  # the published heads are non-negative, so LPIPS is a distance
    y = torch.rand(2, 3, 32, 32) * 2 - 1
    assert lpips_loss(net, y, y).item() == pytest.approx(0.0, abs=1e-6)
    x = (y + 0.3 * torch.randn_like(y)).clamp(-1, 1).requires_grad_()
    loss = lpips_loss(net, x, y)
    (g,) = torch.autograd.grad(loss, x)
    assert loss.item() > 0 and torch.isfinite(g).all() and g.abs().sum() > 0
    torch.testing.assert_close(lpips_loss(net, (x + 1) / 2, (y + 1) / 2, (0.0, 1.0)), loss)
