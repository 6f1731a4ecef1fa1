"""ASIT's configuration (the released ``TrainOptions`` + ``gc_vit_base``), and the encoder fields IFER shares."""

from __future__ import annotations

from dataclasses import dataclass, field

from genfer.core.config import MethodConfig, check_range

ID_NETS = ("ir_se50", "face_api")


@dataclass
class GCViTEncoderConfig(MethodConfig):
    """The GC ViT style encoder (release: ``gc_vit_base``, 256 px).

    Args:
        image_size: input side; the GC ViT levels work at image_size/4, /8, /16, /32 and accept
            nothing else (256 in the release: 64/32/16/8).
        enc_dim: channels of the first level (doubling per level).
        enc_depths: blocks per level.
        enc_heads: attention heads per level.
        enc_windows: attention window per level (must divide the level's side).
        mlp_ratio: MLP width ratio of the blocks.
        drop_path: stochastic depth at the last block (rising linearly from 0).
        layer_scale: initial layer scale (0 = none).
        style_dim: W+ code width (the decoder's style dim).
        n_styles: W+ codes (the decoder's ``2 log2(size) - 2``).
        coarse: styles [0, coarse) come from the 1/16 map.
        middle: styles [coarse, middle) from the 1/8 map, the rest from the 1/4 map.
        style_window: attention window inside the style heads.
        struct_channels: channels of the 4x4 structure code (the decoder's 4x4 channels).
        faithful: reproduce the release's batch-coupled global queries (an image's codes then
            depend on its batch-mates); needed to match released weights exactly.
        recompute: keep only the inputs of the encoder's blocks and style heads for the backward
            and compute their activations again there (``torch.utils.checkpoint``): the same
            gradients, one more encoder forward per step, and ~1.3 GB less memory per 256-px image
            at the release's size (on in the ``released`` preset, so its batch 8 fits in 24 GB).
    """

    image_size: int = 256
    enc_dim: int = 128
    enc_depths: list[int] = field(default_factory=lambda: [3, 4, 19, 5])
    enc_heads: list[int] = field(default_factory=lambda: [4, 8, 16, 32])
    enc_windows: list[int] = field(default_factory=lambda: [8, 8, 16, 8])
    mlp_ratio: float = 2.0
    drop_path: float = 0.5
    layer_scale: float = 1e-5
    style_dim: int = 512
    n_styles: int = 14
    coarse: int = 3
    middle: int = 7
    style_window: int = 8
    struct_channels: int = 512
    faithful: bool = False
    recompute: bool = False

    def __post_init__(self) -> None:
        check_range("model.enc_depths", self.enc_depths, len(self.enc_depths) == 4, "4 levels")
        for n in ("enc_heads", "enc_windows"):
            check_range(f"model.{n}", getattr(self, n), len(getattr(self, n)) == len(self.enc_depths),
                        "one entry per level")
        check_range("model.image_size", self.image_size, self.image_size % 64 == 0 and self.image_size >= 64,
                    "a multiple of 64 (the GC ViT levels halve it 5 times)")

    def encoder_kwargs(self) -> dict:
        """Arguments of :class:`~genfer.models.asit.networks.ASITEncoder`."""
        return dict(style_dim=self.style_dim, n_styles=self.n_styles, coarse=self.coarse, middle=self.middle,
                    style_window=self.style_window, struct_channels=self.struct_channels, dim=self.enc_dim,
                    depths=tuple(self.enc_depths), num_heads=tuple(self.enc_heads),
                    windows=tuple(self.enc_windows), mlp_ratio=self.mlp_ratio, resolution=self.image_size,
                    drop_path_rate=self.drop_path, layer_scale=self.layer_scale or None, faithful=self.faithful,
                    recompute=self.recompute)


@dataclass
class ASITConfig(GCViTEncoderConfig):
    """ASIT: invert faces into a frozen StyleGAN2 (W+ codes + structure code).

    Args:
        decoder: the frozen StyleGAN2: a genfer ``stylegan2`` run or checkpoint (``G``, EMA weights
            where kept), a rosinality ``.pt`` (``g_ema``, ``latent_avg``) or a
            released ASIT checkpoint (``decoder.*``, ``latent_avg``); "" = an untrained generator
            of the ``dec_*`` size, seeded (tests and speed benchmarks only).
        dec_n_mlp: mapping layers of the untrained decoder (8).
        dec_channel_multiplier: channel multiplier of the untrained decoder (2).
        dec_channel_max: widest layer of the untrained decoder (512).
        latent_avg_samples: mapped z averaged for ``latent_avg`` when the decoder file has none
            (the release uses 1e5); the count is logged.
        use_struct: decode with the structure code replacing the constant input (training and
            validation in the release; its ``inference.py`` drops it: ``genfer invert --const``).
        randomize_noise: fresh StyleGAN2 noise in training (the release's default); evaluation
            and inference use the stored noise.
        l2_lambda: weight of MSE(x_hat, x) on [-1, 1].
        lpips_lambda: weight of LPIPS-Alex (genfer.metrics.lpips; user-supplied weights).
        lpips_backbone: AlexNet weights file ("" = genfer's search path).
        lpips_heads: LPIPS v0.1 heads file or lpips wheel ("" = genfer's search path).
        id_lambda: weight of the identity loss ``1 - <phi(x_hat), phi(x)>``.
        id_net: ``ir_se50`` (the release's ArcFace, ``model_ir_se50.pth``) or ``face_api``
            (genfer's offline 128-d descriptor, a stand-in).
        id_weights: the identity net's weights ("" = ``$GENFER_IR_SE50`` / face_api's cache).
        adv_lambda: weight of the encoder's LSGAN term ``MSE(D(x_hat, x), 1)``; inert under
            ``faithful`` (the release computes it under ``no_grad``).
        dist_lambda: weight of the distribution-alignment loss.
        critic_embed: width of the critic's embedding (128).
        critic_momentum: EMA momentum of the critic's key net (0.999).
        critic_channel_multiplier: width of the critic trunks (StyleGAN2's table; 2).
        critic_channel_max: widest critic layer (512).
    """

    decoder: str = ""
    dec_n_mlp: int = 8
    dec_channel_multiplier: float = 2.0
    dec_channel_max: int = 512
    latent_avg_samples: int = 100_000
    use_struct: bool = True
    randomize_noise: bool = True
    l2_lambda: float = 1.0
    lpips_lambda: float = 0.8
    lpips_backbone: str = ""
    lpips_heads: str = ""
    id_lambda: float = 0.1
    id_net: str = "ir_se50"
    id_weights: str = ""
    adv_lambda: float = 1e-4
    dist_lambda: float = 0.01
    critic_embed: int = 128
    critic_momentum: float = 0.999
    critic_channel_multiplier: float = 2.0
    critic_channel_max: int = 512

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range("model.id_net", self.id_net, self.id_net in ID_NETS, " or ".join(ID_NETS))
        for n in ("l2_lambda", "lpips_lambda", "id_lambda", "adv_lambda", "dist_lambda"):
            check_range(f"model.{n}", getattr(self, n), getattr(self, n) >= 0, "a number >= 0")
        check_range("model.critic_momentum", self.critic_momentum, 0 <= self.critic_momentum < 1, "a number in [0, 1)")
