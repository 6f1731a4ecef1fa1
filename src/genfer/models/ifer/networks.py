"""The IFER classifier (the release's ``scripts/ifer.py: ifer_model``): ASIT's encoder + feature modulation.

``codes, s = encoder(x)`` (no ``latent_avg``: the release adds it only when decoding), the style
``w = mean(codes)`` over the ``n_styles`` codes, then the structure code ``s`` goes through a 1x1
conv and a demodulated 3x3 ``ModulatedConv2d`` modulated by ``EqualLinear(w)`` (bias init 1),
global average pooling and a linear layer over the classes. Parameter names follow the release
(``feature_model.*``, ``conv``, ``style_conv``, ``head``), so its checkpoints load after dropping
the encoder's dead ``norm``/``head`` entries.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from genfer.models.asit.networks import ASITEncoder
from genfer.models.layers.stylegan2 import ModulatedConv2d


def modulate(conv: nn.Module, style_conv: ModulatedConv2d, codes: Tensor, structure: Tensor) -> Tensor:
    """The feature modulation: ``GAP(style_conv(conv(structure), mean(codes)))`` -> ``[B, C]``."""
    return style_conv(conv(structure), codes.mean(1)).mean((2, 3))


class IFERClassifier(nn.Module):
    """``[B, 3, R, R]`` in [-1, 1] -> logits ``[B, num_classes]``.

    Args:
        num_classes: output classes (7 in the release).
        **encoder: :class:`ASITEncoder` arguments; the structure code's channels feed the head.
    """

    def __init__(self, num_classes: int = 7, **encoder: Any) -> None:
        super().__init__()
        self.feature_model = ASITEncoder(**encoder)
        c, w = self.feature_model.last_block.out_channels, self.feature_model.style_dim
        self.conv = nn.Conv2d(c, c, 1)
        self.style_conv = ModulatedConv2d(c, c, 3, w, demodulate=True)
        self.head = nn.Linear(c, num_classes)

    def features(self, x: Tensor) -> Tensor:
        """The pooled, modulated structure features ``[B, C]`` (before ``head``)."""
        codes, s = self.feature_model(x)
        return modulate(self.conv, self.style_conv, codes, s)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


__all__ = ["IFERClassifier"]
