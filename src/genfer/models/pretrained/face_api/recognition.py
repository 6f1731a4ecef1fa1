"""face-api.js ``FaceRecognitionNet``: a ResNet-34-like 128-D face descriptor (150x150 RGB input).

face-api's net is a tfjs conversion of dlib's ``dlib_face_recognition_resnet_model_v1`` (its
authors report 99.38% on LFW for dlib's); descriptors of the same person lie within Euclidean
distance ~0.6, face-api's matching threshold.

Layer graph (face-api ``FaceRecognitionNet.forwardInput``), every conv followed by a bias and a
per-channel affine "scale" layer (``x * weights + biases``, dlib's folded batch norm):

- input: padded to a centred square, tfjs-resized to 150, ``(x - MEAN_RGB) / 255``;
- ``conv32_down``: 7x7 stride 2 'valid' + ReLU (150 -> 72), 3x3 stride 2 'valid' max-pool (-> 35);
- residual blocks ``conv32_1..3`` (35), ``conv64_down, conv64_1..3`` (17), ``conv128_down,
  conv128_1..2`` (8), ``conv256_down, conv256_1..2`` (4), ``conv256_down_out`` (2);
  a block is conv3x3+ReLU, conv3x3, plus the input, ReLU. A "down" block's first conv is 3x3
  stride 2 'valid' and its shortcut a 2x2 stride 2 average pool, zero-padded in channels when the
  width doubles; where the pooled map is one pixel larger (8 -> 3 vs 4, 4 -> 1 vs 2) the conv
  path gets a zero row and column at the bottom/right, as face-api does;
- global average pool, ``x @ fc`` (256 -> 128, no bias, no normalisation).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genfer.models.pretrained.face_api.input import Images, normalize, to_batch_tensor

INPUT_SIZE = 150

_BLOCKS = (
    ("conv32_1", 32, False), ("conv32_2", 32, False), ("conv32_3", 32, False),
    ("conv64_down", 64, True), ("conv64_1", 64, False), ("conv64_2", 64, False), ("conv64_3", 64, False),
    ("conv128_down", 128, True), ("conv128_1", 128, False), ("conv128_2", 128, False),
    ("conv256_down", 256, True), ("conv256_1", 256, False), ("conv256_2", 256, False),
    ("conv256_down_out", 256, True),
)  # fmt: skip


class _Conv(nn.Module):
    """tfjs conv weights: ``filters [O, I, k, k]`` (torch layout) and ``bias [O]``."""

    def __init__(self, cin: int, cout: int, k: int) -> None:
        super().__init__()
        self.filters = nn.Parameter(torch.zeros(cout, cin, k, k))
        self.bias = nn.Parameter(torch.zeros(cout))


class _Scale(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.weights = nn.Parameter(torch.ones(c))
        self.biases = nn.Parameter(torch.zeros(c))


class ConvLayer(nn.Module):
    """conv + bias, then the scale layer; ``down``: stride 2 'valid', else stride 1 'same'."""

    def __init__(self, cin: int, cout: int, k: int = 3) -> None:
        super().__init__()
        self.conv = _Conv(cin, cout, k)
        self.scale = _Scale(cout)

    def forward(self, x: Tensor, down: bool = False, relu: bool = True) -> Tensor:
        k = self.conv.filters.shape[-1]
        # stride 1 'same' with an odd kernel is symmetric; stride 2 here is always 'valid'
        stride, pad = (2, 0) if down else (1, k // 2)
        # the scale layer folded into the conv: (conv(x) + b) * s + c == conv_{w*s}(x) + (b * s + c)
        s = self.scale.weights
        w = self.conv.filters * s.view(-1, 1, 1, 1)
        x = F.conv2d(x, w, self.conv.bias * s + self.scale.biases, stride=stride, padding=pad)
        return F.relu(x) if relu else x


class ResidualLayer(nn.Module):
    """Two 3x3 conv layers and a shortcut (average pool and zero channels for ``down``)."""

    def __init__(self, cin: int, cout: int, down: bool) -> None:
        super().__init__()
        self.down = down
        self.conv1 = ConvLayer(cin, cout)
        self.conv2 = ConvLayer(cout, cout)

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv2(self.conv1(x, down=self.down), relu=False)
        if not self.down:
            return F.relu(out + x)
        pooled = F.avg_pool2d(x, 2, 2)
        if pooled.shape[-2:] != out.shape[-2:]:
            # face-api appends one zero row and one zero column (the sizes differ by exactly one)
            out = F.pad(out, (0, 1, 0, 1))
        if pooled.shape[1] != out.shape[1]:
            pooled = torch.cat([pooled, torch.zeros_like(pooled)], 1)
        return F.relu(pooled + out)


class FaceRecognitionNet(nn.Module):
    """face-api's descriptor net: normalised ``[N, 3, 150, 150]`` -> ``[N, 128]``.

    Parameter names follow face-api's manifest (``conv32_1.conv1.conv.filters``, ``fc``).
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv32_down = ConvLayer(3, 32, 7)
        cin = 32
        for name, cout, down in _BLOCKS:
            setattr(self, name, ResidualLayer(cin, cout, down))
            cin = cout
        self.fc = nn.Parameter(torch.zeros(256, 128))

    def forward(self, x: Tensor) -> Tensor:
        """``x``: float ``[N, 3, 150, 150]`` already normalised -> descriptors ``[N, 128]``."""
        out = F.max_pool2d(self.conv32_down(x, down=True), 3, 2)
        for name, _, _ in _BLOCKS:
            out = getattr(self, name)(out)
        return out.mean((2, 3)) @ self.fc

    def describe(self, images: Images) -> Tensor:
        """Face crops -> descriptors with face-api's preprocessing (pad, resize to 150, normalise).

        Args:
            images: ``[N, 3, H, W]`` uint8 or float in [0, 1] (float input stays differentiable),
                or a list of ``[3, H, W]`` crops of different sizes.

        Returns:
            float32 ``[N, 128]``.
        """
        batch, _ = to_batch_tensor(images, INPUT_SIZE)
        p = self.fc
        x = normalize(batch.to(device=p.device, dtype=p.dtype))
        return self(x.contiguous(memory_format=torch.channels_last))  # faster convs on CPU
