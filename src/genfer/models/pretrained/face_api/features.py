"""face-api.js ``FaceFeatureExtractor`` (112x112 RGB -> 256 features) and the FC heads on it.

The expression net and the 68-landmark net share this architecture (each has its own weights):
four dense blocks halve the map (112 -> 56 -> 28 -> 14 -> 7), a 7x7 'valid' average pool
gives 256 features, one fully connected layer gives the head's outputs (7 expression logits or
136 landmark coordinates).

A dense block (face-api ``denseBlock4``) with ``c1 = relu(conv0(x))`` (stride 2)::

    c2 = conv1(c1); c3 = conv2(relu(c1 + c2)); c4 = conv3(relu(c1 + c2 + c3))
    out = relu(c1 + c2 + c3 + c4)

where ``dense0.conv0`` is a plain 3x3 conv and every other conv is depthwise-separable (3x3
depthwise, 1x1 pointwise, then bias), all with TensorFlow 'same' padding: at stride 2 on an even
map that pads one pixel at the bottom/right only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genfer.models.pretrained import tfjs
from genfer.models.pretrained.face_api.input import Images, normalize, to_batch_tensor

INPUT_SIZE = 112
_CHANNELS = ((3, 32), (32, 64), (64, 128), (128, 256))


def _same(x: Tensor, stride: int) -> tuple[Tensor, int]:
    """TF 'same' for a 3x3 kernel: symmetric padding left to the conv, else padded here first."""
    if tfjs.tf_same_pad(x.shape[-2], 3, stride) == tfjs.tf_same_pad(x.shape[-1], 3, stride) == (1, 1):
        return x, 1
    return tfjs.pad_same(x, 3, stride), 0


class Conv(nn.Module):
    """Plain conv (``filters [O, I, 3, 3]``, ``bias``)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.filters = nn.Parameter(torch.zeros(cout, cin, 3, 3))
        self.bias = nn.Parameter(torch.zeros(cout))

    def forward(self, x: Tensor, stride: int) -> Tensor:
        x, pad = _same(x, stride)
        return F.conv2d(x, self.filters, self.bias, stride=stride, padding=pad)


class SeparableConv(nn.Module):
    """tfjs ``separableConv2d`` + bias.

    Weights: ``depthwise_filter [C, 1, 3, 3]``, ``pointwise_filter [O, C, 1, 1]``, ``bias [O]``.
    """

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.depthwise_filter = nn.Parameter(torch.zeros(cin, 1, 3, 3))
        self.pointwise_filter = nn.Parameter(torch.zeros(cout, cin, 1, 1))
        self.bias = nn.Parameter(torch.zeros(cout))

    def forward(self, x: Tensor, stride: int) -> Tensor:
        x, pad = _same(x, stride)
        x = F.conv2d(x, self.depthwise_filter, stride=stride, padding=pad, groups=x.shape[1])
        return F.conv2d(x, self.pointwise_filter, self.bias)


class DenseBlock(nn.Module):
    """face-api ``denseBlock4`` (stride 2): ``[N, cin, H, W]`` -> ``[N, cout, H/2, W/2]``."""

    def __init__(self, cin: int, cout: int, first: bool) -> None:
        super().__init__()
        self.conv0 = Conv(cin, cout) if first else SeparableConv(cin, cout)
        self.conv1 = SeparableConv(cout, cout)
        self.conv2 = SeparableConv(cout, cout)
        self.conv3 = SeparableConv(cout, cout)

    def forward(self, x: Tensor) -> Tensor:
        c1 = F.relu(self.conv0(x, 2))
        c2 = self.conv1(c1, 1)
        c3 = self.conv2(F.relu(c1 + c2), 1)
        c4 = self.conv3(F.relu(c1 + (c2 + c3)), 1)
        return F.relu(c1 + (c2 + (c3 + c4)))


class FC(nn.Module):
    """Dense layer in tfjs layout: ``x @ weights + bias`` with ``weights [in, out]``."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.weights = nn.Parameter(torch.zeros(cin, cout))
        self.bias = nn.Parameter(torch.zeros(cout))

    def forward(self, x: Tensor) -> Tensor:
        return x @ self.weights + self.bias


class FaceProcessor(nn.Module):
    """Feature extractor + FC head (face-api ``FaceProcessor``): ``[N, 3, 112, 112]`` -> ``[N, outputs]``.

    Parameter names follow face-api's manifests (``dense1.conv2.depthwise_filter``, ``fc.weights``).

    Args:
        outputs: 7 (``FaceExpressionNet``) or 136 (``FaceLandmark68Net``).
    """

    def __init__(self, outputs: int) -> None:
        super().__init__()
        for i, (cin, cout) in enumerate(_CHANNELS):
            setattr(self, f"dense{i}", DenseBlock(cin, cout, first=i == 0))
        self.fc = FC(256, outputs)

    def features(self, x: Tensor) -> Tensor:
        """Normalised ``[N, 3, 112, 112]`` -> bottleneck features ``[N, 256]``."""
        for i in range(len(_CHANNELS)):
            x = getattr(self, f"dense{i}")(x)
        return F.avg_pool2d(x, 7, 2).flatten(1)

    def forward(self, x: Tensor) -> Tensor:
        """Normalised ``[N, 3, 112, 112]`` -> raw head outputs ``[N, outputs]`` (before softmax)."""
        return self.fc(self.features(x))

    def run(self, images: Images) -> tuple[Tensor, list[tuple[int, int]]]:
        """Crops -> raw head outputs with face-api's preprocessing, and each crop's ``(H, W)``.

        Args:
            images: ``[N, 3, H, W]`` uint8 or float in [0, 1], or a list of ``[3, H, W]`` crops.
        """
        batch, dims = to_batch_tensor(images, INPUT_SIZE)
        p = self.fc.weights
        x = normalize(batch.to(device=p.device, dtype=p.dtype))
        return self(x.contiguous(memory_format=torch.channels_last)), dims  # faster convs on CPU
