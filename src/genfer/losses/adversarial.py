"""Adversarial losses as plain functions of critic scores, and the WGAN-GP and R1 gradient penalties.

Every score function takes raw (pre-sigmoid) scores of any shape and returns a scalar. ``kind``
names used by methods: ``wgan`` (Wasserstein critic, usually with ``gradient_penalty``),
``nonsaturating`` (the standard GAN with the -log D(G(z)) generator objective), ``hinge``,
``lsgan`` (least squares). A classifier used as a discriminator (TDGAN's, with one extra "fake"
class) trains with cross-entropy: ``ce_d_loss``/``ce_g_loss``.

Mixed precision: the penalties differentiate the critic with respect to its input and square the
result, which bf16/fp16 would round to about three significant digits. So they cast the inputs to
fp32 and, unless ``amp=True``, run the critic with autocast disabled; the gradient and its norm
are always computed in fp32. Under fp32 training both paths are the plain computation.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

KINDS: tuple[str, ...] = ("wgan", "nonsaturating", "hinge", "lsgan")


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


def lsgan_d_loss(real: Tensor, fake: Tensor) -> Tensor:
    """``E[(D(x) - 1)^2] / 2 + E[D(G(z))^2] / 2`` (Mao et al. 2017, targets 1 and 0)."""
    return 0.5 * ((real - 1).square().mean() + fake.square().mean())


def lsgan_g_loss(fake: Tensor) -> Tensor:
    """``E[(D(G(z)) - 1)^2] / 2``."""
    return 0.5 * (fake - 1).square().mean()


def ce_d_loss(real_logits: Tensor, labels: Tensor, fake_logits: Tensor, fake_class: int) -> tuple[Tensor, Tensor]:
    """A K+1-class classifier as discriminator: cross-entropy of real samples to their labels and of
    generated samples to the extra ``fake_class`` (TDGAN's D_FR).

    Args:
        real_logits: ``[B, K + 1]``.
        labels: ``[B]`` class indices of the real samples.
        fake_logits: ``[B', K + 1]``.
        fake_class: index of the "fake" class (K).

    Returns:
        ``(real_ce, fake_ce)``, each a scalar, for the method to weight.
    """
    fake = torch.full((fake_logits.shape[0],), fake_class, dtype=torch.long, device=fake_logits.device)
    return F.cross_entropy(real_logits, labels), F.cross_entropy(fake_logits, fake)


def ce_g_loss(fake_logits: Tensor, labels: Tensor) -> Tensor:
    """The generator's side: cross-entropy of generated samples to the class they should be (``[B]``)."""
    return F.cross_entropy(fake_logits, labels)


_D = {"wgan": wgan_d_loss, "nonsaturating": nonsaturating_d_loss, "hinge": hinge_d_loss, "lsgan": lsgan_d_loss}
_G = {"wgan": wgan_g_loss, "nonsaturating": nonsaturating_g_loss, "hinge": hinge_g_loss, "lsgan": lsgan_g_loss}


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


def _fp32(t: Tensor) -> Tensor:
    return t if t.dtype == torch.float64 else t.float()


def input_gradient(critic: Callable[[Tensor], Tensor], x: Tensor, amp: bool = False) -> Tensor:
    """``grad_x sum(critic(x))`` in fp32, with the graph kept (``create_graph``) so a penalty on it trains
    the critic.

    Args:
        critic: maps inputs ``[B, ...]`` to scores (any shape with B rows).
        x: inputs ``[B, ...]`` that require grad (fp32 or fp64).
        amp: run the critic under the caller's autocast (faster; the gradient then carries the low
            precision's rounding). By default autocast is disabled for the critic, so the penalty is
            the fp32 figure under any precision.

    Returns:
        ``[B, ...]`` gradient, fp32 (fp64 for fp64 inputs).
    """
    off = contextlib.nullcontext() if amp else torch.autocast(x.device.type, enabled=False)
    with off:
        scores = critic(x)
    with torch.autocast(x.device.type, enabled=False):
        (grad,) = torch.autograd.grad(_fp32(scores).sum(), x, create_graph=True)
    return _fp32(grad)


def gradient_penalty(
    critic: Callable[[Tensor], Tensor],
    real: Tensor,
    fake: Tensor,
    alpha: Tensor | None = None,
    target: float = 1.0,
    eps: float = 1e-12,
    amp: bool = False,
) -> Tensor:
    """WGAN-GP penalty ``E[(||grad_x D(x~)||_2 - target)^2]`` on random interpolates (Gulrajani et al. 2017).

    The graph is kept (``create_graph``) so the penalty trains the critic. ``fake`` should be
    detached from its generator: the penalty is a critic term. Computed in fp32 under autocast
    (see the module notes and :func:`input_gradient`).

    Args:
        critic: maps inputs ``[B, ...]`` to scores (any shape with B rows; they are summed).
        real: real inputs ``[B, ...]``.
        fake: generated inputs, same shape.
        alpha: per-sample mixing weights broadcastable to ``real`` (default: drawn U[0, 1)).
        target: the norm the gradient is pulled to (1 for WGAN-GP).
        eps: added under the square root so the penalty's own gradient stays finite at a zero
            gradient (a relative change of ~1e-12 elsewhere).
        amp: run the critic under the caller's autocast instead of in fp32.

    Returns:
        scalar penalty (unweighted), fp32.
    """
    x = interpolate(_fp32(real), _fp32(fake), None if alpha is None else _fp32(alpha)).requires_grad_(True)
    grad = input_gradient(critic, x, amp)
    with torch.autocast(x.device.type, enabled=False):
        norm = (grad.reshape(grad.shape[0], -1).square().sum(1) + eps).sqrt()
        return (norm - target).square().mean()


def r1_penalty(critic: Callable[[Tensor], Tensor], real: Tensor, amp: bool = False) -> Tensor:
    """R1 penalty ``E[||grad_x D(x)||_2^2]`` on real inputs (Mescheder et al. 2018).

    Methods weight it by ``gamma / 2`` (StyleGAN2: gamma = 10 at 1024 px, less at low resolution)
    and may apply it lazily, every few critic steps. Computed in fp32 under autocast.

    Args:
        critic: maps inputs ``[B, ...]`` to scores (summed over all but the batch).
        real: real inputs ``[B, ...]`` (detached here).
        amp: run the critic under the caller's autocast instead of in fp32.

    Returns:
        scalar penalty (unweighted), fp32.
    """
    x = _fp32(real.detach()).requires_grad_(True)
    grad = input_gradient(critic, x, amp)
    with torch.autocast(x.device.type, enabled=False):
        return grad.reshape(grad.shape[0], -1).square().sum(1).mean()


__all__ = [
    "KINDS",
    "ce_d_loss",
    "ce_g_loss",
    "d_loss",
    "g_loss",
    "gradient_penalty",
    "hinge_d_loss",
    "hinge_g_loss",
    "input_gradient",
    "interpolate",
    "lsgan_d_loss",
    "lsgan_g_loss",
    "nonsaturating_d_loss",
    "nonsaturating_g_loss",
    "r1_penalty",
    "wgan_d_loss",
    "wgan_g_loss",
]
