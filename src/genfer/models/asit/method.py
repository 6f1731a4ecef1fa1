"""ASIT (Adversarial Style Inversion Transformer, IFER's inversion stage) on the genfer engine.

A GC ViT encoder maps a face in [-1, 1] to ``n_styles`` W+ codes (offset by the decoder's
``latent_avg``) and a 4x4 structure code that replaces the frozen StyleGAN2's constant input.
Each iteration runs two phases, in the release's order:

- ``D``: the key net takes its EMA step (``k <- 0.999 k + 0.001 q``), then the cosine critic is
  trained with LSGAN targets: ``MSE(D(x, x), 1) + MSE(D(x_hat, x), -1)``;
- ``E``: ``l2 MSE(x_hat, x) + lpips LPIPS-Alex + id (1 - <phi(x_hat), phi(x)>) + adv MSE(D(x_hat, x), 1)
  + dist L_dist`` (see :mod:`genfer.losses.distribution`). As in the release's ``coach``, L_dist
  aligns the similarity structure of the encoder's three auxiliary maps (``convs``: 1x1 convs +
  LeakyReLU on c1, c2, c3; the target, with gradient) with that of the decoder's 64/32/16-px
  features for random z (the source, without gradient).

Deviations from the release (``faithful=True`` restores the ones that change results):

- the encoder's batch-coupled global queries are fixed (``faithful``: coupled, see
  :mod:`genfer.models.layers.gcvit`);
- the adversarial term reaches the encoder (the release computes it under ``no_grad``;
  ``faithful``: not computed, as it has no effect);
- the distribution-alignment loss compares each anchor with every other sample of the batch
  (``faithful``: the release's batch-2 indexing);
- the key net takes one EMA step per iteration in the ``D`` phase (the release: one per critic
  call, three per iteration, even in eval mode); its embedding of ``x`` is computed once and
  reused by both phases;
- ``x_hat`` is decoded once per iteration (encoder in training mode) and used by both phases; the
  release decodes it twice (in eval mode, without gradient, for the critic step);
- the frozen decoder, LPIPS and identity nets get no weight gradients (the release computes them
  and never uses them); the identity net embeds ``x`` once (the release three times);
- no horizontal flip augmentation in the presets (``data.augment`` is genfer's crop-and-flip).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genfer.core.errors import GenferError
from genfer.core.registry import METHODS
from genfer.losses.distribution import distribution_alignment
from genfer.models.asit.config import ASITConfig
from genfer.models.asit.networks import ASITEncoder, InversionCritic
from genfer.models.asit.release import read_release
from genfer.models.base import LossOut, Method, frozen
from genfer.models.stylegan2.networks import Generator

log = logging.getLogger(__name__)


@METHODS.register("asit")
class ASIT(Method):
    """GAN inversion into a frozen StyleGAN2; a ``Reconstructor`` and an ``Inverter``."""

    Config = ASITConfig
    data_kind = "unlabelled"
    best_metric = "mse"
    best_mode = "min"

    def __init__(self, cfg: ASITConfig | None = None) -> None:
        cfg = cfg if cfg is not None else ASITConfig()
        super().__init__(cfg)
        self.encoder = ASITEncoder(**cfg.encoder_kwargs())
        self.decoder = Generator(cfg.image_size, cfg.style_dim, cfg.dec_n_mlp, cfg.dec_channel_multiplier,
                                 channel_max=cfg.dec_channel_max)
        self.decoder.requires_grad_(False)  # frozen from the start: no weight gradients, whoever trains it
        if self.decoder.n_latent != cfg.n_styles or self.decoder.channels[4] != cfg.struct_channels:
            raise GenferError(f"the encoder gives {cfg.n_styles} codes and a {cfg.struct_channels}-channel structure "
                              f"code, the {cfg.image_size}-px decoder takes {self.decoder.n_latent} and "
                              f"{self.decoder.channels[4]}", path="model.n_styles / model.struct_channels",
                              fix="set them to the decoder's")
        self.critic = InversionCritic(cfg.image_size, cfg.critic_embed, cfg.critic_momentum,
                                      cfg.critic_channel_multiplier, cfg.critic_channel_max)
        self.register_buffer("latent_avg", torch.zeros(cfg.style_dim), persistent=False)
        self.latent_avg_source = "unset"
        self.lpips: nn.Module | None = None
        self.idnet: nn.Module | None = None

    # --- frozen parts -------------------------------------------------------------------------
    def frozen_modules(self) -> dict[str, nn.Module]:
        mods: dict[str, nn.Module] = {"decoder": self.decoder}
        if self.lpips is not None:
            mods["lpips"] = self.lpips
        if self.idnet is not None:
            mods["idnet"] = self.idnet
        return mods

    @torch.no_grad()
    def load_pretrained(self) -> None:
        """The decoder and ``latent_avg`` from ``model.decoder``; LPIPS and the identity net when weighted."""
        cfg, dev = self.cfg, self.device
        avg = self._load_decoder()
        if avg is None:
            g = torch.Generator(device="cpu").manual_seed(1)
            z = torch.randn(cfg.latent_avg_samples, cfg.style_dim, generator=g).to(dev)
            avg = torch.cat([self.decoder.style(c) for c in z.split(4096)]).mean(0)
            self.latent_avg_source = f"computed from {cfg.latent_avg_samples} mapped z"
            log.info("asit: latent_avg %s", self.latent_avg_source)
        self.latent_avg.copy_(avg.reshape(-1, cfg.style_dim)[0].to(dev))
        self.decoder.requires_grad_(False).eval()
        if cfg.lpips_lambda > 0 and self.lpips is None:
            from genfer.metrics.lpips import load_lpips

            self.lpips = load_lpips("alex", cfg.lpips_backbone or None, cfg.lpips_heads or None).to(dev)
        if cfg.id_lambda > 0 and self.idnet is None:
            self.idnet = _identity_net(cfg).to(dev)

    def _load_decoder(self) -> Tensor | None:
        """Fill the decoder from ``model.decoder``; its ``latent_avg`` if the file has one."""
        from genfer.models.stylegan2.rosinality import load_state_strict, read_checkpoint

        path = self.cfg.decoder
        if not path:  # untrained but reproducible: a checkpoint reloads the same decoder
            c = self.cfg
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                fresh = Generator(c.image_size, c.style_dim, c.dec_n_mlp, c.dec_channel_multiplier,
                                  channel_max=c.dec_channel_max)
            self.decoder.load_state_dict(fresh.state_dict())
            self.latent_avg_source = "untrained decoder"
            return None
        dec, avg = _genfer_generator(Path(path))
        if not dec:
            try:  # a released ASIT checkpoint: {state_dict: {encoder.*, decoder.*}, opts, latent_avg}
                sd, avg, _ = read_release(path)
                dec = {k.removeprefix("decoder."): v for k, v in sd.items() if k.startswith("decoder.")}
            except GenferError:
                dec = {}
        if not dec:  # a rosinality StyleGAN2 checkpoint
            obj = read_checkpoint(path)
            dec, avg = obj.get("g_ema") or obj.get("g"), obj.get("latent_avg")
            if dec is None:
                raise GenferError("holds neither an ASIT decoder (decoder.*) nor a StyleGAN2 g_ema/g", path=path)
        try:
            load_state_strict(self.decoder, dec, "decoder", path)
        except GenferError as e:
            raise GenferError(f"its decoder does not match this ASIT's ({e.message})", path=path,
                              fix="set model.image_size / style_dim / dec_* to the decoder's, or use the decoder "
                                  "the encoder was trained with") from None
        if avg is not None:
            self.latent_avg_source = f"from {path}"
        return avg

    # --- training -----------------------------------------------------------------------------
    def to_input(self, images: Tensor) -> Tensor:
        return images.float().div_(127.5).sub_(1.0)

    def groups(self) -> dict[str, list[nn.Module]]:
        return {"E": [self.encoder], "D": [self.critic.model_q]}

    def phases(self, step: int) -> list[str]:
        return ["D", "E"] if self.cfg.adv_lambda > 0 else ["E"]

    def decode(self, codes: Tensor, structure: Tensor | None, randomize_noise: bool = False,
               features: bool = False) -> tuple[Tensor, list[Tensor] | None]:
        """Raw codes ``[B, n, D]`` (before ``latent_avg``) and structure -> image ``[B, 3, R, R]`` in ~[-1, 1]."""
        out = self.decoder([codes + self.latent_avg], constant=structure, input_is_latent=True,
                           randomize_noise=randomize_noise, return_features=features)
        return out[0], (out[2] if features else None)

    def _reconstruct(self, x: Tensor, cache: dict[str, Any]) -> Tensor:
        if "x_hat" not in cache:
            if self.cfg.dist_lambda > 0:  # the encoder's auxiliary maps are the alignment's target
                codes, structure, cache["feats"] = self.encoder(x, feats=True)
            else:
                codes, structure = self.encoder(x)
            cache["x_hat"], _ = self.decode(codes, structure if self.cfg.use_struct else None,
                                            self.cfg.randomize_noise)
        return cache["x_hat"]

    def _keys(self, x: Tensor, cache: dict[str, Any]) -> Tensor:
        if "keys" not in cache:
            cache["keys"] = self.critic.keys(x)
        return cache["keys"]

    def training_step(self, batch: dict[str, Tensor], phase: str, cache: dict[str, Any]) -> LossOut:
        cfg = self.cfg
        x = self.prepare(batch)["image"]
        x_hat = self._reconstruct(x, cache)
        if phase == "D":
            self.critic.update_key()
            keys = self._keys(x, cache)
            out = self.critic.score(torch.cat([x, x_hat.detach()]), keys.repeat(2, 1))
            real, fake = out.chunk(2)
            loss_r, loss_f = F.mse_loss(real, torch.ones_like(real)), F.mse_loss(fake, -torch.ones_like(fake))
            return LossOut(loss_r + loss_f, {"d_real": loss_r.detach(), "d_fake": loss_f.detach()})
        terms: dict[str, Tensor] = {}
        loss = x.new_zeros(())
        if cfg.l2_lambda > 0:
            terms["l2"] = F.mse_loss(x_hat, x)
            loss = loss + cfg.l2_lambda * terms["l2"]
        if cfg.lpips_lambda > 0:
            terms["lpips"] = self.lpips(x_hat, x).mean()
            loss = loss + cfg.lpips_lambda * terms["lpips"]
        if cfg.id_lambda > 0:
            terms["id"] = self._identity(x_hat, x)
            loss = loss + cfg.id_lambda * terms["id"]
        if cfg.adv_lambda > 0 and not cfg.faithful:
            with frozen(self.critic.model_q):
                score = self.critic.score(x_hat, self._keys(x, cache))
            terms["adv"] = F.mse_loss(score, torch.ones_like(score))
            loss = loss + cfg.adv_lambda * terms["adv"]
        if cfg.dist_lambda > 0:
            with torch.no_grad():
                z = torch.randn(x.shape[0], cfg.style_dim, device=x.device)
                src = self.decoder.features([z], randomize_noise=cfg.randomize_noise)
            n = min(len(src), len(cache["feats"]))
            terms["dist"] = distribution_alignment(src[:n], cache["feats"][:n], faithful=cfg.faithful)
            loss = loss + cfg.dist_lambda * terms["dist"]
        return LossOut(loss, {k: v.detach() for k, v in terms.items()})

    def _identity(self, x_hat: Tensor, x: Tensor) -> Tensor:
        """``1 - <phi(x_hat), phi(x)>`` averaged over the batch (``phi(x)`` without gradient)."""
        if self.cfg.id_net == "ir_se50":
            from genfer.models.pretrained.ir_se50 import asit_crop

            with torch.no_grad():
                e_x = self.idnet(asit_crop(x))
            e_y = self.idnet(asit_crop(x_hat))
        else:  # face_api descriptors are not unit vectors: compare directions
            with torch.no_grad():
                e_x = F.normalize(self.idnet.describe((x + 1) / 2), dim=1)
            e_y = F.normalize(self.idnet.describe(((x_hat + 1) / 2).clamp(0, 1)), dim=1)
        return (1 - (e_y * e_x).sum(1)).mean()

    # --- capabilities -------------------------------------------------------------------------
    def _images(self, x: Tensor) -> Tensor:
        x = x.to(self.device)
        x = self.to_input(x) if x.dtype == torch.uint8 else x.float() * 2 - 1
        if x.shape[-2:] != (self.cfg.image_size, self.cfg.image_size):
            raise GenferError(f"ASIT takes {self.cfg.image_size}x{self.cfg.image_size} faces (its GC ViT levels are "
                              f"fixed at image_size/4../32), got {tuple(x.shape[-2:])}", fix="resize the faces")
        return x

    def invert(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Faces ``[B, 3, R, R]`` (uint8 or [0, 1]) -> ``(w [B, n_styles, style_dim], structure [B, C, 4, 4])``.

        ``w`` includes ``latent_avg`` (the W+ the decoder takes).
        """
        was = self.training
        self.eval()
        try:
            with torch.inference_mode():
                codes, structure = self.encoder(self._images(x))
                return codes + self.latent_avg, structure
        finally:
            self.train(was)

    def generate(self, codes: Tensor | tuple[Tensor, Tensor | None]) -> Tensor:
        """``w`` or ``(w, structure)`` (structure None = the learnt constant) -> images ``[B, 3, R, R]`` in [0, 1]."""
        w, structure = codes if isinstance(codes, tuple) else (codes, None)
        with torch.inference_mode():
            const = None if structure is None else structure.to(self.device)
            img, _ = self.decoder([w.to(self.device)], constant=const, input_is_latent=True, randomize_noise=False)
        return ((img + 1) / 2).clamp(0, 1)

    def reconstruct(self, x: Tensor, use_struct: bool | None = None) -> Tensor:
        """Faces -> their ASIT reconstructions in [0, 1] (``use_struct``: None = the config's)."""
        w, s = self.invert(x)
        return self.generate((w, s if (self.cfg.use_struct if use_struct is None else use_struct) else None))

    @torch.no_grad()
    def evaluate(self, batches: Iterable[dict[str, Tensor]]) -> dict[str, Any]:
        """MSE on [-1, 1] (the release's L2) and, when LPIPS is loaded, LPIPS-Alex, over held-out faces."""
        se, lp, n = 0.0, 0.0, 0
        for b in batches:
            unit = _unit(b["image"])
            x = self._images(unit)
            y = self.reconstruct(unit) * 2 - 1
            se += float(((y - x) ** 2).mean((1, 2, 3)).sum())
            if self.lpips is not None:
                lp += float(self.lpips(y, x).sum())
            n += x.shape[0]
        out = {"mse": se / max(n, 1)}
        if self.lpips is not None:
            out["lpips"] = lp / max(n, 1)
        return out

    @torch.no_grad()
    def samples(self, batch: dict[str, Tensor]) -> tuple[Tensor, int]:
        unit = _unit(batch["image"][:8])
        return torch.stack((unit.cpu(), self.reconstruct(unit).cpu()), 1).flatten(0, 1), 2


def _unit(x: Tensor) -> Tensor:
    """Batch images to [0, 1]: uint8, or the engine's prepared batches (``to_input``: [-1, 1])."""
    return x.float() / 255 if x.dtype == torch.uint8 else (x.float() + 1) / 2


def _genfer_generator(path: Path) -> tuple[dict[str, Tensor], Tensor | None]:
    """The generator (``G.*``, EMA weights where kept) and ``latent_avg`` of a genfer StyleGAN2 run or checkpoint.

    ``path``: a run directory (its ``best``, else ``latest`` checkpoint) or a checkpoint directory;
    ``({}, None)`` when it is neither.
    """
    from safetensors.torch import load_file

    ckpt = path
    for name in ("best", "latest"):
        ptr = path / "checkpoints" / name
        if ptr.is_file():
            ckpt = path / "checkpoints" / ptr.read_text().strip()
            break
    if not (ckpt / "model.safetensors").is_file():
        return {}, None
    sd = load_file(str(ckpt / "model.safetensors"))
    if (ckpt / "ema.safetensors").is_file():
        sd.update(load_file(str(ckpt / "ema.safetensors")))
    gen = {k.removeprefix("G."): v for k, v in sd.items() if k.startswith("G.")}
    avg = sd.get("latent_avg")
    if avg is not None and not bool(avg.abs().sum() > 0):  # a run that has not computed it yet stores zeros
        avg = None
    return gen, avg


def _identity_net(cfg: ASITConfig) -> nn.Module:
    if cfg.id_net == "ir_se50":
        from genfer.models.pretrained.ir_se50 import load_ir_se50

        return load_ir_se50(cfg.id_weights or None)
    from genfer.models.pretrained.face_api.loading import load_net

    try:
        return load_net("recognition", cfg.id_weights or None)
    except FileNotFoundError as e:
        raise GenferError(f"face_api descriptor weights missing ({e})", path="model.id_net=face_api",
                          fix="`genfer weights fetch faceapi`, or model.id_lambda=0") from None


__all__ = ["ASIT"]
