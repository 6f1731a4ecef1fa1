"""A re-enactment of the *released* JESRL code's compute pattern (``ELEGANT.train``), for timing.

Written from the project's reference notes and the official fixture's description (no code
copied); it runs genfer's networks (the same functions) the way the release calls them:

- ``forward_G``: ``Enc(A)`` and ``Enc(B)`` separately; six separate decoder calls (R_A, R_B, R_C,
  R_D, R_C_5, R_D_5), each re-reading the skips; NCHW activations;
- the discriminators are called once per image batch: D1 and D2 on A, B (real), then on C, D, C_5,
  D_5 detached for the D loss, then again on C, D, C_5, D_5 for the G loss, whose backward also
  fills the discriminators' weight gradients (cleared before their next update);
- BCE on sigmoid probabilities (``log`` clamped at -100, no target-range check), noisy targets;
- ``VGGLoss`` (pix2pixHD style): the frozen VGG19-BN runs on both images with a graph, the target
  activations are detached afterwards; TV on detached images;
- ``swap``: ``forward_G`` under ``no_grad``, i.e. all six decodes for two swapped images;
- ``released_layers``: the release's ``Normalization`` (``F.normalize(x) * alpha + beta`` as
  autograd ops) followed by its own ``LeakyReLU`` / ``ReLU`` module (out of place, as the issue's
  CPU patch of the release runs them), on the same parameters. Without it the pattern borrows
  genfer's fused norm + activation function, which the release does not have;
- ``library_convs``: the library's convolution backward (bias gradient included), as the release's
  ``nn.Conv2d`` / ``nn.ConvTranspose2d`` run; always applied.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genfer.losses.tv import total_variation_l1
from genfer.models.jesrl.networks import Normalization, change_vector, swap_labels, swap_latents
from genfer.models.layers.sum_bias import SumBiasConv2d, SumBiasConvTranspose2d
from genfer.models.layers.vgg import PERCEPTUAL_SLICES, PERCEPTUAL_WEIGHTS


class _ReleasedNorm(nn.Module):
    """The release's ``Normalization``: a graph of norm, clamp, divide, multiply and add."""

    def __init__(self, norm: Normalization) -> None:
        super().__init__()
        self.alpha, self.beta = norm.alpha, norm.beta  # the same parameters (and state-dict keys)

    def forward(self, x: Tensor) -> Tensor:
        return F.normalize(x, dim=1) * self.alpha + self.beta


def library_convs(m) -> None:
    """Give ``m``'s convolutions the library's path (genfer's compute their bias gradients as sums)."""
    for mod in m.modules():
        if isinstance(mod, (SumBiasConv2d, SumBiasConvTranspose2d)):
            mod.sum_bias = False


def released_layers(m) -> None:
    """Give ``m``'s encoder, decoder and discriminators the release's norm and activation modules."""
    acts = {"leaky_relu": lambda: nn.LeakyReLU(0.2), "relu": nn.ReLU}
    for net in (m.Enc, m.Dec, m.D1, m.D2):
        for seq in [s for s in net.modules() if isinstance(s, nn.Sequential)]:
            for k, mod in enumerate(list(seq)):
                if isinstance(mod, Normalization) and mod.activation is not None:
                    seq[k], seq[k + 1] = _ReleasedNorm(mod), acts[mod.activation]()


def _bce(p: Tensor, t: Tensor) -> Tensor:
    return -(t * p.log().clamp_min(-100) + (1 - t) * (1 - p).log().clamp_min(-100)).mean()


def _vgg_loss(features, x: Tensor, y: Tensor) -> Tensor:
    def acts(z):
        out = []
        for a, b in PERCEPTUAL_SLICES:
            for m in features[a:b]:
                z = m(z)
            out.append(z)
        return out

    fx, fy = acts(x), acts(y)  # both with a graph, as the release
    return sum(w * F.l1_loss(a, b.detach()) for w, a, b in zip(PERCEPTUAL_WEIGHTS, fx, fy, strict=True))


def forward_g(m, a: Tensor, b: Tensor, i: Tensor, j: Tensor) -> dict[str, Tensor]:
    """The release's forward_G: separate encoder and decoder calls."""
    k = m.cfg.num_classes
    z_a, s_a = m.Enc(a)
    z_b, s_b = m.Enc(b)
    z_c, z_d = swap_latents(z_a, z_b, i, j, k)
    lab = m.Dec.tile(change_vector(i, j, k))
    zero = torch.zeros_like(lab)
    r = {
        "A": m.Dec(z_a, z_a, zero, s_a), "B": m.Dec(z_b, z_b, zero, s_b),
        "C": m.Dec(z_c, z_a, lab, s_a), "D": m.Dec(z_d, z_b, lab, s_b),
        "C_5": m.Dec(0.5 * (z_c - z_a) + z_a, z_a, lab, s_a), "D_5": m.Dec(0.5 * (z_d - z_b) + z_b, z_b, lab, s_b),
    }
    base = {"A": a, "B": b, "C": a, "D": b, "C_5": a, "D_5": b}
    return {n: (base[n] + r[n]).clamp(-1, 1) for n in r}


def iteration(m, opt_g, opt_d, a: Tensor, b: Tensor, i: Tensor, j: Tensor, vgg: bool) -> float:
    """One released GAN iteration (D update, then G update); returns loss_G."""
    c, k = m.cfg, m.cfg.num_classes
    y_a, y_b = F.one_hot(i, k).float(), F.one_hot(j, k).float()
    y_c, y_d = swap_labels(y_a, y_b, i, j)
    g = forward_g(m, a, b, i, j)
    fakes = [("C", y_c), ("D", y_d), ("C_5", y_c), ("D_5", y_d)]

    def t(p: Tensor, v: float) -> Tensor:
        return torch.randn_like(p) * c.noise_std + v

    loss_d = 0.0
    for d, w in ((m.D1, 1.0), (m.D2, 0.5)):
        ld = sum(_bce(p, t(p, 1)) for p in (d(a, y_a), d(b, y_b)))
        ld = ld + sum(_bce(p, t(p, 0)) for p in (d(g[n].detach(), y) for n, y in fakes))
        loss_d = loss_d + w * ld
    opt_d.zero_grad()
    (c.lambda_d * loss_d).backward()
    opt_d.step()
    adv = 0.0
    for d, w in ((m.D1, 1.0), (m.D2, 0.5)):
        adv = adv + w * sum(_bce(p, t(p, 1)) for p in (d(g[n], y) for n, y in fakes))
    loss_g = (adv + c.lambda_l2 * (F.mse_loss(g["A"], a) + F.mse_loss(g["B"], b))
              + c.lambda_l1 * F.l1_loss(g["C"] + g["D"], a + b)
              + c.lambda_tv * total_variation_l1(torch.cat((g["C"], g["D"])).detach()))
    if vgg:
        loss_g = loss_g + c.lambda_vgg * (_vgg_loss(m.P.features, g["D"], a) + _vgg_loss(m.P.features, g["C"], b))
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()
    return float(loss_g)


@torch.no_grad()
def swap(m, a: Tensor, b: Tensor, i: Tensor, j: Tensor) -> tuple[Tensor, Tensor]:
    g = forward_g(m, a, b, i, j)
    return g["C"], g["D"]
