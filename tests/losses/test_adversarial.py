"""Adversarial losses: known values, and gradient penalties that stay fp32-exact under autocast."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from genfer.losses import adversarial as adv

REAL, FAKE = torch.tensor([2.0, 0.0]), torch.tensor([-1.0, 1.0])


@pytest.mark.parametrize(
    ("kind", "d_want", "g_want"),
    [
        ("wgan", -1.0, 0.0),  # E[D(fake)] - E[D(real)]; -E[D(fake)]
        ("hinge", 0.5 + 1.0, 0.0),  # mean(relu(1 - [2, 0])) + mean(relu(1 + [-1, 1]))
        ("lsgan", 1.0, 1.0),  # (mean([1, 1]) + mean([1, 1])) / 2; mean([4, 0]) / 2
    ],
)
def test_score_losses_known_values(kind, d_want, g_want):
    assert adv.d_loss(kind, REAL, FAKE).item() == pytest.approx(d_want)
    assert adv.g_loss(kind, FAKE).item() == pytest.approx(g_want)


def test_nonsaturating_is_binary_cross_entropy_on_logits():
    d = adv.d_loss("nonsaturating", REAL, FAKE)
    want = F.binary_cross_entropy_with_logits(REAL, torch.ones(2)) + F.binary_cross_entropy_with_logits(
        FAKE, torch.zeros(2)
    )
    torch.testing.assert_close(d, want)
    want_g = F.binary_cross_entropy_with_logits(FAKE, torch.ones(2))
    torch.testing.assert_close(adv.g_loss("nonsaturating", FAKE), want_g)
    with pytest.raises(KeyError, match="known"):
        adv.d_loss("relativistic", REAL, FAKE)


@pytest.mark.parametrize("kind", adv.KINDS)
def test_generator_loss_falls_as_fake_scores_rise(kind):
    """Gradient direction: every G objective wants the critic to score fakes as real."""
    fake = torch.zeros(4, requires_grad=True)
    (g,) = torch.autograd.grad(adv.g_loss(kind, fake), fake)
    assert bool((g < 0).all())


def test_cross_entropy_discriminator_uses_the_fake_class():
    logits = torch.randn(3, 5, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([0, 2, 1])
    real_ce, fake_ce = adv.ce_d_loss(logits, labels, logits, fake_class=4)
    torch.testing.assert_close(real_ce, F.cross_entropy(logits, labels))
    torch.testing.assert_close(fake_ce, -logits.log_softmax(1)[:, 4].mean())
    torch.testing.assert_close(adv.ce_g_loss(logits, labels), real_ce)


def test_gradient_penalty_of_a_linear_critic():
    w = torch.tensor([3.0, 4.0], requires_grad=True)  # the input gradient is w everywhere: |w| = 5
    gp = adv.gradient_penalty(lambda x: x @ w, torch.zeros(5, 2), torch.ones(5, 2))
    assert gp.item() == pytest.approx((5.0 - 1.0) ** 2)
    (gw,) = torch.autograd.grad(gp, w)  # d/dw (|w| - 1)^2 = 2 (|w| - 1) w / |w|
    torch.testing.assert_close(gw, 2 * 4.0 * w.detach() / 5.0)


def test_r1_of_a_quadratic_critic():
    """D(x) = sum(a * x^2) has input gradient 2 a x: R1 = mean_b sum (2 a x_b)^2."""
    a = torch.tensor([0.5, -1.5, 2.0], requires_grad=True)
    x = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    r1 = adv.r1_penalty(lambda t: (a * t.square()).sum(1), x)
    torch.testing.assert_close(r1, (2 * a.detach() * x).square().sum(1).mean())
    (ga,) = torch.autograd.grad(r1, a)  # the penalty trains the critic: d/da mean sum 4 a^2 x^2
    torch.testing.assert_close(ga, (8 * a.detach() * x.square()).mean(0))
    assert not x.requires_grad  # the caller's tensor is left alone


def _critic() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(16, 16, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Flatten(), nn.Linear(16 * 8 * 8, 1),
    )


def _penalties(critic, real, fake, alpha, **kw):
    return {
        "gp": adv.gradient_penalty(critic, real, fake, alpha, **kw),
        "r1": adv.r1_penalty(critic, real, **kw),
    }


def test_penalties_under_bf16_autocast_match_fp32():
    critic = _critic()
    g = torch.Generator().manual_seed(1)
    real, fake = torch.randn(4, 3, 16, 16, generator=g), torch.randn(4, 3, 16, 16, generator=g)
    alpha = torch.rand(4, 1, 1, 1, generator=g)
    weights = [p for name, p in critic.named_parameters() if name != "5.bias"]  # the last bias has no input grad
    ref = _penalties(critic, real, fake, alpha)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert critic(real).dtype == torch.bfloat16  # autocast is really on
        # inputs as a bf16 generator would hand them over
        exact = _penalties(critic, real.bfloat16().float(), fake.bfloat16(), alpha)
        fast = _penalties(critic, real, fake, alpha, amp=True)
    ref_b = _penalties(critic, real.bfloat16().float(), fake.bfloat16().float(), alpha)
    for k in ("gp", "r1"):
        assert exact[k].dtype == fast[k].dtype == torch.float32
        torch.testing.assert_close(exact[k], ref_b[k], rtol=1e-6, atol=0)  # autocast off: the fp32 figure
        torch.testing.assert_close(fast[k], ref[k], rtol=0.02, atol=0)  # amp: close, with bf16's rounding
        grads = torch.autograd.grad(exact[k], weights)
        for a, b in zip(grads, torch.autograd.grad(ref_b[k], weights)):
            assert a.dtype == torch.float32
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
