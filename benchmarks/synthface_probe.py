"""How learnable are SynthFace expressions, and from what? Subject-independent 7-class accuracy.

Trains on training identities and tests on held-out identities (64x64 grey, default nuisances):

* a single-pixel baseline (nearest class mean of the best single pixel, chosen on the test set,
  so an optimistic bound on any one-pixel cue),
* a linear probe: multinomial logistic regression on standardised raw pixels (torch, L-BFGS),
* a small CNN (4 conv blocks, ~45k parameters, Adam, a few epochs, shift/flip augmentation).

The CNN should do clearly better than the linear probe (expressions are shapes that move with
pose and framing, not fixed pixels), and stay below 100% (weak intensities, missing AUs, pose,
lighting and small features at 64 px make some samples hard). Runs in about 2 minutes on one shared CPU core.

    python benchmarks/synthface_probe.py [--train-ids 600] [--test-ids 100] [--epochs 6] [--threads 1]
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from genfer.data.labels import BASIC7
from genfer.data.synthface import SynthFace, split_identities


def single_pixel(xtr: torch.Tensor, ytr: torch.Tensor, xte: torch.Tensor, yte: torch.Tensor) -> float:
    means = torch.stack([xtr[ytr == k].mean(0) for k in range(7)])  # [7, P]
    acc = torch.zeros(xtr.shape[1])
    for xc, yc in zip(xte.split(128), yte.split(128)):
        pred = (xc[:, None, :] - means[None]).abs().argmin(1)  # [n, P]
        acc += (pred == yc[:, None]).float().sum(0)
    return float(acc.max() / len(yte))


def linear_probe(xtr, ytr, xte, yte, wd: float = 1e-3, steps: int = 150) -> float:
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-3
    xtr, xte = (xtr - mu) / sd, (xte - mu) / sd
    lin = nn.Linear(xtr.shape[1], 7)
    opt = torch.optim.LBFGS(lin.parameters(), lr=1, max_iter=steps, history_size=20, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(lin(xtr), ytr) + wd * lin.weight.square().sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return float((lin(xte).argmax(1) == yte).float().mean())


class SmallCNN(nn.Module):
    """Strided 5x5 stem, three 3x3 conv blocks, global average pooling: ~45k parameters."""

    def __init__(self, width: int = 12) -> None:
        super().__init__()

        def block(cin: int, cout: int, k: int = 3, stride: int = 1) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

        w = width
        self.features = nn.Sequential(
            *block(1, w, 5, 2),
            *block(w, 2 * w),
            nn.MaxPool2d(2),
            *block(2 * w, 4 * w),
            nn.MaxPool2d(2),
            *block(4 * w, 6 * w),
        )
        self.head = nn.Linear(6 * w, 7)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean((2, 3)))


def augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Random flips and shifts of up to 4 pixels (reflect padding)."""
    flip = torch.rand(len(x), generator=g) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    pad = F.pad(x, (4, 4, 4, 4), mode="reflect")
    dx, dy = torch.randint(0, 9, (2,), generator=g).tolist()
    return pad[:, :, dy : dy + x.shape[2], dx : dx + x.shape[3]]


def cnn(xtr, ytr, xte, yte, epochs: int, seed: int = 0) -> tuple[float, torch.Tensor]:
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    net = SmallCNN()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    steps = epochs * ((len(xtr) + 63) // 64)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    for _ in range(epochs):
        net.train()
        perm = torch.randperm(len(xtr), generator=g)
        for i in range(0, len(xtr), 64):
            idx = perm[i : i + 64]
            loss = F.cross_entropy(net(augment(xtr[idx], g)), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    net.eval()
    with torch.no_grad():
        pred = torch.cat([net(xc).argmax(1) for xc in xte.split(256)])
    conf = torch.zeros(7, 7)
    conf.index_put_((yte, pred), torch.ones(len(yte)), accumulate=True)
    return float((pred == yte).float().mean()), conf


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train-ids", type=int, default=600, help="training identities")
    ap.add_argument("--test-ids", type=int, default=100, help="held-out identities")
    ap.add_argument("--per-identity", type=int, default=14, help="images per identity")
    ap.add_argument("--epochs", type=int, default=6, help="CNN epochs")
    ap.add_argument("--size", type=int, default=64, help="image side")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (1 is fastest when other jobs share the cores)")
    ap.add_argument("--seed", type=int, default=0, help="SynthFace seed")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.time()
    train_ids, test_ids = split_identities(args.train_ids, args.test_ids)
    tr = SynthFace(train_ids, args.per_identity, size=args.size, seed=args.seed)
    te = SynthFace(test_ids, args.per_identity // 2, size=args.size, seed=args.seed)
    xtr, xte = tr.images.float() / 255, te.images.float() / 255
    ytr, yte = tr.expressions, te.expressions
    print(f"SynthFace {args.size}x{args.size} grey: {len(tr)} train images ({len(train_ids)} ids), "
          f"{len(te)} test images ({len(test_ids)} held-out ids); rendered in {time.time() - t0:.1f}s")
    print(f"chance                 {1 / 7:.3f}")
    t = time.time()
    print(f"best single pixel      {single_pixel(xtr.flatten(1), ytr, xte.flatten(1), yte):.3f}"
          f"   (nearest class mean, best pixel picked on test)  {time.time() - t:.1f}s")
    t = time.time()
    print(f"linear probe (pixels)  {linear_probe(xtr.flatten(1), ytr, xte.flatten(1), yte):.3f}"
          f"   (logistic regression, L-BFGS)  {time.time() - t:.1f}s")
    t = time.time()
    acc, conf = cnn(xtr, ytr, xte, yte, args.epochs)
    print(f"small CNN              {acc:.3f}   ({args.epochs} epochs)  {time.time() - t:.1f}s")
    recall = conf.diag() / conf.sum(1).clamp(min=1)
    print("CNN recall per class:  " + "  ".join(f"{n[:4]} {r:.2f}" for n, r in zip(BASIC7, recall)))
    print(f"total {time.time() - t0:.1f}s on {args.threads} threads")


if __name__ == "__main__":
    main()
