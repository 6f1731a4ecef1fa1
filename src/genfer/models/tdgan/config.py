"""TDGAN's hyper-parameters; the defaults are the released code's (``hpar_dict`` in its main.py)."""

from __future__ import annotations

from dataclasses import dataclass

from genfer.core.config import MethodConfig
from genfer.models.tdgan.networks import pooled_size


@dataclass
class TDGANConfig(MethodConfig):
    """Architecture, loss weights and update schedule of TDGAN.

    The defaults reproduce the released configuration: 128 x 128 grey faces, 20 face identities,
    7 expressions, Nz = 256 uniform noise channels, 6 decoder residual blocks, and the loss weights
    and discriminator update gaps of ``hpar_dict``. The released names are given in brackets.

    Args:
        image_size: square input and output side in pixels; a multiple of 16, at least 32.
        channels: image channels (1 = grey, as released; 3 = RGB).
        crop, init_from, init_keys: as in ``genfer.core.config.MethodConfig``.
        num_classes: expression classes of M_ER and D_ER (genfer's canonical 0..6).
        num_identities: face identities K_f; D_FR has ``num_identities + 1`` outputs, the last one
            being "fake" [FR_cls_num].
        noise_dim: uniform-noise channels Nz concatenated to the two branch features [Nz].
        enc_widths: output channels of the encoder's four 5x5 convs (all four encoders).
        inception_width: channels of each Inception-ResNet branch.
        n_inception: Inception-ResNet blocks per encoder.
        fc_width: hidden width of the FC heads (M_ER, D_FR, D_ER).
        dropout: dropout before the first two FC layers of every head.
        dec_width: channels of the decoder's embedding conv and residual blocks [Nc].
        n_res_blocks: decoder residual blocks [Nb].
        dec_up_widths: output channels of the decoder's four upsampling blocks.
        lambda_g_face: weight of CE(D_FR(x_hat), identity of x_f) in the G loss [H_G_FR_f].
        lambda_g_expr: weight of CE(D_ER(x_hat), expression of x_e) in the G loss [H_G_ER_f].
        lambda_per_face: weight of the face-perceptual MSE between D_FR trunk features of x_hat and
            of x_f [H_G_FR_PER].
        lambda_per_expr: weight of the expression-perceptual MSE between E_e features of x_hat and
            of x_e [H_G_ER_PER]; 0 as released.
        lambda_dic_face: weight of L1(G(x_hat, x_f), x_f), the face half of the dual
            self-supervised consistency [H_G_CON_FR].
        lambda_dic_expr: weight of L1(G(x_e, x_hat), x_e), its expression half [H_G_CON_ER].
        lambda_d_face_real: D_FR loss weight on real faces [H_D_FR_r].
        lambda_d_face_fake: D_FR loss weight on generated images (the fake class) [H_D_FR_f].
        lambda_d_expr_real: D_ER loss weight on real expression images [H_D_ER_r].
        lambda_g_cls: weight of CE(M_ER(E_e(x_e)), y_e) added to the G loss, so that the expression
            label also trains the expression encoder E_e directly. **Not in the released code**, where
            that gradient is discarded and E_e learns expressions only through D_ER's judgement of
            x_hat and the dual consistency; 0 (the default) reproduces the release. The CPU demo
            sets it (see configs/tdgan/demo.yaml) because the released signal needs far more
            iterations than a 5-minute CPU budget allows.
        er_warmup_steps: iterations at the start of training in which only the expression branch
            learns: E_e (through G's optimizer) and M_ER's head on CE(M_ER(E_e(x_e)), y_e), with no
            generation and no discriminator update. **Not in the released code**; 0 (the default)
            reproduces it. A warm-up iteration costs about a tenth of a full one, so the CPU demo
            uses it to reach its expression accuracy within its time budget.
        d_er_shift: random translation of every image D_ER sees (the real x_e it is trained on and
            the x_hat that G is scored on), up to this fraction of the side, drawn per image
            (DiffAugment's translation). **Not in the released code**; 0 (the default) reproduces it.
            The release trains D_ER on real faces only, so G can satisfy it with pixel-exact patterns
            that no other expression reader sees; a D_ER that must read expressions wherever the
            face sits leaves G less room for them.
        d_fr_every: update D_FR on iterations where ``step % d_fr_every == 0`` [D_GAP_FR].
        d_er_every: update D_ER on iterations where ``step % d_er_every == 0`` [D_GAP_ER].
        channels_last: run convolutions on channels-last activations (faster on CPU and recent
            GPUs; parameters stay contiguous and results are the same up to float rounding).
        faithful: reproduce the released code where genfer deliberately differs and the difference
            can change results; today that is the expression-perceptual term, which the release
            computed on detached features so that it never had a gradient (it only matters when
            ``lambda_per_expr`` is not 0).
    """

    image_size: int = 128
    channels: int = 1
    num_classes: int = 7
    num_identities: int = 20
    noise_dim: int = 256
    enc_widths: tuple[int, int, int, int] = (32, 64, 128, 128)
    inception_width: int = 16
    n_inception: int = 4
    fc_width: int = 1024
    dropout: float = 0.5
    dec_width: int = 128
    n_res_blocks: int = 6
    dec_up_widths: tuple[int, int, int, int] = (512, 256, 128, 64)
    lambda_g_face: float = 0.2
    lambda_g_expr: float = 0.8
    lambda_per_face: float = 1.0
    lambda_per_expr: float = 0.0
    lambda_dic_face: float = 5.0
    lambda_dic_expr: float = 5.0
    lambda_d_face_real: float = 1.0
    lambda_d_face_fake: float = 1.0
    lambda_d_expr_real: float = 1.0
    lambda_g_cls: float = 0.0
    er_warmup_steps: int = 0
    d_er_shift: float = 0.0
    d_fr_every: int = 5
    d_er_every: int = 10
    channels_last: bool = True
    faithful: bool = False

    def __post_init__(self) -> None:
        pooled_size(self.image_size)  # raises ValueError for unusable sizes
        for name in ("channels", "num_classes", "num_identities", "inception_width", "fc_width", "dec_width"):
            if getattr(self, name) < 1:
                raise ValueError(f"tdgan: {name} must be >= 1, got {getattr(self, name)}")
        for name in ("noise_dim", "n_inception", "n_res_blocks"):
            if getattr(self, name) < 0:
                raise ValueError(f"tdgan: {name} must be >= 0, got {getattr(self, name)}")
        for name in ("enc_widths", "dec_up_widths"):
            widths = tuple(getattr(self, name))
            if len(widths) != 4 or min(widths) < 1:
                raise ValueError(f"tdgan: {name} must be 4 positive widths, got {widths}")
            setattr(self, name, widths)
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"tdgan: dropout must be in [0, 1), got {self.dropout}")
        if self.er_warmup_steps < 0:
            raise ValueError(f"tdgan: er_warmup_steps must be >= 0, got {self.er_warmup_steps}")
        if not 0.0 <= self.d_er_shift < 0.5:
            raise ValueError(f"tdgan: d_er_shift must be in [0, 0.5), got {self.d_er_shift}")
        if self.d_fr_every < 1 or self.d_er_every < 1:
            raise ValueError("tdgan: d_fr_every and d_er_every must be >= 1")

    @property
    def feature_size(self) -> int:
        """Side of the encoders' output feature map (image_size / 16)."""
        return pooled_size(self.image_size)
