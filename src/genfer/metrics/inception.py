"""The TF-compatible InceptionV3 used by FID, KID and IS, in pure torch.

This is the 2015-12-05 TensorFlow Inception graph (the one the FID and IS papers used), declared
so that its parameter names are those of pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth``
(torchvision's Inception3 names without the auxiliary head). torch-fidelity's
``weights-inception-2015-12-05-6726825d.pth`` uses the same names, so both files load directly.

Differences from torchvision's ImageNet InceptionV3 that the TF graph needs:
- the average pools inside the Mixed_5*, Mixed_6b..e and Mixed_7b blocks exclude padding from
  the average (``count_include_pad=False``);
- Mixed_7c's pool branch is a *max* pool (a quirk of the TF graph);
- the classifier has 1008 outputs; Inception Score uses the bias-free logits
  (``pool @ fc.weight.T``), as the original IS code did.

The network takes images already resized to 299x299 and scaled to [-1, 1]; see
``genfer.metrics.resize`` for the resizing modes.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genfer.metrics.weights import WeightFile

FEATURE_DIM = 2048
NUM_LOGITS = 1008
INPUT_SIZE = 299

PYTORCH_FID_WEIGHTS = WeightFile(
    filename="pt_inception-2015-12-05-6726825d.pth",
    sha256="6726825d",
    source="the pytorch-fid project's GitHub release 'fid_weights' (mseitzer/pytorch-fid)",
    env="GENFER_FID_INCEPTION",
)
TORCH_FIDELITY_WEIGHTS = WeightFile(
    filename="weights-inception-2015-12-05-6726825d.pth",
    sha256="6726825d",
    source="the torch-fidelity project's GitHub release v0.2.0 (toshas/torch-fidelity)",
    env="GENFER_FID_INCEPTION",
)


class BasicConv2d(nn.Module):
    """Conv (no bias) -> BatchNorm (eps 1e-3, as TF) -> ReLU."""

    def __init__(self, cin: int, cout: int, kernel_size: int | tuple[int, int], **kw: int | tuple[int, int]):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel_size, bias=False, **kw)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv(x)), inplace=True)


def _tf_avg_pool(x: Tensor) -> Tensor:
    # TF's SAME-padded 3x3 average ignores the padded positions
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


class InceptionA(nn.Module):
    """35x35 block: 1x1, 5x5, double 3x3 and pooled branches -> 224 + pool_features channels."""

    def __init__(self, cin: int, pool_features: int):
        super().__init__()
        self.branch1x1 = BasicConv2d(cin, 64, 1)
        self.branch5x5_1 = BasicConv2d(cin, 48, 1)
        self.branch5x5_2 = BasicConv2d(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, padding=1)
        self.branch_pool = BasicConv2d(cin, pool_features, 1)

    def forward(self, x: Tensor) -> Tensor:
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch1x1(x), b5, b3, self.branch_pool(_tf_avg_pool(x))], 1)


class InceptionB(nn.Module):
    """35 -> 17 reduction block -> 384 + 96 + cin channels."""

    def __init__(self, cin: int):
        super().__init__()
        self.branch3x3 = BasicConv2d(cin, 384, 3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch3x3(x), b3, F.max_pool2d(x, 3, stride=2)], 1)


class InceptionC(nn.Module):
    """17x17 block with factorised 7x7 convolutions (c7 inner channels) -> 768 channels."""

    def __init__(self, cin: int, channels_7x7: int):
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = BasicConv2d(cin, 192, 1)
        self.branch7x7_1 = BasicConv2d(cin, c7, 1)
        self.branch7x7_2 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(cin, c7, 1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(cin, 192, 1)

    def forward(self, x: Tensor) -> Tensor:
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        d = self.branch7x7dbl_1(x)
        for layer in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            d = layer(d)
        return torch.cat([self.branch1x1(x), b7, d, self.branch_pool(_tf_avg_pool(x))], 1)


class InceptionD(nn.Module):
    """17 -> 8 reduction block -> 320 + 192 + cin channels."""

    def __init__(self, cin: int):
        super().__init__()
        self.branch3x3_1 = BasicConv2d(cin, 192, 1)
        self.branch3x3_2 = BasicConv2d(192, 320, 3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(cin, 192, 1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat([b3, b7, F.max_pool2d(x, 3, stride=2)], 1)


class InceptionE(nn.Module):
    """8x8 block with split 1x3/3x1 branches -> 2048 channels.

    Args:
        cin: input channels.
        pool: ``"avg"`` (TF average pool, Mixed_7b) or ``"max"`` (Mixed_7c in the TF graph).
    """

    def __init__(self, cin: int, pool: str = "avg"):
        super().__init__()
        self.pool = pool
        self.branch1x1 = BasicConv2d(cin, 320, 1)
        self.branch3x3_1 = BasicConv2d(cin, 384, 1)
        self.branch3x3_2a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(cin, 448, 1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(cin, 192, 1)

    def forward(self, x: Tensor) -> Tensor:
        s = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(s), self.branch3x3_2b(s)], 1)
        d = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = torch.cat([self.branch3x3dbl_3a(d), self.branch3x3dbl_3b(d)], 1)
        pooled = F.max_pool2d(x, 3, stride=1, padding=1) if self.pool == "max" else _tf_avg_pool(x)
        return torch.cat([self.branch1x1(x), b3, bd, self.branch_pool(pooled)], 1)


class FIDInceptionV3(nn.Module):
    """InceptionV3 of the 2015-12-05 TF graph: 2048-d pool features and 1008 logits.

    Input ``[N, 3, 299, 299]`` scaled to [-1, 1] (other sizes run, but FID is defined at 299).
    """

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, 3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, 1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, 3)
        self.Mixed_5b = InceptionA(192, 32)
        self.Mixed_5c = InceptionA(256, 64)
        self.Mixed_5d = InceptionA(288, 64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, 128)
        self.Mixed_6c = InceptionC(768, 160)
        self.Mixed_6d = InceptionC(768, 160)
        self.Mixed_6e = InceptionC(768, 192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280, pool="avg")
        self.Mixed_7c = InceptionE(2048, pool="max")
        self.fc = nn.Linear(FEATURE_DIM, NUM_LOGITS)

    def pool_features(self, x: Tensor) -> Tensor:
        """``[N, 3, H, W]`` in [-1, 1] -> ``[N, 2048]`` average-pooled Mixed_7c activations."""
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, 3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, 3, stride=2)
        for name in ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c"):
            x = getattr(self, f"Mixed_{name}")(x)
        return x.mean((2, 3))

    def logits_unbiased(self, pool: Tensor) -> Tensor:
        """``[N, 2048]`` -> ``[N, 1008]`` logits without the bias (what Inception Score uses)."""
        return pool @ self.fc.weight.t()

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        """Returns ``{"pool": [N, 2048], "logits_unbiased": [N, 1008]}``."""
        pool = self.pool_features(x)
        return {"pool": pool, "logits_unbiased": self.logits_unbiased(pool)}


def fold_batchnorm(model: FIDInceptionV3) -> FIDInceptionV3:
    """An inference copy with every BatchNorm folded into its convolution (a bias added).

    Saves a pass over every activation; features change only by float rounding (~1e-7 relative).
    The copy no longer has the reference key layout, so keep the original for saving.
    """
    import copy

    folded = copy.deepcopy(model).eval()
    for m in folded.modules():
        if isinstance(m, BasicConv2d) and isinstance(m.bn, nn.BatchNorm2d):
            conv, bn = m.conv, m.bn
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            fused = nn.Conv2d(
                conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, bias=True
            ).to(conv.weight.device, conv.weight.dtype)
            with torch.no_grad():
                fused.weight.copy_(conv.weight * scale.view(-1, 1, 1, 1))
                fused.bias.copy_(bn.bias - bn.running_mean * scale)
            m.conv, m.bn = fused, nn.Identity()
    return folded.requires_grad_(False)


def remap_inception_state_dict(sd: dict[str, Tensor]) -> dict[str, Tensor]:
    """Bring a pytorch-fid or torch-fidelity Inception state dict to ``FIDInceptionV3``'s names.

    Both files already use these names; this strips wrapper prefixes (``module.``, ``model.``)
    and drops BatchNorm ``num_batches_tracked`` counters, which do not affect inference.
    """
    out = {}
    for k, v in sd.items():
        for prefix in ("module.", "model.", "net."):
            if k.startswith(prefix):
                k = k[len(prefix) :]
        if k.endswith("num_batches_tracked"):
            continue
        out[k] = v
    return out


def load_inception_state(model: FIDInceptionV3, sd: dict[str, Tensor]) -> None:
    """Load a reference-layout state dict, failing loudly on any missing or unexpected key."""
    sd = remap_inception_state_dict(sd)
    own = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    missing = sorted(set(own) - set(sd))
    unexpected = sorted(set(sd) - set(own))
    if missing or unexpected:
        raise KeyError(
            f"Inception weights do not match the FID layout: {len(missing)} missing (e.g. {missing[:3]}), "
            f"{len(unexpected)} unexpected (e.g. {unexpected[:3]})"
        )
    bad = [k for k in own if own[k].shape != sd[k].shape]
    if bad:
        raise ValueError(f"Inception weight shapes differ at {bad[:5]}")
    model.load_state_dict(sd, strict=False)


def load_fid_inception(path: str | Path | None = None, check_hash: bool = True) -> tuple[FIDInceptionV3, str]:
    """Build the FID Inception and load the published weights.

    Args:
        path: the weights file; when None, ``$GENFER_FID_INCEPTION`` and then
            ``<genfer cache>/weights/`` are searched for pytorch-fid's or torch-fidelity's file.
        check_hash: verify the SHA-256 prefix in the file name.

    Returns:
        The model in eval mode with gradients off, and the file's full SHA-256.

    Raises:
        MissingWeightsError: no weights file was found (the message says where to get one).
    """
    from genfer.metrics.weights import MissingWeightsError, sha256_file

    if path is not None:
        p = Path(path).expanduser()
        if not p.is_file():
            raise MissingWeightsError(
                f"{p} does not exist. Get {PYTORCH_FID_WEIGHTS.filename} from {PYTORCH_FID_WEIGHTS.source}."
            )
        if check_hash:
            PYTORCH_FID_WEIGHTS.verify(p)
    else:
        try:
            p = PYTORCH_FID_WEIGHTS.locate(check=check_hash)
        except MissingWeightsError as first:
            try:
                p = TORCH_FIDELITY_WEIGHTS.locate(check=check_hash)
            except MissingWeightsError:
                raise first from None
    model = FIDInceptionV3()
    load_inception_state(model, torch.load(p, map_location="cpu", weights_only=True))
    model.eval().requires_grad_(False)
    return model, sha256_file(p)
