"""Hyper-parameters of the AU-conditioned cycle GAN; the defaults are the released e8 code's."""

from __future__ import annotations

from dataclasses import dataclass

from genfer.core.config import MethodConfig
from genfer.losses.adversarial import KINDS
from genfer.models.au_cyclegan.networks import down_sizes

AU_LOSSES = ("bce", "l1", "mse")


@dataclass
class AUCycleGANConfig(MethodConfig):
    """Architecture, losses and update schedule (released names in brackets).

    The defaults reproduce ``models_gan_pytorch_4`` + ``train_gan_pytorch_4``: 112 x 112 RGB,
    17 AUs, a 5-block AttGAN-style generator (64..1024 channels, skip and condition injection after
    the first decoder block), a 5-block instance-norm critic with 1024-wide adversarial and AU
    heads, WGAN-GP (penalty 10), AU loss weight 100, self-reconstruction weight 10, one critic
    step per generator step. Adam 2e-4 (0.5, 0.999) and batch 32 are the ``optim``/``data``
    sections of the run config (the ``released`` preset sets them).

    Args:
        image_size: square input/output side in pixels (112).
        channels: image channels (3).
        crop, init_from, init_keys: as in ``genfer.core.config.MethodConfig``.
        num_aus: length of the AU condition (17, ``genfer.data.aus.AU_NAMES`` order).
        g_dim: channels of the generator's first encoder block; widths double per block [enc_dim,
            dec_dim].
        d_dim: channels of the critic's first block [dim].
        n_layers: stride-2 blocks of the encoder, the decoder and the critic trunk [enc_layers].
        max_width: channel cap of every block [MAX_DIM].
        d_fc_dim: hidden width of both critic heads [fc_dim].
        shortcut_layers: decoder blocks followed by an encoder skip concatenation.
        inject_layers: decoder blocks followed by a second tiled AU vector.
        adversarial: ``wgan`` (released ``loss_wasserstein_gp``), ``nonsaturating`` (the release's
            broken ``loss_nonsaturating``, working here) or ``hinge``.
        lambda_gp: gradient-penalty weight on random real/fake interpolates (applied with every
            ``adversarial`` kind; 0 turns it off, as the released non-saturating path had none).
        au_loss: ``bce``: AUs are presence (``aus >= au_threshold``), the AU head is trained with
            BCE-with-logits and the generator is conditioned on 0/1 presence (released);
            ``l1``: AUs are intensities scaled to [0, 1] (``aus / 5``), the AU head regresses them
            with L1 and the generator is conditioned on them (the seed's e9 "regress" variant,
            with the fixed /5 scale instead of per-column maxima); ``mse``: the same condition,
            regressed with the squared error (GANimation's conditioning loss, a genfer addition).
            L1's gradient has the same size for every AU, so the many absent AUs (target 0) keep
            the head at the median and rare AUs are learned slowly; the squared error's gradient
            vanishes on AUs already right. Only ``l1`` and ``mse`` can edit to an intensity.
        au_threshold: intensity from which an AU counts as present with ``au_loss: bce``.
        lambda_cl: AU loss weight in both the critic and the generator loss [lambda_cl].
        lambda_cyc: weight of the self-reconstruction L1(G(x, a_src), x) [lambda_cyc].
        lambda_cycle: weight of the true cycle consistency L1(G(G(x, a_trg), a_src), x); 0 as
            released (use it instead of, or beside, ``lambda_cyc``).
        target_noise: half-width of uniform noise added to the target AU condition, then clipped
            to [0, 1] (released option, off).
        g_attention: side of the generator decoder map after which a SAGAN self-attention block
            runs (e.g. 28 at 112 px); 0 = none (released: none, despite the title).
        d_attention: side of the critic trunk map after which a self-attention block runs; 0 = none.
        mask_output: GANimation output: the generator predicts a colour image C and an attention
            mask A and returns ``A * x + (1 - A) * C``.
        lambda_mask: weight of the mean attention mask (keeps A from saturating at 1, which would
            copy the input) with ``mask_output`` (GANimation lambda_A 0.1).
        lambda_mask_tv: weight of the mask's total variation with ``mask_output`` (GANimation 1e-5).
        critic_shift: random translation of every image the critic sees (real, fake and their
            interpolates), up to this fraction of the image side, drawn per image, in the critic
            and the generator step alike (DiffAugment's translation; a genfer option, 0 as
            released). The critic's AU head then has to read AUs wherever the face sits, so the
            generator cannot satisfy it with pixel-exact patterns an independent AU reader does
            not see.
        d_g_ratio: critic steps per generator step; G is updated when ``step % d_g_ratio == 0``.
        channels_last: run convolutions on channels-last activations (faster on CPU; the same
            functions up to float rounding).
        faithful: reproduce the release where results change: images enter the networks in
            [0, 1] while the generator ends in tanh ([-1, 1]), so reconstructions are compared
            across mismatched ranges. Off: every image is in [-1, 1].
    """

    image_size: int = 112
    channels: int = 3
    num_aus: int = 17
    g_dim: int = 64
    d_dim: int = 64
    n_layers: int = 5
    max_width: int = 1024
    d_fc_dim: int = 1024
    shortcut_layers: int = 1
    inject_layers: int = 1
    adversarial: str = "wgan"
    lambda_gp: float = 10.0
    au_loss: str = "bce"
    au_threshold: float = 1.0
    lambda_cl: float = 100.0
    lambda_cyc: float = 10.0
    lambda_cycle: float = 0.0
    target_noise: float = 0.0
    g_attention: int = 0
    d_attention: int = 0
    mask_output: bool = False
    lambda_mask: float = 0.1
    lambda_mask_tv: float = 1e-5
    critic_shift: float = 0.0
    d_g_ratio: int = 1
    channels_last: bool = True
    faithful: bool = False

    def __post_init__(self) -> None:
        down_sizes(self.image_size, self.n_layers)  # raises for unusable sizes
        for name in ("channels", "num_aus", "g_dim", "d_dim", "n_layers", "max_width", "d_fc_dim", "d_g_ratio"):
            if getattr(self, name) < 1:
                raise ValueError(f"au_cyclegan: {name} must be >= 1, got {getattr(self, name)}")
        if self.adversarial not in KINDS:
            raise ValueError(f"au_cyclegan: adversarial must be one of {KINDS}, got {self.adversarial!r}")
        if self.au_loss not in AU_LOSSES:
            raise ValueError(f"au_cyclegan: au_loss must be one of {AU_LOSSES}, got {self.au_loss!r}")
        for name in ("lambda_gp", "lambda_cl", "lambda_cyc", "lambda_cycle", "target_noise", "lambda_mask",
                     "lambda_mask_tv", "shortcut_layers", "inject_layers", "g_attention", "d_attention"):
            if getattr(self, name) < 0:
                raise ValueError(f"au_cyclegan: {name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.critic_shift < 0.5:
            raise ValueError(f"au_cyclegan: critic_shift must be in [0, 0.5), got {self.critic_shift}")
        if self.au_threshold <= 0:
            raise ValueError(f"au_cyclegan: au_threshold must be > 0, got {self.au_threshold}")
