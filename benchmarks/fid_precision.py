"""How much bf16 moves FID: the same two image sets through the FID Inception in fp32 and in bf16.

    python benchmarks/fid_precision.py --n 256

The real Inception weights cannot be obtained offline here, so the network is the FID
InceptionV3 with seeded random weights (its architecture and numerics are those of the real
one; only the values differ). The sets are SynthFace renders: "real" = identities 0.., "fake" =
other identities with noise added, so the FID is far from 0. Prints both FIDs, their relative
difference and the relative error of the pool features.
"""

from __future__ import annotations

import argparse

import torch

from genfer.data.synthface import render, sample_aus
from genfer.metrics.extractor import InceptionExtractor
from genfer.metrics.fid import fid_from_features
from genfer.metrics.inception import FIDInceptionV3


def synth_set(n: int, first_id: int, seed: int, noise: float) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    aus = sample_aus(torch.randint(0, 7, (n,), generator=g), g)
    imgs = render(torch.arange(first_id, first_id + n), aus, 128, 3, seed).float()
    imgs = imgs + noise * 255 * torch.randn(imgs.shape, generator=g)
    return imgs.clamp(0, 255).round().to(torch.uint8)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=256, help="images per set")
    ap.add_argument("--threads", type=int, default=2, help="torch threads")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = FIDInceptionV3()
    real, fake = synth_set(args.n, 0, 1, 0.0), synth_set(args.n, 10_000, 2, 0.05)
    feats, fids = {}, {}
    for precision in ("fp32", "bf16"):
        ex = InceptionExtractor(model=model, precision=precision, batch_size=32, mode="clean")
        feats[precision] = (ex(real)["pool"].double(), ex(fake)["pool"].double())
        fids[precision] = fid_from_features(*feats[precision])
    a, b = feats["fp32"][0], feats["bf16"][0]
    rel = float((a - b).norm() / a.norm())
    print(f"N={args.n} per set, 128px SynthFace RGB -> 299 (clean), random-weight FID InceptionV3")
    print(f"FID fp32 {fids['fp32']:.5g}  bf16 {fids['bf16']:.5g}  "
          f"relative difference {abs(fids['bf16'] - fids['fp32']) / fids['fp32']:.2%}")
    print(f"pool features: relative L2 error of bf16 vs fp32 {rel:.2%}")


if __name__ == "__main__":
    main()
