"""Ranger (RAdam + Lookahead + gradient centralisation), registered in the engine's OPTIMIZERS."""

from __future__ import annotations

import math

import pytest
import torch

from genfer.core.config import OptimConfig
from genfer.engine.optim import OPTIMIZERS, Ranger, build_optimizer


def test_registered_and_built_from_the_optim_config():
    p = torch.nn.Parameter(torch.zeros(3))
    opt = build_optimizer("ranger", [p], 1e-4, OptimConfig(optimizer="ranger", betas=(0.95, 0.999)))
    assert "ranger" in OPTIMIZERS.names()
    assert isinstance(opt, Ranger) and opt.param_groups[0]["betas"] == (0.95, 0.999)


def test_first_steps_are_bias_corrected_momentum_then_rectified():
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = Ranger([p], lr=0.1, k=100)
    g = torch.tensor([0.5, 1.0])
    p.grad = g.clone()
    opt.step()  # t = 1: rho_1 = 1 <= 5, the step is m_hat = g
    assert torch.allclose(p.detach(), torch.tensor([1.0, -2.0]) - 0.1 * g)
    b1, b2 = 0.95, 0.999
    rho_max = 2 / (1 - b2) - 1
    for t in range(2, 8):
        before = p.detach().clone()
        p.grad = g.clone()
        opt.step()
        rho = rho_max - 2 * t * b2**t / (1 - b2**t)
        m_hat_step = 0.1 / (1 - b1**t) * g * (1 - b1**t)  # constant gradient: m_t = (1 - b1^t) g
        if rho > 5:
            v = (1 - b2**t) * g * g
            r = math.sqrt((1 - b2**t) * (rho - 4) / (rho_max - 4) * (rho - 2) / rho * rho_max / (rho_max - 2))
            want = before - 0.1 * r / (1 - b1**t) * (1 - b1**t) * g / (v.sqrt() + 1e-5)
        else:
            want = before - m_hat_step
        assert torch.allclose(p.detach(), want, atol=1e-6), t


def test_gradient_centralisation_removes_the_per_row_mean():
    w = torch.nn.Parameter(torch.ones(2, 3))
    opt = Ranger([w], lr=0.1)
    w.grad = torch.tensor([[1.0, 1.0, 1.0], [-2.0, -2.0, -2.0]])  # constant within each output row
    opt.step()
    assert torch.equal(w.detach(), torch.ones(2, 3))
    opt_off = Ranger([w], lr=0.1, use_gc=False)
    w.grad = torch.tensor([[1.0, 1.0, 1.0], [-2.0, -2.0, -2.0]])
    opt_off.step()
    assert not torch.equal(w.detach(), torch.ones(2, 3))


def test_lookahead_pulls_back_halfway_every_k_steps():
    p = torch.nn.Parameter(torch.tensor([0.0]))
    opt = Ranger([p], lr=0.1, k=2, alpha=0.5)
    p.grad = torch.tensor([1.0])
    opt.step()
    fast1 = p.item()
    p.grad = torch.tensor([1.0])
    opt.step()  # fast weights step on, then the slow weights (0) move halfway to them
    fast2 = fast1 - 0.1  # second step of bias-corrected momentum with a constant gradient
    assert p.item() == pytest.approx(0.5 * fast2, abs=1e-6)


def test_minimises_a_quadratic():
    torch.manual_seed(0)
    p = torch.nn.Parameter(torch.randn(5))
    opt = Ranger([p], lr=0.5)  # RAdam's rectification keeps early steps short (r_t ~ 0.05 at t = 6)
    for _ in range(400):
        opt.zero_grad()
        ((p - 3.0) ** 2).sum().backward()
        opt.step()
    assert (p - 3.0).abs().max() < 0.1
