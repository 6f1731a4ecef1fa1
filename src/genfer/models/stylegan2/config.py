"""Hyper-parameters of StyleGAN2 training; the defaults are rosinality's ``train.py`` (config F, 256 px)."""

from __future__ import annotations

from dataclasses import dataclass

from genfer.core.config import MethodConfig, check_range


@dataclass
class StyleGAN2Config(MethodConfig):
    """Networks and the training recipe (rosinality's argument names in brackets).

    Adam (lr 0.002, betas (0, 0.99)) with the lazy-regularisation correction, batch 16 and the
    generator EMA (``train.ema`` 0.99778 = 0.5 ** (32 / 10,000)) are the ``optim``/``data``/``train``
    sections of the run config (the ``ffhq256`` preset sets them).

    Args:
        image_size: side of the images, a power of two from 8 to 1024 [size].
        channels: image channels (3).
        crop, init_from, init_keys: as in ``genfer.core.config.MethodConfig``.
        style_dim: width of z and w [latent] (512).
        n_mlp: mapping-network layers [n_mlp] (8).
        channel_multiplier: widths from 64 px up are ``256 * multiplier * 64 / r`` [channel_multiplier] (2).
        channel_max: cap of every width (512, the release's fixed width up to 32 px).
        lr_mlp: learning-rate multiplier of the mapping network (0.01).
        r1: R1 weight gamma on real images [r1] (10).
        d_reg_every: iterations between R1 updates of D (lazy R1) [d_reg_every] (16).
        path_regularize: path-length penalty weight [path_regularize] (2).
        path_batch_shrink: the penalty's batch is the batch divided by this [path_batch_shrink] (2).
        g_reg_every: iterations between path-length updates of G [g_reg_every] (4).
        path_decay: decay of the running mean path length (0.01).
        mixing: probability of style mixing (two z, one random crossover) [mixing] (0.9).
        sample_truncation: truncation of the training sample grids (1 = none, as rosinality's).
        eval_fakes: generated images per evaluation (D scores of held-out reals and of fakes).
    """

    image_size: int = 256
    style_dim: int = 512
    n_mlp: int = 8
    channel_multiplier: float = 2.0
    channel_max: int = 512
    lr_mlp: float = 0.01
    r1: float = 10.0
    d_reg_every: int = 16
    path_regularize: float = 2.0
    path_batch_shrink: int = 2
    g_reg_every: int = 4
    path_decay: float = 0.01
    mixing: float = 0.9
    sample_truncation: float = 1.0
    eval_fakes: int = 64

    def __post_init__(self) -> None:
        size = self.image_size
        check_range("model.image_size", size, size >= 8 and size <= 1024 and size & (size - 1) == 0,
                    "a power of two from 8 to 1024")
        check_range("model.channel_multiplier", self.channel_multiplier, self.channel_multiplier > 0, "> 0")
        for n in ("style_dim", "n_mlp", "channel_max", "path_batch_shrink"):
            check_range(f"model.{n}", getattr(self, n), getattr(self, n) >= 1, ">= 1")
        for n in ("d_reg_every", "g_reg_every"):
            check_range(f"model.{n}", getattr(self, n), getattr(self, n) >= 0, ">= 0 (0 = no regulariser)")
        check_range("model.mixing", self.mixing, 0 <= self.mixing <= 1, "a probability in [0, 1]")
        check_range("model.sample_truncation", self.sample_truncation, 0 < self.sample_truncation <= 1, "(0, 1]")
