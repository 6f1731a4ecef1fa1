"""Adversarial losses as plain functions of critic scores, and the WGAN-GP gradient penalty.

Every function takes raw (pre-sigmoid) scores of any shape and returns a scalar. ``kind`` names
used by methods: ``wgan`` (Wasserstein critic, usually with ``gradient_penalty``), ``nonsaturating``
(the standard GAN with the -log D(G(z)) generator objective), ``hinge``.

The gradient penalties (WGAN-GP, R1) differentiate the critic with respect to its input inside
the loss. They run that critic pass in fp32 with autocast switched off, so under bf16/fp16
training the penalty is the fp32 one (a bf16 input gradient is too coarse for a norm pulled to
1, and fp16 could underflow: the gradient scaler only scales the final loss, not this gradient).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

KINDS: tuple[str, ...] = ("wgan", "nonsaturating", "hinge")


def wgan_d_loss(real: Tensor, fake: Tensor) -> Tensor:
    """Critic loss ``-E[D(x)] + E[D(G(z))]`` (Arjovsky et al. 2017)."""
    return fake.mean() - real.mean()


def wgan_g_loss(fake: Tensor) -> Tensor:
    """Generator loss ``-E[D(G(z))]``."""
    return -fake.mean()


def nonsaturating_d_loss(real: Tensor, fake: Tensor) -> Tensor:
    """``-E[log sigmoid(D(x))] - E[log(1 - sigmoid(D(G(z))))]`` computed stably with softplus."""
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def nonsaturating_g_loss(fake: Tensor) -> Tensor:
    """``-E[log sigmoid(D(G(z)))]`` (Goodfellow et al. 2014, the non-saturating form)."""
    return F.softplus(-fake).mean()


def hinge_d_loss(real: Tensor, fake: Tensor) -> Tensor:
    """``E[relu(1 - D(x))] + E[relu(1 + D(G(z)))]`` (Lim & Ye 2017; SAGAN, BigGAN)."""
    return F.relu(1 - real).mean() + F.relu(1 + fake).mean()


def hinge_g_loss(fake: Tensor) -> Tensor:
    """``-E[D(G(z))]``."""
    return -fake.mean()


_D = {"wgan": wgan_d_loss, "nonsaturating": nonsaturating_d_loss, "hinge": hinge_d_loss}
_G = {"wgan": wgan_g_loss, "nonsaturating": nonsaturating_g_loss, "hinge": hinge_g_loss}


def d_loss(kind: str, real: Tensor, fake: Tensor) -> Tensor:
    """Discriminator/critic loss of ``kind`` (one of ``KINDS``) from scores on real and fake data."""
    try:
        return _D[kind](real, fake)
    except KeyError:
        raise KeyError(f"unknown adversarial loss {kind!r}; known: {', '.join(KINDS)}") from None


def g_loss(kind: str, fake: Tensor) -> Tensor:
    """Generator loss of ``kind`` (one of ``KINDS``) from the scores of generated data."""
    try:
        return _G[kind](fake)
    except KeyError:
        raise KeyError(f"unknown adversarial loss {kind!r}; known: {', '.join(KINDS)}") from None


def interpolate(real: Tensor, fake: Tensor, alpha: Tensor | None = None) -> Tensor:
    """``alpha * fake + (1 - alpha) * real`` with one ``alpha ~ U[0, 1)`` per sample (``[B, 1, ...]``)."""
    if alpha is None:
        alpha = torch.rand(real.shape[0], *([1] * (real.ndim - 1)), device=real.device, dtype=real.dtype)
    return alpha * fake + (1 - alpha) * real


def _wide(x: Tensor) -> Tensor:
    """bf16/fp16 tensors as fp32; fp32 and fp64 ones unchanged."""
    return x.float() if x.dtype in (torch.bfloat16, torch.float16) else x


def input_gradient(critic: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """``d sum(critic(x)) / dx`` with its graph, computed with autocast off, so in the weights'
    precision (fp32 when training in bf16/fp16; nothing changes when training in fp32). The
    differentiation is inside too: on the CPU its ops would otherwise run under the caller's
    autocast."""
    with torch.autocast(x.device.type, enabled=False):
        (grad,) = torch.autograd.grad(_wide(critic(x)).sum(), x, create_graph=True)
    return grad


def gradient_penalty(
    critic: Callable[[Tensor], Tensor],
    real: Tensor,
    fake: Tensor,
    alpha: Tensor | None = None,
    target: float = 1.0,
    eps: float = 1e-12,
) -> Tensor:
    """WGAN-GP penalty ``E[(||grad_x D(x~)||_2 - target)^2]`` on random interpolates (Gulrajani et al. 2017).

    The graph is kept (``create_graph``) so the penalty trains the critic. ``fake`` should be
    detached from its generator: the penalty is a critic term.

    Args:
        critic: maps inputs ``[B, ...]`` to scores (any shape with B rows; they are summed).
        real: real inputs ``[B, ...]``.
        fake: generated inputs, same shape.
        alpha: per-sample mixing weights broadcastable to ``real`` (default: drawn U[0, 1)).
        target: the norm the gradient is pulled to (1 for WGAN-GP).
        eps: added under the square root so the penalty's own gradient stays finite at a zero
            gradient (a relative change of ~1e-12 elsewhere).

    Returns:
        scalar penalty (unweighted).
    """
    x = interpolate(_wide(real), _wide(fake), None if alpha is None else _wide(alpha)).requires_grad_(True)
    grad = input_gradient(critic, x)
    norm = (grad.reshape(grad.shape[0], -1).square().sum(1) + eps).sqrt()
    return (norm - target).square().mean()


def r1_penalty(critic: Callable[[Tensor], Tensor], real: Tensor) -> Tensor:
    """R1 penalty ``E[||grad_x D(x)||^2]`` on real inputs (Mescheder et al. 2018), unweighted
    (methods usually weight it by gamma / 2). Computed in fp32 like ``gradient_penalty``.

    Args:
        critic: maps inputs ``[B, ...]`` to scores (summed over any extra dimensions).
        real: real inputs ``[B, ...]``.

    Returns:
        scalar penalty.
    """
    x = _wide(real.detach()).requires_grad_(True)
    grad = input_gradient(critic, x)
    return grad.reshape(grad.shape[0], -1).square().sum(1).mean()


__all__ = [
    "KINDS",
    "d_loss",
    "g_loss",
    "gradient_penalty",
    "hinge_d_loss",
    "hinge_g_loss",
    "input_gradient",
    "interpolate",
    "nonsaturating_d_loss",
    "nonsaturating_g_loss",
    "r1_penalty",
    "wgan_d_loss",
    "wgan_g_loss",
]
