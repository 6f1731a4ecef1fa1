"""IR-SE50 ArcFace (TreB1eN's InsightFace_Pytorch ``Backbone(112, 50, 'ir_se')``): the identity net of pSp and ASIT.

A 112-px RGB face in [-1, 1] -> a unit 512-d embedding. ``input_layer`` (Conv3 64, BN, PReLU), a
``body`` of 24 SE bottlenecks (3, 4, 14, 3 units at 64/128/256/512 channels, the first unit of
each stage with stride 2): ``res_layer`` = BN, Conv3, PReLU, Conv3 (stride), BN, SE(/16);
``shortcut_layer`` = MaxPool 1 (stride) or Conv1 + BN when the width changes; then
``output_layer`` = BN2d, Dropout, flatten, Linear(512*7*7, 512), BN1d; L2 normalisation.

Module names are TreB1eN's, so the public ``model_ir_se50.pth`` (pSp's ``pretrained_models``)
loads key for key. genfer downloads nothing: the file is given by path or ``$GENFER_IR_SE50``.
ASIT's identity loss crops ``[35:223, 32:220]`` of a 256-px face and pools it to 112
(:func:`asit_crop`).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genfer.core.errors import GenferError

ENV = "GENFER_IR_SE50"
SOURCE = ("model_ir_se50.pth from pSp's pretrained models (TreB1eN/InsightFace_Pytorch's IR-SE50); "
          f"pass its path or set ${ENV}")


class SEModule(nn.Module):
    """Squeeze-excitation with 1x1 convs (``fc1``, ``fc2``, no biases)."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, channels // reduction, 1, bias=False)
        self.fc2 = nn.Conv2d(channels // reduction, channels, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.sigmoid(self.fc2(F.relu(self.fc1(x.mean((2, 3), keepdim=True)))))


class BottleneckIRSE(nn.Module):
    """``res_layer(x) + shortcut_layer(x)`` (see the module docstring)."""

    def __init__(self, cin: int, depth: int, stride: int) -> None:
        super().__init__()
        if cin == depth:
            self.shortcut_layer: nn.Module = nn.MaxPool2d(1, stride)
        else:
            self.shortcut_layer = nn.Sequential(nn.Conv2d(cin, depth, 1, stride, bias=False), nn.BatchNorm2d(depth))
        self.res_layer = nn.Sequential(nn.BatchNorm2d(cin), nn.Conv2d(cin, depth, 3, 1, 1, bias=False), nn.PReLU(depth),
                                       nn.Conv2d(depth, depth, 3, stride, 1, bias=False), nn.BatchNorm2d(depth),
                                       SEModule(depth, 16))

    def forward(self, x: Tensor) -> Tensor:
        return self.res_layer(x) + self.shortcut_layer(x)


class IRSE50(nn.Module):
    """``[B, 3, 112, 112]`` in [-1, 1] -> unit embeddings ``[B, 512]``."""

    def __init__(self, drop_ratio: float = 0.6) -> None:
        super().__init__()
        self.input_layer = nn.Sequential(nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.PReLU(64))
        units = []
        cin = 64
        for depth, n in ((64, 3), (128, 4), (256, 14), (512, 3)):
            units += [BottleneckIRSE(cin, depth, 2)] + [BottleneckIRSE(depth, depth, 1) for _ in range(n - 1)]
            cin = depth
        self.body = nn.Sequential(*units)
        self.output_layer = nn.Sequential(nn.BatchNorm2d(512), nn.Dropout(drop_ratio), nn.Flatten(),
                                          nn.Linear(512 * 7 * 7, 512), nn.BatchNorm1d(512))

    def forward(self, x: Tensor) -> Tensor:
        return F.normalize(self.output_layer(self.body(self.input_layer(x))), dim=1)


def asit_crop(x: Tensor) -> Tensor:
    """ASIT/pSp's identity crop of a 256-px face: rows 35:223, columns 32:220, average-pooled to 112."""
    if x.shape[-1] != 256 or x.shape[-2] != 256:
        x = F.interpolate(x, size=(256, 256), mode="bilinear", align_corners=False, antialias=True)
    return F.adaptive_avg_pool2d(x[:, :, 35:223, 32:220], (112, 112))


def load_ir_se50(path: str | os.PathLike | None = None) -> IRSE50:
    """IR-SE50 with the public weights, frozen and in eval mode.

    Raises:
        GenferError: the file is missing or its keys do not match (the message names the source
            and the offline alternative, ``model.id_net=face_api``).
    """
    p = path or os.environ.get(ENV)
    if not p or not Path(p).is_file():
        raise GenferError(f"IR-SE50 identity weights not found ({p or 'no path given'})",
                          path=str(p) if p else None,
                          fix=f"get {SOURCE}; or use genfer's face_api descriptor offline (model.id_net=face_api), "
                              "or model.id_lambda=0")
    sd = torch.load(p, map_location="cpu", weights_only=True)
    sd = {k.removeprefix("module."): v for k, v in (sd.get("state_dict", sd)).items()}
    net = IRSE50()
    missing, unexpected = net.load_state_dict(sd, strict=False)
    if missing or unexpected:
        raise GenferError(f"not an IR-SE50 state dict (missing {missing[:3]}, unexpected {unexpected[:3]})",
                          path=str(p), fix=f"use {SOURCE}")
    return net.eval().requires_grad_(False)


class IRSE50Embedder:
    """IR-SE50 as an identity embedder (:mod:`genfer.metrics.embedding`): faces ``[N, 3, H, W]`` in
    [0, 1] -> unit ``[N, 512]`` embeddings, through ASIT's crop. Cosine distance, as pSp and ASIT
    measure identity."""

    name = "ir_se50"
    distance = "cosine"

    def __init__(self, net: IRSE50, device: str = "cpu") -> None:
        self.net, self.device = net.to(device), device

    @torch.no_grad()
    def __call__(self, images: Tensor) -> Tensor:
        x = images.to(self.device, torch.float32)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        return self.net(asit_crop(x * 2 - 1)).cpu()


def build_embedder(weights: str | os.PathLike | None = None, device: str = "cpu", **_: object) -> IRSE50Embedder:
    """The ``ir_se50`` embedder (``--weights FILE`` or ``$GENFER_IR_SE50``).

    Raises:
        FileNotFoundError: no weights file (the message names the source and the offline face_api).
    """
    p = weights or os.environ.get(ENV)
    if not p or not Path(p).is_file():
        raise FileNotFoundError(f"{p or 'no path given'}; get {SOURCE}, or use --embedder face_api offline")
    return IRSE50Embedder(load_ir_se50(p), device)


__all__ = ["IRSE50", "IRSE50Embedder", "asit_crop", "build_embedder", "load_ir_se50"]
