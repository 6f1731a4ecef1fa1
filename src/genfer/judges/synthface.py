"""Judges: small CNNs trained on *rendered* SynthFace images, used to score generated ones.

Generation quality on SynthFace is measured the way the issue defines it: a generated face
"carries" an expression (or an identity) when a recogniser that never saw a generated image says
so. ``train_judge`` fits one such network on rendered images; ``judge_accuracy`` applies it;
``cached_judges`` keeps trained judges on disk between benchmark runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class JudgeNet(nn.Module):
    """A plain 4-stage CNN: conv-BN-ReLU x2 per stage, global average pool, linear head.

    Args:
        channels: input channels.
        outputs: classes (or regression targets).
        width: channels of the first stage (doubled per stage).
    """

    def __init__(self, channels: int, outputs: int, width: int = 32) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = channels
        for i in range(4):
            w = width * 2**i
            layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
                       nn.Conv2d(w, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
                       nn.MaxPool2d(2)]
            c = w
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c, outputs)

    def forward(self, x: Tensor) -> Tensor:
        """``x``: [B, C, H, W] in [0, 1] -> [B, outputs]."""
        return self.head(self.features(x * 2 - 1).mean((2, 3)))


def train_judge(
    images: Tensor,
    targets: Tensor,
    outputs: int,
    steps: int = 600,
    batch_size: int = 64,
    lr: float = 2e-3,
    seed: int = 0,
    regression: bool = False,
    width: int = 32,
) -> JudgeNet:
    """Fit a ``JudgeNet`` on uint8 images ``[N, C, H, W]`` with class labels or float targets.

    Light augmentation (random shifts of up to 1/16 of the size) keeps it from keying on exact
    pixel positions, which generated images would not reproduce.
    """
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = JudgeNet(images.shape[1], outputs, width)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    n, size = images.shape[0], images.shape[-1]
    pad = max(1, size // 16)
    net.train()
    for _ in range(steps):
        idx = torch.randint(0, n, (batch_size,), generator=g)
        x = F.pad(images[idx].float() / 255, (pad, pad, pad, pad), mode="replicate")
        dy, dx = torch.randint(0, 2 * pad + 1, (2,), generator=g).tolist()
        x = x[..., dy : dy + size, dx : dx + size]
        out = net(x)
        y = targets[idx]
        loss = F.l1_loss(out, y) if regression else F.cross_entropy(out, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return net.eval()


@torch.inference_mode()
def judge_predict(net: JudgeNet, images: Tensor, batch_size: int = 256) -> Tensor:
    """Outputs ``[N, outputs]`` for images that are uint8 or floats in [0, 1]."""
    outs = []
    for i in range(0, images.shape[0], batch_size):
        x = images[i : i + batch_size]
        x = x.float() / 255 if x.dtype == torch.uint8 else x.float()
        outs.append(net(x))
    return torch.cat(outs)


def judge_accuracy(net: JudgeNet, images: Tensor, labels: Tensor) -> float:
    """Fraction of ``images`` the judge assigns to ``labels``."""
    return float((judge_predict(net, images).argmax(1) == labels).float().mean())


def cached_judges(
    path: str | Path | None,
    shapes: dict[str, tuple[int, int, int]],
    train: Callable[[], dict[str, JudgeNet]],
) -> dict[str, JudgeNet]:
    """Judges named by ``shapes`` (name -> (channels, outputs, width)), in eval mode.

    Loaded from ``path`` (``weights_only``) when it exists; otherwise ``train()`` builds them and they
    are stored there (temp file + rename, so an interrupted save leaves no partial cache).
    ``path=None`` trains every time.
    """
    if path is not None and Path(path).exists():
        state = torch.load(path, weights_only=True)
        nets = {}
        for name, (channels, outputs, width) in shapes.items():
            nets[name] = JudgeNet(channels, outputs, width)
            nets[name].load_state_dict(state[name])
        return {k: net.eval() for k, net in nets.items()}
    nets = train()
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        torch.save({k: net.state_dict() for k, net in nets.items()}, tmp)
        os.replace(tmp, path)
    return {k: net.eval() for k, net in nets.items()}
