"""VGG19 with batch norm (Simonyan & Zisserman 2015), in torchvision's key layout.

``vgg19_bn_features`` builds the convolutional trunk as one ``nn.Sequential`` whose indices are
torchvision's ``vgg19_bn().features`` (Conv2d at 0, 3, 7, ...; BatchNorm2d right after each conv;
MaxPool2d at 6, 13, 26, 39, 52), so ImageNet weights a user supplies in that layout load by name
(:func:`load_torchvision_vgg19_bn`). ``width`` divides every channel count, for tiny test
networks; ``width=1`` is the published network.

:class:`VGG19BN` is the trunk plus torchvision's classifier (``AdaptiveAvgPool2d(7)``, Linear
25088 -> 4096 -> 4096, ReLU + dropout) and a new last layer ``new_fc`` over any number of classes,
as JESRL's expression classifiers are built. :func:`vgg_perceptual` is the weighted L1 between
activations of the first 30 trunk modules that JESRL's ``VGGLoss`` computes.

No weights are downloaded: genfer never fetches ImageNet weights itself.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genfer.core.errors import GenferError

CFG_E: tuple[int | str, ...] = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
                                512, 512, 512, 512, "M", 512, 512, 512, 512, "M")
"""VGG19's configuration "E": conv widths, ``M`` = 2x2 max-pool."""

PERCEPTUAL_SLICES: tuple[tuple[int, int], ...] = ((0, 2), (2, 7), (7, 12), (12, 21), (21, 30))
"""The trunk slices whose outputs JESRL's VGG loss compares (after conv1_1's BN, relu1_2, relu2_2's
pool input, relu3_4-ish, relu4_2-ish in index terms)."""
PERCEPTUAL_WEIGHTS: tuple[float, ...] = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)


def vgg19_bn_features(in_channels: int = 3, width: int = 1) -> nn.Sequential:
    """The VGG19-BN trunk: ``[B, in, H, W]`` -> ``[B, 512 / width, H / 32, W / 32]``."""
    layers: list[nn.Module] = []
    c = in_channels
    for v in CFG_E:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            out = int(v) // width
            layers += [nn.Conv2d(c, out, 3, padding=1), nn.BatchNorm2d(out), nn.ReLU()]
            c = out
    return nn.Sequential(*layers)


def vgg_classifier(in_features: int, hidden: int = 4096, dropout: float = 0.5) -> nn.Sequential:
    """torchvision's VGG classifier without its last layer (keys ``0`` and ``3``)."""
    return nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Dropout(dropout),
                         nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout))


def vgg_head(channels: int, num_classes: int, hidden: int,
             dropout: float = 0.5) -> tuple[nn.Module, nn.Module, nn.Linear]:
    """``(avgpool, classifier, new_fc)`` over a ``channels``-wide trunk.

    ``hidden > 0``: torchvision's head (7x7 pool, two hidden FCs of ``hidden``). ``hidden == 0``: a
    global average pool straight into ``new_fc``, for small nets trained from random init: on 64 px
    SynthFace the narrow trunk under the 7x7 head stays at chance for 2,000 steps with Adam or SGD,
    while under this head it learns (benchmarks/RESULTS.md, JESRL stop 22).
    """
    if hidden:
        head = vgg_classifier(channels * 49, hidden, dropout)
        return nn.AdaptiveAvgPool2d((7, 7)), head, nn.Linear(hidden, num_classes)
    return nn.AdaptiveAvgPool2d(1), nn.Identity(), nn.Linear(channels, num_classes)


class VGG19BN(nn.Module):
    """A VGG19-BN classifier over ``num_classes`` (the trunk, the 7x7 pool, the two hidden FCs, ``new_fc``).

    Args:
        num_classes: outputs of ``new_fc``.
        in_channels: image channels.
        width: divides every trunk channel count (1 = the published network).
        hidden: width of the two hidden FC layers (4096 published); 0 = no hidden layers: a global
            average pool and ``new_fc`` (:func:`vgg_head`).
        dropout: dropout after each hidden FC.
    """

    def __init__(self, num_classes: int, in_channels: int = 3, width: int = 1, hidden: int = 4096,
                 dropout: float = 0.5) -> None:
        super().__init__()
        self.features = vgg19_bn_features(in_channels, width)
        self.out_channels = 512 // width
        self.avgpool, self.classifier, self.new_fc = vgg_head(self.out_channels, num_classes, hidden, dropout)

    def forward(self, x: Tensor) -> Tensor:
        """``[B, C, H, W]`` (H, W multiples of 32) -> logits ``[B, num_classes]``."""
        return self.new_fc(self.classifier(self.avgpool(self.features(x)).flatten(1)))


def perceptual_slice(features: nn.Sequential) -> nn.Sequential:
    """The first 30 trunk modules (``features.0`` .. ``features.29``), which JESRL's VGG loss uses."""
    return features[: PERCEPTUAL_SLICES[-1][1]]


def vgg_perceptual(features: nn.Sequential, x: Tensor, y: Tensor) -> Tensor:
    """JESRL's ``VGGLoss``: weighted L1 between VGG19-BN trunk activations.

    ``sum_l w_l * mean|f_l(x) - f_l(y)|`` over :data:`PERCEPTUAL_SLICES` with
    :data:`PERCEPTUAL_WEIGHTS`; ``y`` (the target) runs without a graph.

    Args:
        features: a trunk from :func:`vgg19_bn_features` (in eval mode for a frozen loss net).
        x: ``[B, C, H, W]``, gets gradients.
        y: the target, same shape.
    """
    def acts(z: Tensor) -> list[Tensor]:
        out = []
        for a, b in PERCEPTUAL_SLICES:
            for m in features[a:b]:
                z = m(z)
            out.append(z)
        return out

    with torch.no_grad():
        fy = acts(y)
    return sum(w * F.l1_loss(a, b) for w, a, b in zip(PERCEPTUAL_WEIGHTS, acts(x), fy, strict=True))


def load_torchvision_vgg19_bn(model: nn.Module, path: str | Path) -> list[str]:
    """Load torchvision ``vgg19_bn`` ImageNet weights (a ``.safetensors`` or weights-only ``.pth``).

    Keys are matched by name and shape, as JESRL's ``Classify`` did: ``features.*``, and the
    ``classifier.0``/``classifier.3`` layers when ``model`` has them with the same shape; torchvision's
    last layer (``classifier.6``, 1000 classes) is never loaded. Returns the keys loaded.

    Raises:
        GenferError: the file is missing, unreadable, or holds no VGG19-BN trunk key.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise GenferError("no such file", path=path, fix="give torchvision's vgg19_bn ImageNet weights "
                          "(vgg19_bn-c79401a0.pth or a .safetensors of that state dict)")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise GenferError(f"cannot read weights ({e.__class__.__name__}: {e})", path=path) from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    own = model.state_dict()
    loaded = [k for k, v in state.items() if k in own and own[k].shape == v.shape
              and (k.startswith("features.") or k.startswith(("classifier.0.", "classifier.3.")))]
    if not any(k.startswith("features.") for k in loaded):
        raise GenferError("no vgg19_bn trunk key (features.0.weight ...) of the right shape", path=path)
    model.load_state_dict({k: state[k] for k in loaded}, strict=False)
    return loaded


__all__ = [
    "CFG_E",
    "PERCEPTUAL_SLICES",
    "PERCEPTUAL_WEIGHTS",
    "VGG19BN",
    "load_torchvision_vgg19_bn",
    "perceptual_slice",
    "vgg19_bn_features",
    "vgg_classifier",
    "vgg_head",
    "vgg_perceptual",
]
