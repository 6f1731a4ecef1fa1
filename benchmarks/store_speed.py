"""How fast batches come out of a prepared store (the target: >= 5,000 images/s at 128x128).

Writes a synthetic store of N random 128x128 crops (grey and RGB) in a temporary folder, then
times, with the page cache warm:

- ``read_all``: the whole split into one uint8 tensor (what the in-memory training loader does);
- ``images(idx)``: random batches gathered straight from the memory maps;
- ``DataLoader``: per-item ``__getitem__`` + default collation, 0 and 2 workers.

Usage: python benchmarks/store_speed.py [--n 4096] [--batch 256] [--threads 2]
Timings on a machine shared with other jobs are noisy: run it twice and report the better figure.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from genfer.data.store import StoreDataset, StoreWriter


def build(root: Path, n: int, channels: int, shard_size: int) -> None:
    g = torch.Generator().manual_seed(0)
    with StoreWriter(root, (128, 128), channels, {"benchmark": True}, shard_size=shard_size) as w:
        for start in range(0, n, 256):
            k = min(256, n - start)
            x = torch.randint(0, 256, (k, channels, 128, 128), generator=g, dtype=torch.uint8)
            for j in range(k):
                w.add(f"{start + j}", x[j : j + 1], [{"split": "train", "path": f"{start + j}.png",
                                                      "expression": (start + j) % 7}])


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:>10,.0f} img/s"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4096, help="images in the store")
    ap.add_argument("--batch", type=int, default=256, help="batch size")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (default 1: on a busy 2-core machine 2 threads make torch.stack ~100x slower)")
    ap.add_argument("--shard-size", type=int, default=1024)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"store of {args.n} images at 128x128, batch {args.batch}, {args.threads} torch threads")
    with tempfile.TemporaryDirectory() as tmp:
        for channels in (1, 3):
            root = Path(tmp) / f"c{channels}"
            t = time.perf_counter()
            build(root, args.n, channels, args.shard_size)
            print(f"\n{channels} channel(s): built in {time.perf_counter() - t:.1f} s")
            ds = StoreDataset(root, split="train")
            ds.read_all()  # warm the page cache
            t = time.perf_counter()
            for _ in range(3):
                ds.read_all()
            print(f"  read_all                    {rate(3 * len(ds), time.perf_counter() - t)}")
            g = torch.Generator().manual_seed(1)
            batches = [torch.randint(0, len(ds), (args.batch,), generator=g) for _ in range(40)]
            t = time.perf_counter()
            for idx in batches:
                ds.images(idx)
            print(f"  images(random batch)        {rate(40 * args.batch, time.perf_counter() - t)}")
            for workers in (0, 2):
                dl = DataLoader(ds, batch_size=args.batch, shuffle=True, num_workers=workers,
                                persistent_workers=False)
                t = time.perf_counter()
                n = sum(b["image"].shape[0] for b in dl)
                print(f"  DataLoader, {workers} workers        {rate(n, time.perf_counter() - t)}")


if __name__ == "__main__":
    main()
