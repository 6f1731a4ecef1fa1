"""TDGAN's networks: the Inception-ResNet encoder, the FC classifier head, the decoder, the discriminators.

Defaults are the released code's (128 x 128 grey input). One encoder architecture is instantiated
four times with independent weights: the generator's face branch E_f and expression branch E_e,
and the trunks of the face discriminator D_FR and the expression discriminator D_ER. Every size
follows from the constructor arguments, so the same classes build reduced variants (32 or 64 px,
narrower layers) for tests and the CPU demo.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genfer.models.layers.conv_blocks import ConvNormReLU, PlainResBlock
from genfer.models.layers.norms import InstanceNorm2d, instance_norm_relu

N_POOLS = 4
"""The encoder halves the resolution four times; the decoder doubles it four times."""


def pooled_size(size: int, n: int = N_POOLS) -> int:
    """Side of the encoder output for a ``size`` input: ``n`` max-pools 3x3/2 with ``ceil_mode``.

    Raises:
        ValueError: if a pool would see fewer than 3 pixels or the decoder could not map the
            result back to ``size`` (``size`` must be a multiple of 16, at least 32).
    """
    s = size
    for _ in range(n):
        if s < 3:
            raise ValueError(f"image size {size} is too small for {n} 3x3 max-pools")
        s = math.ceil((s - 3) / 2) + 1
    if s * 2**n != size:
        raise ValueError(f"image size {size} must be a multiple of {2**n} (and >= 32)")
    return s


class InceptionResBlock(nn.Module):
    """Inception-ResNet block: three conv branches, a 1x1 projection, a scaled residual, ReLU.

    Branches: 1x1; 1x1 -> 3x3; 1x1 -> 3x3 -> 3x3, each ``width`` channels (conv-IN-ReLU). The
    concatenation goes through a plain 1x1 conv with bias back to ``channels``, is scaled by
    ``scale``, added to the input and passed through ReLU.

    Args:
        channels: input and output channels (64 in the paper).
        width: channels of every branch conv (16).
        scale: residual scale (0.17).
    """

    def __init__(self, channels: int = 64, width: int = 16, scale: float = 0.17) -> None:
        super().__init__()
        self.scale = scale
        self.branch0 = nn.Sequential(ConvNormReLU(channels, width, 1))
        self.branch1 = nn.Sequential(ConvNormReLU(channels, width, 1), ConvNormReLU(width, width, 3))
        self.branch2 = nn.Sequential(
            ConvNormReLU(channels, width, 1), ConvNormReLU(width, width, 3), ConvNormReLU(width, width, 3)
        )
        self.proj = nn.Conv2d(3 * width, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        """x: [B, channels, H, W] -> [B, channels, H, W]."""
        out = torch.cat((self.branch0(x), self.branch1(x), self.branch2(x)), 1)
        return F.relu(self.proj(out) * self.scale + x)

    def extra_repr(self) -> str:
        return f"scale={self.scale}"


class Encoder(nn.Module):
    """Inception-ResNet encoder with instance norm (E_f, E_e and both discriminator trunks).

    conv5x5 -> pool -> conv5x5 -> pool -> n x InceptionResBlock -> conv5x5 -> pool -> conv5x5 ->
    pool, every conv being conv (no bias) -> IN(affine, eps 1e-3) -> ReLU and every pool a
    3x3/2 max-pool with ``ceil_mode``. At the defaults: [B, 1, 128, 128] -> [B, 128, 8, 8].

    Args:
        in_channels: image channels (1 = grey).
        widths: output channels of the four 5x5 convs; the inception blocks run at ``widths[1]``.
        inception_width: channels of each inception branch.
        n_inception: number of inception blocks.
        inception_scale: residual scale of the inception blocks.
    """

    def __init__(
        self,
        in_channels: int = 1,
        widths: tuple[int, int, int, int] = (32, 64, 128, 128),
        inception_width: int = 16,
        n_inception: int = 4,
        inception_scale: float = 0.17,
    ) -> None:
        super().__init__()
        self.out_channels = widths[3]
        self.conv1 = ConvNormReLU(in_channels, widths[0], 5)
        self.conv2 = ConvNormReLU(widths[0], widths[1], 5)
        self.blocks = nn.Sequential(
            *(InceptionResBlock(widths[1], inception_width, inception_scale) for _ in range(n_inception))
        )
        self.conv3 = ConvNormReLU(widths[1], widths[2], 5)
        self.conv4 = ConvNormReLU(widths[2], widths[3], 5)

    @staticmethod
    def _pool(x: Tensor) -> Tensor:
        return F.max_pool2d(x, 3, 2, ceil_mode=True)

    def forward(self, x: Tensor) -> Tensor:
        """x: [B, C, H, W] in [0, 1] -> features [B, widths[3], H/16, W/16]."""
        x = self._pool(self.conv1(x))
        x = self._pool(self.conv2(x))
        x = self.blocks(x)
        x = self._pool(self.conv3(x))
        return self._pool(self.conv4(x))


class ClassifierHead(nn.Module):
    """Flatten -> Dropout -> Linear -> ReLU -> Dropout -> Linear -> ReLU -> Linear.

    Used as M_ER (on E_e's features) and as the heads of D_FR and D_ER. Linear weights are
    initialised N(0, 0.02) with zero bias, as released.

    Args:
        in_features: flattened feature size (128 * 8 * 8 at the defaults).
        num_classes: output logits.
        hidden: width of the two hidden layers (1024).
        dropout: drop probability before the first two linear layers (0.5).
    """

    def __init__(self, in_features: int, num_classes: int, hidden: int = 1024, dropout: float = 0.5) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.fc3 = nn.Linear(hidden, num_classes)
        self.dropout = nn.Dropout(dropout)
        for m in (self.fc1, self.fc2, self.fc3):
            nn.init.normal_(m.weight, 0.0, 0.02)
            nn.init.zeros_(m.bias)

    def forward(self, f: Tensor) -> Tensor:
        """f: [B, ...] features -> logits [B, num_classes]."""
        h = F.relu(self.fc1(self.dropout(f.flatten(1))))
        h = F.relu(self.fc2(self.dropout(h)))
        return self.fc3(h)


class UpBlock(nn.Module):
    """ConvTranspose 4x4/2 (no bias) -> instance norm (no affine) -> ReLU: doubles H and W.

    Args:
        in_channels: input channels.
        out_channels: output channels.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.ConvTranspose2d(in_channels, out_channels, 4, 2, 1, bias=False)
        self.norm = InstanceNorm2d(out_channels)

    def forward(self, x: Tensor) -> Tensor:
        """x: [B, C_in, H, W] -> [B, C_out, 2H, 2W]."""
        return instance_norm_relu(self.conv(x), None, None, self.norm.eps)


class Decoder(nn.Module):
    """Generator decoder: [E_e feature, E_f feature, noise] -> image.

    Conv3x3 -> ReLU to ``width`` channels, ``n_res_blocks`` plain residual blocks, four
    :class:`UpBlock` s, a 3x3 stride-1 transposed conv (no bias) and a sigmoid. Conv weights get
    the DCGAN init N(0, 0.02); biases keep PyTorch's default, as released.

    Args:
        feat_channels: channels of each branch's feature map (128).
        noise_dim: noise channels Nz (256); 0 disables the noise input.
        out_channels: image channels.
        width: channels of the embedding conv and residual blocks (128).
        n_res_blocks: residual blocks (6).
        up_widths: output channels of the four upsampling blocks (512, 256, 128, 64).
    """

    def __init__(
        self,
        feat_channels: int = 128,
        noise_dim: int = 256,
        out_channels: int = 1,
        width: int = 128,
        n_res_blocks: int = 6,
        up_widths: tuple[int, int, int, int] = (512, 256, 128, 64),
    ) -> None:
        super().__init__()
        self.noise_dim = noise_dim
        self.emb = nn.Conv2d(2 * feat_channels + noise_dim, width, 3, padding=1)
        self.res = nn.Sequential(*(PlainResBlock(width) for _ in range(n_res_blocks)))
        chans = (width, *up_widths)
        self.ups = nn.Sequential(*(UpBlock(chans[i], chans[i + 1]) for i in range(len(up_widths))))
        self.out = nn.ConvTranspose2d(up_widths[-1], out_channels, 3, 1, 1, bias=False)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.normal_(m.weight, 0.0, 0.02)

    def forward(self, f_er: Tensor, f_fr: Tensor, noise: Tensor | None) -> Tensor:
        """Decode one image per sample.

        Args:
            f_er: expression-branch features [B, feat_channels, h, w].
            f_fr: face-branch features [B, feat_channels, h, w].
            noise: [B, noise_dim, h, w] (U[0, 1) in TDGAN); ``None`` when ``noise_dim`` is 0.

        Returns:
            Image [B, out_channels, 16h, 16w] in (0, 1).
        """
        parts = (f_er, f_fr) if noise is None else (f_er, f_fr, noise)
        h = self.res(F.relu(self.emb(torch.cat(parts, 1))))
        return torch.sigmoid(self.out(self.ups(h)))


class Discriminator(nn.Module):
    """Classifier-as-discriminator: an :class:`Encoder` trunk plus a :class:`ClassifierHead`.

    D_FR classifies identities plus one "fake" class; D_ER classifies expressions. The trunk's
    features also serve the face-perceptual loss, so ``trunk`` and ``head`` are exposed.

    Args:
        enc: the trunk.
        head: the classifier on the flattened trunk features.
    """

    def __init__(self, enc: Encoder, head: ClassifierHead) -> None:
        super().__init__()
        self.enc = enc
        self.fc = head

    def trunk(self, x: Tensor) -> Tensor:
        """x: [B, C, H, W] -> features [B, C_f, h, w]."""
        return self.enc(x)

    def head(self, f: Tensor) -> Tensor:
        """f: [B, C_f, h, w] -> logits [B, num_classes]."""
        return self.fc(f)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x: [B, C, H, W] -> (features [B, C_f, h, w], logits [B, num_classes])."""
        f = self.enc(x)
        return f, self.fc(f)
