"""LPIPS (Zhang et al., CVPR 2018), v0.1, with AlexNet or VGG16 features, in pure torch.

``LPIPS(x, y) = sum_l mean_hw( w_l . (f_l(x)/|f_l(x)| - f_l(y)/|f_l(y)|)^2 )``: backbone activations
at five ReLUs, unit-normalised over channels (eps 1e-10), squared difference, a learned
non-negative 1x1 weighting per layer ("lin" heads), spatial mean, sum over layers. Images enter
in [-1, 1] and are shifted/scaled by the LPIPS constants (shift -0.030, -0.088, -0.188; scale
0.458, 0.448, 0.450) before the backbone.

Weights (genfer downloads nothing):
- backbones: torchvision's ImageNet files ``alexnet-owt-7be5be79.pth`` and ``vgg16-397923af.pth``;
  the backbones here are declared as ``features`` ``nn.Sequential``s with torchvision's indices,
  so those files load by key (classifier keys are ignored).
- heads: ``lpips/weights/v0.1/{alex,vgg}.pth`` from the ``lpips`` wheel (``pip download
  --no-deps lpips``), loaded from the extracted file or straight from the wheel.
"""

from __future__ import annotations

import io
import itertools
import zipfile
from pathlib import Path

import torch
from torch import Tensor, nn

from genfer.metrics.weights import MissingWeightsError, WeightFile, cache_dir, torch_hub_checkpoints

LPIPS_NETS: tuple[str, ...] = ("alex", "vgg")
CHANNELS: dict[str, tuple[int, ...]] = {"alex": (64, 192, 384, 256, 256), "vgg": (64, 128, 256, 512, 512)}
# features-index ranges between the five taps (relu1..relu5 / relu1_2..relu5_3)
SLICES: dict[str, tuple[int, ...]] = {"alex": (0, 2, 5, 8, 10, 12), "vgg": (0, 4, 9, 16, 23, 30)}
BACKBONE_WEIGHTS: dict[str, WeightFile] = {
    "alex": WeightFile(
        "alexnet-owt-7be5be79.pth",
        "7be5be79",
        "torchvision's ImageNet AlexNet weights (AlexNet_Weights.IMAGENET1K_V1; a machine with torchvision "
        "caches it in $TORCH_HOME/hub/checkpoints)",
        env="GENFER_LPIPS_ALEX",
    ),
    "vgg": WeightFile(
        "vgg16-397923af.pth",
        "397923af",
        "torchvision's ImageNet VGG16 weights (VGG16_Weights.IMAGENET1K_V1; a machine with torchvision "
        "caches it in $TORCH_HOME/hub/checkpoints)",
        env="GENFER_LPIPS_VGG",
    ),
}
HEADS_SOURCE = "the lpips wheel (`pip download --no-deps lpips`), file lpips/weights/v0.1/{net}.pth"


def alexnet_features() -> nn.Sequential:
    """torchvision AlexNet ``features`` (indices 0..12) without weights."""
    return nn.Sequential(
        nn.Conv2d(3, 64, 11, stride=4, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(256, 256, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(3, 2),
    )


def vgg16_features() -> nn.Sequential:
    """torchvision VGG16 ``features`` (indices 0..30) without weights."""
    layers: list[nn.Module] = []
    cin = 3
    for v in (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"):
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(cin, int(v), 3, padding=1), nn.ReLU()]
            cin = int(v)
    return nn.Sequential(*layers)


class LinHead(nn.Module):
    """A v0.1 "lin" head: (dropout, unused at eval) + bias-free 1x1 conv to one channel.

    Its only parameter is ``model.1.weight`` ``[1, C, 1, 1]``, the key layout of the lpips files.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.model = nn.Sequential(nn.Dropout(), nn.Conv2d(channels, 1, 1, bias=False))

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)


class LPIPS(nn.Module):
    """LPIPS distance network.

    Args:
        net: ``alex`` or ``vgg``.

    Call ``lpips(x, y, value_range=(0, 1))`` on ``[N, 3, H, W]`` images to get ``[N]`` distances.
    """

    def __init__(self, net: str = "alex") -> None:
        super().__init__()
        if net not in LPIPS_NETS:
            raise ValueError(f"unknown LPIPS network {net!r}; known: {', '.join(LPIPS_NETS)}")
        self.net = net
        self.features = alexnet_features() if net == "alex" else vgg16_features()
        for i, c in enumerate(CHANNELS[net]):
            self.add_module(f"lin{i}", LinHead(c))
        shift, scale = torch.tensor([-0.030, -0.088, -0.188]), torch.tensor([0.458, 0.448, 0.450])
        self.register_buffer("shift", shift.view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", scale.view(1, 3, 1, 1), persistent=False)
        self.weights_id = {"backbone": "random-init", "heads": "random-init"}

    def taps(self, x: Tensor) -> list[Tensor]:
        """Activations at the five LPIPS layers of ``[N, 3, H, W]`` images already in [-1, 1]."""
        h = (x - self.shift) / self.scale
        out = []
        b = SLICES[self.net]
        for lo, hi in itertools.pairwise(b):
            for i in range(lo, hi):
                h = self.features[i](h)
            out.append(h)
        return out

    def forward(self, x: Tensor, y: Tensor, value_range: tuple[float, float] = (-1.0, 1.0)) -> Tensor:
        """``[N]`` LPIPS distances between ``x`` and ``y`` (``[N, 3, H, W]`` in ``value_range``)."""
        if x.shape != y.shape:
            raise ValueError(f"LPIPS inputs differ in shape: {tuple(x.shape)} vs {tuple(y.shape)}")
        lo, hi = value_range
        x = (x.float() - lo) / (hi - lo) * 2 - 1
        y = (y.float() - lo) / (hi - lo) * 2 - 1
        n = x.shape[0]
        taps = self.taps(torch.cat([x, y]))  # one backbone pass for both sets
        total = torch.zeros(n, device=x.device)
        for i, f in enumerate(taps):
            a, b = f[:n], f[n:]
            a = a / (a.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            b = b / (b.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            total = total + getattr(self, f"lin{i}")((a - b) ** 2).mean((1, 2, 3))
        return total

    # --- weights ------------------------------------------------------------------------------
    def load_backbone(self, sd: dict[str, Tensor]) -> None:
        """Load torchvision's ``features.N.*`` keys (other keys, e.g. the classifier, are ignored)."""
        feats = {k[len("features.") :]: v for k, v in sd.items() if k.startswith("features.")}
        own = self.features.state_dict()
        missing, unexpected = sorted(set(own) - set(feats)), sorted(set(feats) - set(own))
        if missing or unexpected:
            raise KeyError(f"{self.net} backbone keys differ: missing {missing}, unexpected {unexpected}")
        bad = [k for k in own if own[k].shape != feats[k].shape]
        if bad:
            raise ValueError(f"{self.net} backbone shapes differ at features.{bad[0]}")
        self.features.load_state_dict(feats)

    def load_heads(self, sd: dict[str, Tensor]) -> None:
        """Load the v0.1 ``lin{i}.model.1.weight`` heads."""
        want = {f"lin{i}.model.1.weight" for i in range(len(CHANNELS[self.net]))}
        if set(sd) != want:
            raise KeyError(f"{self.net} LPIPS heads expected keys {sorted(want)}, got {sorted(sd)}")
        for i in range(len(CHANNELS[self.net])):
            getattr(self, f"lin{i}").load_state_dict({"model.1.weight": sd[f"lin{i}.model.1.weight"]})


def read_heads(net: str, path: str | Path) -> dict[str, Tensor]:
    """The v0.1 heads of ``net`` from an extracted ``.pth`` or from the lpips wheel (``.whl``)."""
    p = Path(path)
    if p.suffix == ".whl":
        with zipfile.ZipFile(p) as z:
            try:
                data = z.read(f"lpips/weights/v0.1/{net}.pth")
            except KeyError:
                raise MissingWeightsError(f"{p} holds no lpips/weights/v0.1/{net}.pth") from None
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    return torch.load(p, map_location="cpu", weights_only=True)


def find_heads(net: str, path: str | Path | None = None) -> Path:
    """The heads file: path, ``<cache>/lpips/v0.1/<net>.pth``, else a wheel in ``<cache>/lpips``."""
    if path is not None:
        p = Path(path).expanduser()
        if not p.is_file():
            raise MissingWeightsError(f"{p} missing; get the heads from {HEADS_SOURCE.format(net=net)}")
        return p
    d = cache_dir() / "lpips"
    direct = d / "v0.1" / f"{net}.pth"
    # also where genfer.core.weights extracts packaged weights (<cache>/weights/<package>/...)
    for p in (direct, cache_dir() / "weights" / "lpips" / "v0.1" / f"{net}.pth"):
        if p.is_file():
            return p
    wheels = sorted(d.glob("lpips-*.whl"))
    if wheels:
        return wheels[-1]
    raise MissingWeightsError(
        f"LPIPS v0.1 {net} heads not found at {direct} or as a wheel in {d}. Get them from "
        f"{HEADS_SOURCE.format(net=net)}: `pip download --no-deps lpips -d {d}` puts the wheel where genfer "
        "looks. genfer never downloads weights itself."
    )


def load_lpips(
    net: str = "alex",
    backbone: str | Path | None = None,
    heads: str | Path | None = None,
    check_hash: bool = True,
) -> LPIPS:
    """LPIPS with published weights, in eval mode with gradients off.

    Args:
        net: ``alex`` or ``vgg``.
        backbone: torchvision weights file; None searches ``$GENFER_LPIPS_{ALEX,VGG}``,
            ``<cache>/weights/`` and torch.hub's checkpoint folder.
        heads: v0.1 heads ``.pth`` or the lpips wheel; None searches ``<cache>/lpips/``.
        check_hash: verify the backbone's SHA-256 prefix.

    Raises:
        MissingWeightsError: a file is missing (the message says where to get it).
    """
    from genfer.metrics.weights import sha256_file

    m = LPIPS(net)
    wf = BACKBONE_WEIGHTS[net]
    bpath = wf.locate(backbone, extra_dirs=[torch_hub_checkpoints()], check=check_hash)
    m.load_backbone(torch.load(bpath, map_location="cpu", weights_only=True))
    hpath = find_heads(net, heads)
    m.load_heads(read_heads(net, hpath))
    m.weights_id = {"backbone": sha256_file(bpath), "heads": f"{hpath.name}:v0.1/{net}.pth"}
    return m.eval().requires_grad_(False)
