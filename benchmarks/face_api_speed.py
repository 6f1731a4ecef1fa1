"""Speed of the face-api.js ports on CPU: descriptor (150x150), expression and landmarks (112x112).

Prints wall-clock and process CPU milliseconds per image for a batch of random uint8 crops, and
for the descriptor also forward + backward from float input (its use as an identity loss).
Timings depend on the machine's load: rerun to compare, and read the CPU column on shared cores.

Usage: python benchmarks/face_api_speed.py [--batch 16] [--threads 2] [--repeats 5] [--weights DIR]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

from genfer.models.pretrained.face_api import build_embedder, load_net


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    fn()  # warm-up
    t, c = time.perf_counter(), time.process_time()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - t) / repeats, (time.process_time() - c) / repeats


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=16, help="crops per call")
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    p.add_argument("--repeats", type=int, default=5, help="timed calls per net")
    p.add_argument("--weights", default=None, help="face-api model folder (default: the fetched package)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    x150 = torch.randint(0, 256, (args.batch, 3, 150, 150), dtype=torch.uint8, generator=g)
    x112 = torch.randint(0, 256, (args.batch, 3, 112, 112), dtype=torch.uint8, generator=g)
    emb = build_embedder(weights=args.weights)
    expr, lm = load_net("expression", args.weights), load_net("landmarks", args.weights)

    def backward() -> None:
        x = (x150.float() / 255).requires_grad_(True)
        emb(x).sum().backward()

    rows = []
    with torch.no_grad():
        rows.append(("descriptor, uint8 150x150", timed(lambda: emb(x150), args.repeats)))
        rows.append(("expression, uint8 112x112", timed(lambda: expr.run(x112), args.repeats)))
        rows.append(("landmarks, uint8 112x112", timed(lambda: lm.run(x112), args.repeats)))
    rows.append(("descriptor forward + backward", timed(backward, args.repeats)))
    print(f"batch {args.batch}, {args.threads} threads")
    for name, (wall, cpu) in rows:
        ms = 1e3 / args.batch
        print(f"{name:32s} wall {wall * ms:7.1f} ms/image   cpu {cpu * ms:7.1f} ms/image")


if __name__ == "__main__":
    main()
