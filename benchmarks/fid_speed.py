"""Images per second through the FID InceptionV3 at 299x299 (random weights: speed does not depend on them).

    python benchmarks/fid_speed.py                    # 2 CPU threads, fp32 and bf16, batch 32
    python benchmarks/fid_speed.py --device cuda      # on a GPU
    python benchmarks/fid_speed.py --resize-from 128  # include clean-mode resizing of 128px inputs

Prints one line per precision: images/s of network forward passes (inputs already 299x299
unless --resize-from), the median of --repeats timed runs after one warm-up. On a shared machine
the wall-clock figure is pessimistic (other processes compete for the same cores), so the CPU
figure is printed too: images per second of this process's CPU time times the thread count,
what the threads would deliver if they had the cores to themselves.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from genfer.metrics.extractor import InceptionExtractor
from genfer.metrics.inception import FIDInceptionV3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads (CPU)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--batch", type=int, default=32, help="images per forward pass")
    ap.add_argument("--images", type=int, default=96, help="images per timed run")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs (median reported)")
    ap.add_argument("--precision", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    ap.add_argument("--resize-from", type=int, default=0, metavar="PX",
                    help="feed PX x PX uint8 images and time clean-mode resizing too (0: feed 299 floats)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = FIDInceptionV3()
    size = args.resize_from or 299
    g = torch.Generator().manual_seed(0)
    images = (torch.rand(args.images, 3, size, size, generator=g) * 255).to(torch.uint8)
    print(f"torch {torch.__version__}, device {args.device}, threads {torch.get_num_threads()}, "
          f"batch {args.batch}, input {size}x{size} -> 299x299")
    for precision in args.precision:
        ex = InceptionExtractor(model=model, device=args.device, batch_size=args.batch, precision=precision,
                                mode="clean")
        ex(images[: args.batch])  # warm-up: kernel selection, allocations
        times, cpu = [], []
        for _ in range(args.repeats):
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            t, c = time.perf_counter(), time.process_time()
            ex(images)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
        med = statistics.median(times)
        line = f"{precision}: {args.images / med:7.1f} images/s wall (median of {args.repeats} runs, {med:.2f} s each)"
        if args.device == "cpu":
            per_cpu = args.images / statistics.median(cpu) * torch.get_num_threads()
            line += f"; {per_cpu:.1f} images/s on {torch.get_num_threads()} uncontended threads (from CPU time)"
        print(line)


if __name__ == "__main__":
    main()
