"""Hyper-parameters of CDAN; the defaults are the released code's (``opt.py``, ``cdan.py``)."""

from __future__ import annotations

from dataclasses import dataclass

from genfer.core.config import MethodConfig
from genfer.models.cdan.networks import check_image_size, d_sizes

CDAN_AUS: tuple[str, ...] = ("AU01", "AU04", "AU06", "AU12", "AU15", "AU25")
"""The six OpenFace intensities CDAN is supervised by, in the release's pkl order."""


@dataclass
class CDANConfig(MethodConfig):
    """Architecture, losses and schedule (released names in brackets).

    The defaults reproduce the release: 112 x 112 RGB in [0, 1]; encoder ch 128, mult (1, 2, 2, 4),
    2 residual blocks per level, attention at the 14 x 14 bottleneck, z 256; decoders 512 wide;
    discriminators 64..2048 over 6 layers; ``au`` = OpenFace intensity / 5;

    - D: ``lambda_d_adv`` * 1/2 [mean relu(1 - D(x)) + mean relu(1 + D(x_hat))] + ``lambda_d_au`` * MSE(A(x), au)
    - G: ``lambda_rec`` * [L1(x_hat, x) + ``lpips_weight`` * LPIPS_VGG(x, x_hat)]
      + ``lambda_g_adv`` * mean relu(1 - D(x_hat)) + ``lambda_au`` * MSE(A(M x), au)
      + ``lambda_tv`` * TV(M x) + ``lambda_mask`` * mean(M x)

    D is updated every iteration and G every ``g_every``-th. Adam 2.25e-5 (0.5, 0.999) and batch 12
    are the ``optim``/``data`` sections of the run config (the ``released`` preset sets them).

    Args:
        image_size: square input side; a multiple of 56 (the bottleneck, side / 8, must be a
            multiple of SEA's 7 x 7 patch) [image_size].
        channels: image channels (3).
        crop, init_from, init_keys: as in ``genfer.core.config.MethodConfig``.
        ch: encoder channels of the first level [ch].
        ch_mult: encoder width multipliers, four levels [ch_mult].
        num_res_blocks: encoder residual blocks per level [num_res_blocks].
        z_channels: latent channels (``h`` is ``z_channels`` x side/8 x side/8) [embed_dim].
        dec_width: widest decoder channels (halved twice on the way up) [block_in].
        d_dim: channels of the discriminators' first layer [ndf].
        d_layers: stride-2 layers of the discriminator trunks [n_layers].
        lambda_d_adv: weight of the feature discriminator's hinge loss (0.1).
        lambda_d_au: weight of the AU discriminator's regression on real faces (1).
        lambda_rec: weight of L1 + LPIPS in the generator loss (0.3).
        lpips_weight: weight of LPIPS-VGG inside the reconstruction term (1 as released). Above 0
            training needs LPIPS-VGG weights (see ``lpips_from``); genfer never trains against a
            random VGG.
        lpips_from: where LPIPS-VGG comes from: "" searches genfer's weight locations
            (``genfer.metrics.lpips.load_lpips``: torchvision's vgg16 file + the lpips v0.1 heads),
            or a released ``CDAN.pth``, which carries the VGG16 features and heads it trained with.
        lambda_g_adv: weight of the generator's hinge term (0.3).
        lambda_au: weight of the AU regression of the masked face A(M x) (1).
        lambda_tv: weight of the total variation of M x (2e-5).
        lambda_mask: weight of the mean of M x (0.1).
        g_every: the generator is updated when ``step % g_every == 0`` [num_iters].
        au_fill: what A sees where M drops the face: ``black`` (released: A(M x)) or ``mean``
            (A(M x + (1 - M) mean(x)), each image's channel means, detached). A trained on whole faces
            reads black where an AU acts as evidence of that AU, which pays G to erase the AU regions
            (benchmarks/cdan_mask_probe.py); a mean fill offers no such reward. Not in the release.
        au_warmup_steps: iterations at the start in which only A trains, on real faces (its D-phase
            regression alone, without a generator forward: ~1/100 of an iteration's cost), so that the
            AU term steers M from the first generator step. An A that cannot read AUs yet gives G
            no reason to keep the AU regions (benchmarks/RESULTS.md). Not in the release (0).
        channels_last: run the convolutions on channels-last activations (faster on CPU: oneDNN
            skips its layout reorders; the same function up to float rounding; parameters stay
            contiguous, so checkpoints are unchanged).
        faithful: reproduce the release where results change: the discriminators stay at their
            random initialisation (the release's optimizers held other copies) and LPIPS gets
            [0, 1] images where it expects [-1, 1]. Off: both discriminators train, LPIPS sees
            its own range.
    """

    image_size: int = 112
    channels: int = 3
    ch: int = 128
    ch_mult: tuple[int, ...] = (1, 2, 2, 4)
    num_res_blocks: int = 2
    z_channels: int = 256
    dec_width: int = 512
    d_dim: int = 64
    d_layers: int = 6
    lambda_d_adv: float = 0.1
    lambda_d_au: float = 1.0
    lambda_rec: float = 0.3
    lpips_weight: float = 1.0
    lpips_from: str = ""
    lambda_g_adv: float = 0.3
    lambda_au: float = 1.0
    lambda_tv: float = 2e-5
    lambda_mask: float = 0.1
    g_every: int = 2
    au_fill: str = "black"
    au_warmup_steps: int = 0
    channels_last: bool = True
    faithful: bool = False

    def __post_init__(self) -> None:
        self.ch_mult = tuple(int(m) for m in self.ch_mult)
        if len(self.ch_mult) != 4:
            raise ValueError(f"cdan: ch_mult needs 4 levels (the decoders upsample 3 times), got {self.ch_mult}")
        check_image_size(self.image_size, len(self.ch_mult))
        d_sizes(self.image_size, self.d_layers)
        for name in ("ch", "z_channels", "dec_width"):
            if getattr(self, name) % 32:
                raise ValueError(f"cdan: {name} must be a multiple of 32 (GroupNorm(32)), got {getattr(self, name)}")
        if self.dec_width % 128:
            raise ValueError(f"cdan: dec_width must be a multiple of 128 (it is quartered), got {self.dec_width}")
        if self.au_fill not in ("black", "mean"):
            raise ValueError(f"cdan: au_fill must be black or mean, got {self.au_fill!r}")
        if self.au_warmup_steps < 0:
            raise ValueError(f"cdan: au_warmup_steps must be >= 0, got {self.au_warmup_steps}")
        if self.au_warmup_steps and self.faithful:
            raise ValueError("cdan: au_warmup_steps trains A, which faithful keeps at its random initialisation; "
                             "set model.au_warmup_steps=0 with model.faithful=true")
        for name in ("channels", "num_res_blocks", "d_dim", "d_layers", "g_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"cdan: {name} must be >= 1, got {getattr(self, name)}")
        for name in ("lambda_d_adv", "lambda_d_au", "lambda_rec", "lpips_weight", "lambda_g_adv", "lambda_au",
                     "lambda_tv", "lambda_mask"):
            if getattr(self, name) < 0:
                raise ValueError(f"cdan: {name} must be >= 0, got {getattr(self, name)}")
