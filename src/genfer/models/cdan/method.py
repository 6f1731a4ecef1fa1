"""CDAN: Codec Dual-Output Adversarial Network with Spatial Extend Attention (ZackyCaleb/CDAN @ 657987c).

Seed: "Self-Supervised Facial Expression Parsing: Unveiling Global Patterns through Facial Action
Units". An encoder maps a face x (RGB, [0, 1]) to ``h = quant_conv(E(x))``; a colour decoder gives
``Cm = Dec1(post_quant_conv(h))`` (tanh) and a mask decoder with SEA gives ``M = Dec2(h)``
(sigmoid); the reconstruction is ``x_hat = M * x + (1 - M) * Cm``. The only supervision is six
OpenFace AU intensities (AU01, 04, 06, 12, 15, 25; ``au`` = intensity / 5): an AU regressor A
must read them from ``M * x``, so the mask keeps where the AUs live. A hinge feature
discriminator D judges x_hat. One generator forward per iteration (``cache``) serves both phases:

- D (every iteration): 0.1 * 1/2 [mean relu(1 - D(x)) + mean relu(1 + D(x_hat))] + 1 * MSE(A(x), au)
- G (every ``g_every``-th): 0.3 * [L1(x_hat, x) + LPIPS_VGG(x, x_hat)] + 0.3 * mean relu(1 - D(x_hat))
  + 1 * MSE(A(M x), au) + 2e-5 * TV(M x) + 0.1 * mean(M x)

Deliberate deviations from the released code (see docs/methods/cdan.md):

- The discriminators train. The release's ``Solver`` built its own copies of both and gave those
  to the optimizers, while the losses used CDAN's internal ones, so D and A stayed at their random
  initialisation. ``faithful: true`` reproduces that (no D phase; D and A frozen).
- LPIPS is given its own [-1, 1] range; the release passed [0, 1] images (``faithful`` restores
  that). Its weights are user-supplied (genfer's LPIPS-VGG, or the copy inside a released
  ``CDAN.pth``); a preset may set ``lpips_weight: 0``.
- The unused layers of the release (a transposed conv in every ``Upsample``, ``decoder2.l1_up``,
  ``decoder2.color_out``: 15,208,323 parameters) are not built; ``released.convert`` drops their keys.
- The discriminators return ``[B]`` / ``[B, 6]`` for every batch size (the release's ``squeeze``
  gave a 0-d tensor and ``[6]`` for a batch of one), and average over positions at sizes other
  than 112 (one position at 112, as released).
- Attention in the encoder sits at the bottleneck level at every image size (the release's
  ``attn_resolutions=[14]`` only matches at 112 px), and any multiple of 56 px works.
- ``au_fill: mean`` (off by default) lets A read M x + (1 - M) mean(x) instead of M x: A, trained on
  whole faces, reads a blacked-out AU region as that AU, which pays G to erase where AUs act
  (measured: benchmarks/RESULTS.md, "Why the mask is inverted").
- ``au_warmup_steps`` (0 by default) starts training with iterations in which only A trains, on
  real faces: at the start A reads nothing, so the AU term cannot steer M (measured: RESULTS.md).
- Convolutions run on channels-last activations (``channels_last``, on by default): the same
  function up to float rounding; on CPU, reconstruction 1.1-1.3x faster, training unchanged.
- TV(M x) follows the release's formula: mean squared vertical plus mean squared horizontal
  neighbour difference, divided by the batch size.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genfer.core.registry import METHODS
from genfer.data.aus import AU_MAX, au_index
from genfer.metrics.quality import psnr
from genfer.models.base import LossOut, Method, frozen
from genfer.models.cdan.config import CDAN_AUS, CDANConfig
from genfer.models.cdan.networks import ColourDecoder, Discriminator, Encoder, MaskDecoder

CDAN_AU_INDEX: tuple[int, ...] = tuple(au_index(a) for a in CDAN_AUS)
"""Positions of CDAN's six AUs in genfer's 17-AU vector (``AU_NAMES`` order)."""


def cdan_tv(x: Tensor) -> Tensor:
    """The release's total variation: (mean (dy)^2 + mean (dx)^2) / B for ``x`` [B, C, H, W]."""
    dy = (x[:, :, 1:, :] - x[:, :, :-1, :]).square().mean()
    dx = (x[:, :, :, 1:] - x[:, :, :, :-1]).square().mean()
    return (dy + dx) / x.shape[0]


@METHODS.register("cdan")
class CDAN(Method):
    """Encoder, colour and mask decoders, feature and AU discriminators; a ``Reconstructor``.

    Training batches (``data_kind = "aus"``) need ``image`` [B, 3, H, W] uint8 and ``aus`` float
    [B, 17] (0..5, ``AU_NAMES`` order); CDAN uses AU01, 04, 06, 12, 15 and 25.

    Args:
        cfg: hyper-parameters; ``None`` gives the released defaults.
    """

    Config = CDANConfig
    data_kind = "aus"
    best_metric = "rec_l1"
    best_mode = "min"

    def __init__(self, cfg: CDANConfig | None = None) -> None:
        cfg = cfg if cfg is not None else CDANConfig()
        super().__init__(cfg)
        levels = len(cfg.ch_mult)
        self.encoder = Encoder(cfg.channels, cfg.ch, cfg.ch_mult, cfg.num_res_blocks, cfg.z_channels,
                               attn_levels=(levels - 1,))
        self.quant_conv = nn.Conv2d(cfg.z_channels, cfg.z_channels, 1)
        self.post_quant_conv = nn.Conv2d(cfg.z_channels, cfg.z_channels, 1)
        self.colour_decoder = ColourDecoder(cfg.z_channels, cfg.dec_width, cfg.channels)
        self.mask_decoder = MaskDecoder(cfg.z_channels, cfg.dec_width)
        self.feature_dis = Discriminator("feature", cfg.image_size, cfg.channels, cfg.d_dim, cfg.d_layers)
        self.au_dis = Discriminator("au", cfg.image_size, cfg.channels, cfg.d_dim, cfg.d_layers, len(CDAN_AUS))
        if cfg.faithful:
            self.feature_dis.requires_grad_(False)
            self.au_dis.requires_grad_(False)
        self.lpips: nn.Module | None = None
        self._lpips_error: Exception | None = None

    # --- networks ---------------------------------------------------------------------------
    def generator(self) -> list[nn.Module]:
        """The generator's networks (one Adam, as released)."""
        return [self.encoder, self.quant_conv, self.post_quant_conv, self.colour_decoder, self.mask_decoder]

    def parse(self, x: Tensor) -> dict[str, Tensor]:
        """The forward of the release on model-range images.

        Args:
            x: [B, 3, H, W] float in [0, 1].

        Returns:
            ``xrec`` [B, 3, H, W], ``color_map`` [B, 3, H, W] in [-1, 1], ``mask_map`` [B, 1, H, W] in
            (0, 1), ``mask_input`` = M x and ``mask_color`` = (1 - M) Cm, [B, 3, H, W].
        """
        h = self.quant_conv(self.encoder(x))
        mask = self.mask_decoder(h)
        colour = self.colour_decoder(self.post_quant_conv(h))
        mask_input = mask * x
        mask_color = (1 - mask) * colour
        return {"xrec": mask_input + mask_color, "color_map": colour, "mask_map": mask,
                "mask_input": mask_input, "mask_color": mask_color}

    def au_input(self, x: Tensor, out: dict[str, Tensor]) -> Tensor:
        """What A reads AUs from: M x, or with ``au_fill: mean`` M x + (1 - M) mean(x) [B, 3, H, W]."""
        if self.cfg.au_fill == "black":
            return out["mask_input"]
        return out["mask_input"] + (1 - out["mask_map"]) * x.mean((2, 3), keepdim=True).detach()

    # --- engine contract --------------------------------------------------------------------
    def groups(self) -> dict[str, list[nn.Module]]:
        """``G`` (encoder, quant convs, both decoders) and ``D`` (both discriminators); ``faithful``
        has no ``D``: the release never stepped them."""
        out: dict[str, list[nn.Module]] = {"G": self.generator()}
        if not self.cfg.faithful:
            out = {"D": [self.feature_dis, self.au_dis], **out}
        return out

    def phases(self, step: int) -> list[str]:
        """``D`` every iteration (not with ``faithful``), then ``G`` when ``step % g_every == 0``;
        during the A warm-up (``step < au_warmup_steps``) only ``D:au``, A's regression on real faces."""
        if step < self.cfg.au_warmup_steps:
            return ["D:au"]
        out = [] if self.cfg.faithful else ["D"]
        return [*out, "G"] if step % self.cfg.g_every == 0 else out

    def frozen_modules(self) -> dict[str, nn.Module]:
        """LPIPS-VGG, when the reconstruction term uses it and its weights were found."""
        return {"lpips": self.lpips} if self.lpips is not None else {}

    def load_pretrained(self) -> None:
        """Load LPIPS-VGG when ``lpips_weight`` > 0 (from ``lpips_from`` or genfer's weight locations).

        Missing weights do not stop inference: the error is kept and raised by the first
        generator step that needs LPIPS.
        """
        if self.cfg.lpips_weight == 0 or self.lpips is not None:
            return
        from genfer.metrics.weights import MissingWeightsError

        try:
            if self.cfg.lpips_from:
                from genfer.models.cdan.released import lpips_from_release

                net = lpips_from_release(self.cfg.lpips_from)
            else:
                from genfer.metrics.lpips import load_lpips

                net = load_lpips("vgg")
        except (MissingWeightsError, FileNotFoundError) as e:
            self._lpips_error = e
            return
        self.lpips = net.to(self.device).eval().requires_grad_(False)

    def to_input(self, images: Tensor) -> Tensor:
        """uint8 0..255 or float [0, 1] images [B, 3, H, W] -> float [0, 1] on the method's device."""
        if images.dtype == torch.uint8:
            x = images.to(self.device).float().div_(255)
        elif images.is_floating_point():
            x = images.to(self.device, torch.float32)
        else:
            raise TypeError(f"cdan: images must be uint8 or float, got {images.dtype}")
        return x.contiguous(memory_format=torch.channels_last) if self.cfg.channels_last else x

    def prepare(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """uint8 images -> [0, 1]; ``aus`` [B, 17] (0..5) -> adds ``au`` [B, 6], CDAN's targets (/5)."""
        out = dict(batch)
        if "image" in out:
            out["image"] = self.to_input(out["image"])
        if "aus" in out and "au" not in out:
            out["au"] = self.targets(out["aus"].to(self.device).float())
        return out

    @staticmethod
    def targets(aus: Tensor) -> Tensor:
        """Intensities [B, 17] (``AU_NAMES`` order, 0..5) -> CDAN's regression targets [B, 6] (/5)."""
        return aus[:, list(CDAN_AU_INDEX)] / AU_MAX

    def training_step(self, batch: dict[str, Tensor], phase: str, cache: dict[str, Any]) -> LossOut:
        """Loss of ``D`` (both discriminators) or ``G``; ``cache`` holds the iteration's generator forward."""
        if "au" not in batch:
            batch = self.prepare(batch)
            if "au" not in batch:
                raise ValueError("cdan trains on AU intensities: batches need 'aus' [B, 17] (SynthFace, "
                                 "cdan:IMAGES?aus=FILE, folder:...?aus=..., ganimation:...)")
        if phase == "D:au":
            d_au = self._a_regression(batch)
            return LossOut(self.cfg.lambda_d_au * d_au, {"d_au": d_au.detach()})
        if "out" not in cache:
            # an iteration without a G phase needs x_hat only as D's detached input: no graph
            needs_graph = "step" not in cache or "G" in self.phases(cache["step"])
            with torch.set_grad_enabled(needs_graph and torch.is_grad_enabled()):
                cache["out"] = self.parse(batch["image"])
        if phase == "D":
            return self._step_d(batch, cache["out"])
        if phase == "G":
            return self._step_g(batch, cache["out"])
        raise KeyError(f"cdan has no phase {phase!r}; known: D, D:au, G")

    def _a_regression(self, batch: dict[str, Tensor]) -> Tensor:
        """A's term of the D loss: MSE(A(x), au) on real faces (the A warm-up's whole loss)."""
        return F.mse_loss(self.au_dis(batch["image"]), batch["au"])

    def _step_d(self, batch: dict[str, Tensor], out: dict[str, Tensor]) -> LossOut:
        cfg = self.cfg
        x = batch["image"]
        scores = self.feature_dis(torch.cat((x, out["xrec"].detach())))
        real, fake = scores.chunk(2)
        d_adv = 0.5 * (F.relu(1 - real).mean() + F.relu(1 + fake).mean())
        d_au = self._a_regression(batch)
        loss = cfg.lambda_d_adv * d_adv + cfg.lambda_d_au * d_au
        return LossOut(loss, {"d_adv": d_adv.detach(), "d_au": d_au.detach()})

    def _step_g(self, batch: dict[str, Tensor], out: dict[str, Tensor]) -> LossOut:
        cfg = self.cfg
        x, au = batch["image"], batch["au"]
        xrec, mask_input = out["xrec"], out["mask_input"]
        terms: dict[str, Tensor] = {"l1": F.l1_loss(xrec, x)}
        rec = terms["l1"]
        if cfg.lpips_weight > 0:
            terms["lpips"] = self._lpips(x, xrec)
            rec = rec + cfg.lpips_weight * terms["lpips"]
        with frozen(self.feature_dis, self.au_dis):
            terms["g_adv"] = F.relu(1 - self.feature_dis(xrec)).mean()
            terms["au"] = F.mse_loss(self.au_dis(self.au_input(x, out)), au)
        terms["tv"] = cdan_tv(mask_input)
        terms["mask"] = mask_input.mean()
        loss = (cfg.lambda_rec * rec + cfg.lambda_g_adv * terms["g_adv"] + cfg.lambda_au * terms["au"]
                + cfg.lambda_tv * terms["tv"] + cfg.lambda_mask * terms["mask"])
        return LossOut(loss, {k: v.detach() for k, v in terms.items()})

    def _lpips(self, x: Tensor, y: Tensor) -> Tensor:
        if self.lpips is None:
            self.load_pretrained()
        if self.lpips is None:
            from genfer.metrics.weights import MissingWeightsError

            raise MissingWeightsError(
                f"cdan: lpips_weight is {self.cfg.lpips_weight} but LPIPS-VGG has no weights "
                f"({self._lpips_error}). Supply them (model.lpips_from=CDAN.pth takes the copy inside the "
                "released checkpoint), or set model.lpips_weight=0; genfer never trains against a random VGG."
            )
        # faithful: [0, 1] images handed over as if they were in [-1, 1], as the release did
        value_range = (-1.0, 1.0) if self.cfg.faithful else (0.0, 1.0)
        return self.lpips(x, y, value_range).mean()

    # --- inference ---------------------------------------------------------------------------
    def parse_images(self, x: Tensor) -> dict[str, Tensor]:
        """``parse`` in eval mode on images [B, 3, H, W] (uint8 or float in [0, 1]); float32 outputs."""
        with self._inference():
            return {k: v.float() for k, v in self.parse(self.to_input(x)).items()}

    def reconstruct(self, x: Tensor) -> Tensor:
        """x_hat = M x + (1 - M) Cm of images [B, 3, H, W] (uint8 or [0, 1]), clamped to [0, 1]."""
        return self.parse_images(x)["xrec"].clamp(0, 1)

    def estimate_cdan_aus(self, x: Tensor, masked: bool = True) -> Tensor:
        """A's estimate of CDAN's six AUs (0..5) [B, 6] from M x (``masked``) or from x."""
        with self._inference():
            x = self.to_input(x)
            inp = self.au_input(x, self.parse(x)) if masked else x
            return (self.au_dis(inp).float() * AU_MAX).clamp(0, AU_MAX)

    # --- evaluation and samples --------------------------------------------------------------
    def evaluate(self, batches: Iterable[dict[str, Tensor]]) -> dict[str, Any]:
        """Held-out figures: ``rec_l1`` and ``psnr`` (dB, [0, 1] images, x_hat clamped) of the
        reconstructions, ``mask_mean``, and with AU labels the AU error (MAE, 0..5 scale) of A(M x)
        (``au_mae_masked``) and A(x) (``au_mae``) over CDAN's six AUs."""
        sums = {"rec_l1": 0.0, "psnr": 0.0, "mask_mean": 0.0, "au_mae_masked": 0.0, "au_mae": 0.0}
        n = n_au = 0
        with self._inference():
            for batch in batches:
                batch = self.prepare(batch)
                x = batch["image"]
                out = self.parse(x)
                rec = out["xrec"].float().clamp(0, 1)
                sums["rec_l1"] += float((rec - x).abs().flatten(1).mean(1).sum())
                sums["psnr"] += float(psnr(rec, x).clamp(max=100).sum())
                sums["mask_mean"] += float(out["mask_map"].float().flatten(1).mean(1).sum())
                n += x.shape[0]
                if "au" in batch:
                    au = batch["au"].float()
                    for key, inp in (("au_mae_masked", self.au_input(x, out)), ("au_mae", x)):
                        est = self.au_dis(inp).float().clamp(0, 1)
                        sums[key] += float((est - au).abs().mean(1).sum() * AU_MAX)
                    n_au += x.shape[0]
        res = {k: sums[k] / max(n, 1) for k in ("rec_l1", "psnr", "mask_mean")}
        if n_au:
            res |= {k: sums[k] / n_au for k in ("au_mae_masked", "au_mae")}
        return res

    def samples(self, batch: dict[str, Tensor]) -> tuple[Tensor, int]:
        """Rows of [x, x_hat, M (grey), Cm, M x] for up to 8 faces.

        Returns:
            (grid [5N, 3, H, W] in [0, 1], 5).
        """
        img = batch["image"][:8]
        out = self.parse_images(img)
        unit = self.to_input(img).float()
        cols = [unit, out["xrec"].clamp(0, 1), out["mask_map"].expand_as(unit), (out["color_map"] + 1) / 2,
                out["mask_input"].clamp(0, 1)]
        return torch.stack([c.cpu() for c in cols], 1).flatten(0, 1), len(cols)
