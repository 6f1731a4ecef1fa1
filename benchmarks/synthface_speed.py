"""SynthFace generation speed: images per second at 64 and 128, grey and RGB.

Renders fresh images (identities, AU draws and nuisances all on) through ``SynthFace`` exactly as a
training run would. Prints the best and the median wall-clock rate of several repeats, and images
per CPU-second of this process (best repeat): on a machine whose cores other jobs share, wall-clock
rates fall with the load, while images per CPU-second stay close to the renderer's own cost (times
the thread count, it is what free cores would give).

    python benchmarks/synthface_speed.py [--threads 2] [--images 1024] [--repeats 5]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

from genfer.data.synthface import SynthFace


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    ap.add_argument("--images", type=int, default=1024, help="images per repeat")
    ap.add_argument("--repeats", type=int, default=5, help="repeats per setting")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, {platform.processor() or platform.machine()}")
    SynthFace(8, 7, size=64)  # warm-up (allocator, noise bank)
    per_id = 8
    n_ids = args.images // per_id
    print(f"{'size':>5} {'channels':>8} {'best img/s':>11} {'median img/s':>13} {'img/CPU-s':>10}")
    for size in (64, 128):
        for channels in (1, 3):
            rates, cpu = [], []
            for r in range(args.repeats):
                ids = range(r * n_ids, (r + 1) * n_ids)  # new identities every repeat
                t, c = time.perf_counter(), time.process_time()
                SynthFace(ids, per_id, size=size, channels=channels, seed=r)
                rates.append(n_ids * per_id / (time.perf_counter() - t))
                cpu.append(n_ids * per_id / (time.process_time() - c))
            print(f"{size:>5} {channels:>8} {max(rates):>11.0f} {statistics.median(rates):>13.0f} {max(cpu):>10.0f}")


if __name__ == "__main__":
    main()
