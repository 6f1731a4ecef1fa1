"""A re-enactment of the *released* CDAN code's compute pattern, for timing against genfer.

Written from the spec in the project's reference notes (no code copied). It keeps what the release
builds and does that genfer avoids, so both can be timed on the same machine:

- the unused layers are built (a ConvTranspose2d 4x4 s2 in every ``Upsample``, ``decoder2.l1_up``,
  ``decoder2.color_out``), and the LPIPS network's VGG16 features (its loss replaced by zero, as in
  the issue's reference figures, so only its memory counts);
- the ``Solver`` builds its own second FeatureDiscriminator and AuDiscriminator (and Adams over
  them that are never stepped);
- attention is ``bmm`` + ``softmax`` + ``bmm`` (taming's ``AttnBlock``);
- GroupNorm and swish are two autograd nodes (genfer's ``group_norm_silu`` keeps one activation
  fewer). The release writes swish as ``x * sigmoid(x)``, which keeps one more still; the
  re-enactment uses ``F.silu``, as it did when its figures were first checked, so it is if
  anything lighter than the release;
- the discriminators are called separately on real and fake images, and the G loss is
  backpropagated into the internal discriminators' weights (nobody uses those gradients);
- one generator forward per iteration; the D loss is backpropagated every iteration into the
  internal discriminators (their optimizer holds the other copies, and its step is commented out);
  the G loss every ``num_iters``-th iteration, followed by the G Adam step.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

import genfer.models.cdan.networks as cdan_networks
from genfer.metrics.lpips import vgg16_features
from genfer.models.cdan import CDAN, CDANConfig
from genfer.models.cdan.networks import AttnBlock, Discriminator, Upsample

# the release's norm, then swish: replaces genfer's fused function for the whole process, which
# is why cdan_speed.py runs each implementation in its own subprocess
cdan_networks.group_norm_silu = lambda x, norm: F.silu(norm(x))


def _bmm_attention(self: AttnBlock, x: torch.Tensor) -> torch.Tensor:
    b, c, h, w = x.shape
    y = self.norm(x)
    q = self.q(y).reshape(b, c, h * w).permute(0, 2, 1)
    k = self.k(y).reshape(b, c, h * w)
    w_ = torch.softmax(torch.bmm(q, k) * (int(c) ** (-0.5)), dim=2)
    v = self.v(y).reshape(b, c, h * w)
    o = torch.bmm(v, w_.permute(0, 2, 1)).reshape(b, c, h, w)
    return x + self.proj_out(o)


class ReleasedCDAN(nn.Module):
    """The release's CDAN module set (``cdan.CDAN`` + the Solver's extra discriminator copies)."""

    def __init__(self, cfg: CDANConfig | None = None) -> None:
        super().__init__()
        cfg = cfg or CDANConfig()
        self.cfg = cfg
        self.net = CDAN(cfg)
        for m in self.net.modules():
            if isinstance(m, AttnBlock):
                m.forward = _bmm_attention.__get__(m)  # taming's attention, per instance
            if isinstance(m, Upsample):
                c = m.conv.in_channels
                m.conv1 = nn.ConvTranspose2d(c, c, 4, 2, 1, bias=False)  # built, never called
        w = cfg.dec_width
        self.net.mask_decoder.l1_up = Upsample(w)  # never called
        self.net.mask_decoder.l1_up.conv1 = nn.ConvTranspose2d(w, w, 4, 2, 1, bias=False)
        self.net.mask_decoder.color_out = nn.Sequential(nn.Conv2d(w // 4, 3, 3, 1, 1), nn.Tanh())  # never called
        self.lpips_vgg = vgg16_features()  # LPIPS's backbone: memory only (its loss is replaced by zero)
        self.solver_feature_dis = Discriminator("feature", cfg.image_size, 3, cfg.d_dim, cfg.d_layers)
        self.solver_au_dis = Discriminator("au", cfg.image_size, 3, cfg.d_dim, cfg.d_layers, 6)
        gen = [p for m in self.net.generator() for p in m.parameters()]
        self.opt_gen = torch.optim.Adam(gen, 2.25e-5, betas=(0.5, 0.999))
        solver_d = list(self.solver_feature_dis.parameters()) + list(self.solver_au_dis.parameters())
        self.opt_dis = torch.optim.Adam(solver_d, 2.25e-5, betas=(0.5, 0.999))  # never stepped

    def iteration(self, x: torch.Tensor, au: torch.Tensor, step: int, num_iters: int = 2) -> None:
        """One released training iteration on ``x`` [B, 3, S, S] in [0, 1] and ``au`` [B, 6] (/5)."""
        n = self.net
        out = n.parse(x)
        xrec, mask_input = out["xrec"], out["mask_input"]
        real, fake = n.feature_dis(x), n.feature_dis(xrec.detach())
        dis_loss = 0.1 * 0.5 * (F.relu(1 - real).mean() + F.relu(1 + fake).mean()) + F.mse_loss(n.au_dis(x), au)
        self.opt_dis.zero_grad()
        dis_loss.backward()  # into the internal discriminators; the optimizer holds the Solver's copies
        if step % num_iters == 0:
            lpips = torch.zeros((), device=x.device)  # the reference: LPIPS replaced by zero
            tv = ((mask_input[:, :, 1:] - mask_input[:, :, :-1]).pow(2).mean()
                  + (mask_input[..., 1:] - mask_input[..., :-1]).pow(2).mean()) / x.shape[0]
            gen_loss = (0.3 * (F.l1_loss(xrec, x) + lpips) + 0.3 * F.relu(1 - n.feature_dis(xrec)).mean()
                        + F.mse_loss(n.au_dis(mask_input), au) + 2e-5 * tv + 0.1 * mask_input.mean())
            self.opt_gen.zero_grad()
            gen_loss.backward()
            self.opt_gen.step()

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """The release's rec mode: the 5-tuple forward under no_grad, in eval mode."""
        self.net.eval()
        try:
            return self.net.parse(x)["xrec"]
        finally:
            self.net.train()
