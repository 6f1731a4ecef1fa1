"""A re-implementation of the *released* e8 compute pattern of the AU-conditioned GAN, for timing and loss checks.

Written from the spec in the project's reference notes (no code copied). It keeps what the release
does and genfer avoids, so both can be timed on the same machine and compared loss by loss:

- the critic step encodes and decodes G(x, a') itself, with its graph, and never detaches it: the
  critic loss is backpropagated into G's weights too (``retain_graph=True``), and those gradients
  are then cleared by the G optimizer's ``zero_grad``;
- the critic runs three separate passes (real, fake, interpolate), each through both heads;
- the generator step encodes x again and decodes G(x, a') a second time, then G(x, a);
- with ``keep_graphs`` the loss dictionaries keep their graphs alive until they are replaced (as
  the release's training loop holds them for logging), so the critic step's graph (which, with
  ``retain_graph=True``, still holds its buffers) lives on through the generator step. Off by
  default: a harness that calls the two step functions and drops their results, which is what
  the issue's reference figures match (peak RSS 2,981 MiB);
- ``nn.InstanceNorm2d`` and contiguous NCHW tensors.

Target AUs and the penalty's mixing weights are arguments, so a test can feed both
implementations the same draws. Sizes follow a genfer ``AUCycleGANConfig`` so it also runs at the
tiny test size; where the release hard-codes sizes for 112 px (output padding 1 on the skip layer,
a 7 x 7 injection tile) the map sizes are used, which gives the same numbers at 112 px.
``load_genfer`` copies a genfer method's weights in (parameter order is the same).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Conv2dBlock(nn.Module):
    def __init__(self, n_in, n_out, norm):
        super().__init__()
        norm_layer = nn.BatchNorm2d(n_out) if norm == "batchnorm" else nn.InstanceNorm2d(n_out, affine=True)
        self.layers = nn.Sequential(nn.Conv2d(n_in, n_out, 4, 2, 1, bias=False), norm_layer, nn.LeakyReLU())

    def forward(self, x):
        return self.layers(x)


class ConvTranspose2dBlock(nn.Module):
    def __init__(self, n_in, n_out, output_padding, last=False):
        super().__init__()
        if last:
            self.layers = nn.Sequential(
                nn.ConvTranspose2d(n_in, n_out, 4, 2, 1, output_padding=output_padding, bias=True), nn.Tanh()
            )
        else:
            self.layers = nn.Sequential(
                nn.ConvTranspose2d(n_in, n_out, 4, 2, 1, output_padding=output_padding, bias=False),
                nn.BatchNorm2d(n_out),
                nn.ReLU(),
            )

    def forward(self, x):
        return self.layers(x)


def _sizes(size, n):
    out = [size]
    for _ in range(n):
        out.append(out[-1] // 2)
    return out


class Generator(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        n, mx = cfg.n_layers, cfg.max_width
        self.n_aus = cfg.num_aus
        self.shortcut_layers = min(cfg.shortcut_layers, n - 1)
        self.inject_layers = min(cfg.inject_layers, n - 1)
        sizes = _sizes(cfg.image_size, n)
        layers, n_in = [], cfg.channels
        enc_w = []
        for i in range(n):
            n_out = min(cfg.g_dim * 2**i, mx)
            layers.append(Conv2dBlock(n_in, n_out, "batchnorm"))
            enc_w.append(n_out)
            n_in = n_out
        self.enc_layers = nn.ModuleList(layers)
        layers, n_in = [], n_in + cfg.num_aus
        for i in range(n):
            pad = sizes[n - 1 - i] - 2 * sizes[n - i]
            if i < n - 1:
                n_out = min(cfg.g_dim * 2 ** (n - i - 1), mx)
                layers.append(ConvTranspose2dBlock(n_in, n_out, pad))
                n_in = n_out
                if self.shortcut_layers > i:
                    n_in += enc_w[n - 2 - i]
                if self.inject_layers > i:
                    n_in += cfg.num_aus
            else:
                layers.append(ConvTranspose2dBlock(n_in, cfg.channels, pad, last=True))
        self.dec_layers = nn.ModuleList(layers)

    def encode(self, x):
        z, zs = x, []
        for layer in self.enc_layers:
            z = layer(z)
            zs.append(z)
        return zs

    def decode(self, zs, a):
        s = zs[-1].shape[-1]
        a_tile = a.view(a.size(0), -1, 1, 1).repeat(1, 1, s, s)
        z = torch.cat([zs[-1], a_tile], dim=1)
        for i, layer in enumerate(self.dec_layers):
            z = layer(z)
            if self.shortcut_layers > i:
                z = torch.cat([z, zs[len(self.dec_layers) - 2 - i]], dim=1)
            if self.inject_layers > i:
                s = z.shape[-1]
                a_tile = a.view(a.size(0), -1, 1, 1).repeat(1, 1, s, s)
                z = torch.cat([z, a_tile], dim=1)
        return z

    def forward(self, x, a):
        return self.decode(self.encode(x), a)


class Discriminator(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        n, mx = cfg.n_layers, cfg.max_width
        layers, n_in = [], cfg.channels
        for i in range(n):
            n_out = min(cfg.d_dim * 2**i, mx)
            layers.append(Conv2dBlock(n_in, n_out, "instancenorm"))
            n_in = n_out
        self.conv = nn.Sequential(*layers)
        flat = n_in * _sizes(cfg.image_size, n)[-1] ** 2
        self.fc_adv = nn.Sequential(nn.Sequential(nn.Linear(flat, cfg.d_fc_dim), nn.ReLU()),
                                    nn.Sequential(nn.Linear(cfg.d_fc_dim, 1)))
        self.fc_cls = nn.Sequential(nn.Sequential(nn.Linear(flat, cfg.d_fc_dim), nn.ReLU()),
                                    nn.Sequential(nn.Linear(cfg.d_fc_dim, cfg.num_aus)))

    def forward(self, x):
        h = self.conv(x)
        h = h.view(h.size(0), -1)
        return self.fc_adv(h), self.fc_cls(h)


class ReferenceAUCycleGAN(nn.Module):
    """The released WGAN-GP training pattern (``train_D_wasserstein_gp`` then ``train_G_wasserstein_gp``).

    Args:
        cfg: a genfer ``AUCycleGANConfig`` (architecture sizes, ``lambda_cl``, ``lambda_cyc``,
            ``d_g_ratio``; the penalty weight is the release's constant 10).
        lr: Adam learning rate.
        betas: Adam betas.
    """

    def __init__(
        self, cfg, lr: float = 2e-4, betas: tuple[float, float] = (0.5, 0.999), keep_graphs: bool = False
    ) -> None:
        super().__init__()
        self.cfg = cfg
        self.keep_graphs = keep_graphs
        self.g = Generator(cfg)
        self.d = Discriminator(cfg)
        self.g_optimizer = torch.optim.Adam(self.g.parameters(), lr, betas=betas)
        self.d_optimizer = torch.optim.Adam(self.d.parameters(), lr, betas=betas)
        self.d_loss_dict: dict | None = None
        self.g_loss_dict: dict | None = None

    def d_step(self, x_real, au, des_au, alpha) -> dict:
        for p in self.d.parameters():
            p.requires_grad = True
        b = x_real.shape[0]
        z = self.g.encode(x_real)
        fakes = self.g.decode(z, des_au)
        d_adv_true, d_reg_true = self.d(x_real)
        d_adv_fake, _ = self.d(fakes)
        x_gp = alpha * fakes + (1 - alpha) * x_real
        d_gp, _ = self.d(x_gp)
        grad = torch.autograd.grad(d_gp.sum(), x_gp, create_graph=True)
        grad_norm = grad[0].reshape(b, -1).norm(dim=1)
        d_cl_loss = F.binary_cross_entropy_with_logits(d_reg_true, au)
        d_adv_loss = -d_adv_true.mean() + d_adv_fake.mean()
        gp = ((grad_norm - 1) ** 2).mean()
        d_loss = d_adv_loss + self.cfg.lambda_cl * d_cl_loss + 10 * gp
        self.d_optimizer.zero_grad()
        d_loss.backward(retain_graph=True)
        self.d_optimizer.step()
        return {"d_adv_loss": d_adv_loss, "d_cl_loss": d_cl_loss, "gp": gp, "d_loss": d_loss}

    def g_step(self, x_real, au, des_au) -> dict:
        for p in self.d.parameters():
            p.requires_grad = False
        z = self.g.encode(x_real)
        fakes = self.g.decode(z, des_au)
        img_rec = self.g.decode(z, au)
        d_adv_fake, d_reg_fake = self.d(fakes)
        g_adv_loss = -d_adv_fake.mean()
        g_cl_loss = F.binary_cross_entropy_with_logits(d_reg_fake, des_au)
        rec_loss = F.l1_loss(img_rec, x_real)
        g_loss = g_adv_loss + self.cfg.lambda_cl * g_cl_loss + self.cfg.lambda_cyc * rec_loss
        self.g_optimizer.zero_grad()
        g_loss.backward()
        self.g_optimizer.step()
        return {"g_adv_loss": g_adv_loss, "g_cl_loss": g_cl_loss, "rec_loss": rec_loss, "g_loss": g_loss}

    def iteration(self, step: int, x_real, au, des_au, alpha) -> dict:
        """One training batch: critic step, then the generator step when ``step % d_g_ratio == 0``.

        With ``keep_graphs`` the dictionaries stay on ``self`` until the next iteration replaces
        them, as the release's loop holds them for logging; otherwise only detached values are kept.
        """
        d = self.d_step(x_real, au, des_au, alpha)
        self.d_loss_dict = d if self.keep_graphs else {k: v.detach() for k, v in d.items()}
        del d
        if step % self.cfg.d_g_ratio == 0:
            g = self.g_step(x_real, au, des_au)
            self.g_loss_dict = g if self.keep_graphs else {k: v.detach() for k, v in g.items()}
        return {**self.d_loss_dict, **(self.g_loss_dict or {})}

    def edit(self, x, a):
        """Inference as released: eval mode, no grad."""
        self.g.eval()
        with torch.no_grad():
            out = self.g(x, a)
        self.g.train()
        return out


def load_genfer(ref: ReferenceAUCycleGAN, method) -> None:
    """Copy a genfer ``AUCycleGAN``'s G and D weights (and BN buffers) into ``ref``, in parameter order."""
    for src, dst in ((method.G, ref.g), (method.D, ref.d)):
        s, d = src.state_dict(), dst.state_dict()
        if len(s) != len(d):
            raise ValueError(f"state dicts differ in length: {len(s)} vs {len(d)} (options the release lacks?)")
        new = {}
        for (ks, vs), (kd, vd) in zip(s.items(), d.items()):
            if vs.shape != vd.shape:
                raise ValueError(f"{ks} {tuple(vs.shape)} does not fit {kd} {tuple(vd.shape)}")
            new[kd] = vs.detach().clone().contiguous()
        dst.load_state_dict(new)
