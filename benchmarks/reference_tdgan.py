"""A re-implementation of the *released* TDGAN code's compute pattern, for timing and loss checks.

Written from the spec in the project's reference notes (no code copied). It keeps what the release
does and genfer avoids, so both can be timed on the same machine and compared loss by loss:

- encoders, heads and the decoder store every intermediate output on ``self`` and the decoder
  reads the encoder features from the encoder modules (stateful feature passing);
- every iteration starts with real x_f through D_FR and real x_e through D_ER, graph kept, even
  when neither discriminator is updated;
- generating x_hat also runs M_ER's head, and M_ER's loss is backpropagated through E_e with
  ``retain_graph`` (the E_e gradient is then discarded by the G optimizer's ``zero_grad``);
- the G loss is backpropagated into the discriminators' weights too (those gradients are cleared
  before the next D update);
- each consistency generation is a separate ``gen_img`` call (two encoders, M_ER head, decoder);
- ``nn.InstanceNorm2d`` on contiguous NCHW tensors.

Sizes follow a genfer ``TDGANConfig`` so the reference also runs at the tiny test size. Parameter
names are the release's, so ``genfer.models.tdgan.released.released_state_dicts`` loads genfer
weights into it. Expression labels are whatever the caller uses (no reordering here).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class BasicConv2d_Ins(nn.Module):
    def __init__(self, cin, cout, k):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, 1, k // 2, bias=False)
        self.bn = nn.InstanceNorm2d(cout, eps=0.001, momentum=0.1, affine=True)
        self.relu = nn.ReLU(inplace=False)

    def forward(self, x):
        return self.relu(self.bn(self.conv(x)))


class Block32(nn.Module):
    def __init__(self, ch, w, scale):
        super().__init__()
        self.scale = scale
        self.branch0 = nn.Sequential(BasicConv2d_Ins(ch, w, 1))
        self.branch1 = nn.Sequential(BasicConv2d_Ins(ch, w, 1), BasicConv2d_Ins(w, w, 3))
        self.branch2 = nn.Sequential(BasicConv2d_Ins(ch, w, 1), BasicConv2d_Ins(w, w, 3), BasicConv2d_Ins(w, w, 3))
        self.conv2d = nn.Conv2d(3 * w, ch, 1, 1)
        self.relu = nn.ReLU(inplace=False)

    def forward(self, x):
        out = torch.cat((self.branch0(x), self.branch1(x), self.branch2(x)), 1)
        return self.relu(self.conv2d(out) * self.scale + x)


class Encoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        w = cfg.enc_widths
        self.maxpool = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv1 = nn.Sequential(BasicConv2d_Ins(cfg.channels, w[0], 5))
        self.conv2 = nn.Sequential(BasicConv2d_Ins(w[0], w[1], 5))
        self.repeat = nn.Sequential(*[Block32(w[1], cfg.inception_width, 0.17) for _ in range(cfg.n_inception)])
        self.conv3 = nn.Sequential(BasicConv2d_Ins(w[1], w[2], 5))
        self.conv4 = nn.Sequential(BasicConv2d_Ins(w[2], w[3], 5))

    def forward(self, x_in):
        # the release keeps every stage on the module
        self.conv1_out = self.conv1(x_in)
        self.ds1_out = self.maxpool(self.conv1_out)
        self.conv2_out = self.conv2(self.ds1_out)
        self.ds2_out = self.maxpool(self.conv2_out)
        self.incep_out = self.repeat(self.ds2_out)
        self.conv3_out = self.conv3(self.incep_out)
        self.ds3_out = self.maxpool(self.conv3_out)
        self.conv4_out = self.conv4(self.ds3_out)
        self.ds4_out = self.maxpool(self.conv4_out)
        return self.ds4_out


class FcLayer(nn.Module):
    def __init__(self, cfg, cls_num):
        super().__init__()
        flat = cfg.enc_widths[3] * cfg.feature_size**2
        self.act = nn.ReLU()
        self.fc1 = nn.Linear(flat, cfg.fc_width)
        self.fc2 = nn.Linear(cfg.fc_width, cfg.fc_width)
        self.fc3 = nn.Linear(cfg.fc_width, cls_num)
        self.dropout = nn.Dropout(p=cfg.dropout)
        for m in (self.fc1, self.fc2, self.fc3):
            m.weight.data.normal_(0, 0.02)
            m.bias.data.fill_(0)

    def forward(self, fea):
        self.fc1_out = self.act(self.fc1(self.dropout(fea.view(fea.size(0), -1))))
        self.fc2_out = self.act(self.fc2(self.dropout(self.fc1_out)))
        self.fc3_out = self.fc3(self.fc2_out)
        return self.fc3_out


class ResBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.infer = nn.Sequential(nn.Conv2d(c, c, 3, 1, 1), nn.ReLU())

    def forward(self, x):
        self.res_out = x + self.infer(x)
        return self.res_out


class Decoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.Nz = cfg.noise_dim
        self.side = cfg.feature_size
        nc, up = cfg.dec_width, cfg.dec_up_widths
        self.emb1 = nn.Sequential(nn.Conv2d(2 * cfg.enc_widths[3] + self.Nz, nc, 3, 1, 1), nn.ReLU())
        self.emb2 = nn.Sequential(*[ResBlock(nc) for _ in range(cfg.n_res_blocks)])
        chans = (nc, *up)
        for i in range(4):
            setattr(self, f"us{i + 1}", nn.Sequential(
                nn.ConvTranspose2d(chans[i], chans[i + 1], 4, 2, 1, bias=False),
                nn.InstanceNorm2d(chans[i + 1]),
                nn.ReLU(True),
            ))
        self.us5 = nn.Sequential(nn.ConvTranspose2d(up[3], cfg.channels, 3, 1, 1, bias=False), nn.Sigmoid())
        for m in self.modules():  # DCGAN init on conv weights only
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                m.weight.data.normal_(0.0, 0.02)

    def forward(self, enc_FR, enc_ER, noise=None):
        fea_ER = enc_ER.ds4_out  # read from the encoder modules, as released
        fea_FR = enc_FR.ds4_out
        if noise is None:
            noise = torch.rand(fea_ER.shape[0], self.Nz, self.side, self.side)
        emb_in = torch.cat((fea_ER, fea_FR), 1) if self.Nz == 0 else torch.cat((fea_ER, fea_FR, noise), 1)
        self.emb1_out = self.emb1(emb_in)
        self.emb2_out = self.emb2(self.emb1_out)
        self.us1_out = self.us1(self.emb2_out)
        self.us2_out = self.us2(self.us1_out)
        self.us3_out = self.us3(self.us2_out)
        self.us4_out = self.us4(self.us3_out)
        self.img = self.us5(self.us4_out)
        return self.img


class Dis(nn.Module):
    def __init__(self, cfg, cls_num):
        super().__init__()
        self.enc = Encoder(cfg)
        self.fc = FcLayer(cfg, cls_num)

    def forward(self, x):
        self.fea = self.enc(x)
        self.result = self.fc(self.fea)
        return self.fea, self.result


class Gen(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.enc_FR = Encoder(cfg)
        self.enc_ER = Encoder(cfg)
        self.fc_ER = FcLayer(cfg, cfg.num_classes)
        self.dec = Decoder(cfg)

    def gen_img(self, x_FR, x_ER):
        self.fea_FR = self.enc_FR(x_FR)
        self.fea_ER = self.enc_ER(x_ER)
        self.result_ER = self.fc_ER(self.fea_ER)
        self.img = self.dec(enc_FR=self.enc_FR, enc_ER=self.enc_ER)
        return self.img


class ReferenceTDGAN:
    """The released trainer's networks, optimizers and iteration, sized by a ``TDGANConfig``."""

    def __init__(self, cfg, lr=1e-4):
        self.cfg = cfg
        self.Gen = Gen(cfg)
        self.Dis_FR = Dis(cfg, cfg.num_identities + 1)
        self.Dis_ER = Dis(cfg, cfg.num_classes)
        self.optG_joint = torch.optim.Adam([
            {"params": self.Gen.dec.parameters(), "lr": lr},
            {"params": self.Gen.enc_FR.parameters(), "lr": lr},
            {"params": self.Gen.enc_ER.parameters(), "lr": lr},
        ])
        self.optG_ER_fc = torch.optim.Adam([{"params": self.Gen.fc_ER.parameters(), "lr": lr}])
        self.optD_FR = torch.optim.Adam([{"params": self.Dis_FR.parameters(), "lr": lr}])
        self.optD_ER = torch.optim.Adam([{"params": self.Dis_ER.parameters(), "lr": lr}])

    def load_genfer(self, method):
        """Copy a genfer TDGAN's weights (same config) into this reference."""
        from genfer.models.tdgan.released import released_state_dicts

        sds = released_state_dicts(method)
        self.Gen.enc_FR.load_state_dict(sds["enc_FR"])
        self.Gen.enc_ER.load_state_dict(sds["enc_ER"])
        self.Gen.fc_ER.load_state_dict(sds["fc_ER"])
        self.Gen.dec.load_state_dict(sds["dec"])
        self.Dis_FR.load_state_dict(sds["dis_FR"])
        self.Dis_ER.load_state_dict(sds["dis_ER"])

    def train(self):
        self.Gen.train()
        self.Dis_FR.train()
        self.Dis_ER.train()

    def iteration(self, step, x_f, id_f, x_e, y_e):
        """One released training iteration on float [0, 1] images; returns the loss values."""
        c = self.cfg
        Gen, Dis_FR, Dis_ER = self.Gen, self.Dis_FR, self.Dis_ER
        out = {}
        y_fake = c.num_identities * torch.ones(len(id_f)).long()

        # real images through both discriminators, every iteration, graph kept
        fea_FR_r, p_FR_r = Dis_FR(x_f)
        fea_FR_r = fea_FR_r.data
        fea_ER_r, p_ER_r = Dis_ER(x_e)
        loss_D_FR_r = F.cross_entropy(p_FR_r, id_f)
        loss_D_ER_r = F.cross_entropy(p_ER_r, y_e)

        x_hat = Gen.gen_img(x_f, x_e)
        fea_ER_G_r = Gen.fea_ER.data

        # M_ER: backward through the head and E_e, step the head only
        self.optG_ER_fc.zero_grad()
        err_M = F.cross_entropy(Gen.result_ER, y_e)
        err_M.backward(retain_graph=True)
        self.optG_ER_fc.step()
        out["m_er_ce"] = err_M.item()

        self.optD_FR.zero_grad()
        self.optD_ER.zero_grad()
        if step % c.d_fr_every == 0:
            _, p_FR_f = Dis_FR(x_hat.detach())
            loss_D_FR_f = F.cross_entropy(p_FR_f, y_fake)
            loss_D_FR = c.lambda_d_face_real * loss_D_FR_r + c.lambda_d_face_fake * loss_D_FR_f
            loss_D_FR.backward()
            self.optD_FR.step()
            out.update(d_face_real=loss_D_FR_r.item(), d_face_fake=loss_D_FR_f.item(), D_FR=loss_D_FR.item())
        if step % c.d_er_every == 0:
            loss_D_ER = c.lambda_d_expr_real * loss_D_ER_r
            loss_D_ER.backward()
            self.optD_ER.step()
            out.update(d_expr_real=loss_D_ER_r.item(), D_ER=loss_D_ER.item())

        self.optG_joint.zero_grad()
        fea_FR_f, p_FR_f = Dis_FR(x_hat)
        _, p_ER_f = Dis_ER(x_hat)
        err_adv_face = F.cross_entropy(p_FR_f, id_f)
        err_adv_expr = F.cross_entropy(p_ER_f, y_e)
        err_per_face = F.mse_loss(fea_FR_f, fea_FR_r)
        x_rec_face = Gen.gen_img(x_hat, x_f)
        x_rec_expr = Gen.gen_img(x_e, x_hat)
        err_per_expr = F.mse_loss(Gen.fea_ER.data, fea_ER_G_r)  # detached on both sides, as released
        err_dic_face = F.l1_loss(x_rec_face, x_f)
        err_dic_expr = F.l1_loss(x_rec_expr, x_e)
        loss_G = (
            c.lambda_g_face * err_adv_face
            + c.lambda_g_expr * err_adv_expr
            + c.lambda_per_face * err_per_face
            + c.lambda_per_expr * err_per_expr
            + c.lambda_dic_face * err_dic_face
            + c.lambda_dic_expr * err_dic_expr
        )
        loss_G.backward()
        self.optG_joint.step()
        out.update(
            g_adv_face=err_adv_face.item(),
            g_adv_expr=err_adv_expr.item(),
            g_per_face=err_per_face.item(),
            g_per_expr=err_per_expr.item(),
            g_dic_face=err_dic_face.item(),
            g_dic_expr=err_dic_expr.item(),
            G=loss_G.item(),
        )
        return out

    @torch.no_grad()
    def transfer(self, x_f, x_e):
        """The release's demo: ``Gen.eval()`` and ``gen_img`` under ``no_grad``."""
        self.Gen.eval()
        return self.Gen.gen_img(x_f, x_e)

    @torch.no_grad()
    def classify(self, x):
        """M_ER in eval mode under ``no_grad`` (the release's ``Dis_ER_val``)."""
        self.Gen.eval()
        return self.Gen.fc_ER(self.Gen.enc_ER(x))
