"""StyleGAN2 generator speed on the CPU: genfer against a re-enactment of rosinality's native CPU path.

Generator(256, 512, 8, channel multiplier 2), batch 8 of random W+, fixed weights shared by both
(genfer's seeded initialisation, loaded key for key into the re-enactment,
``benchmarks/reference_stylegan2_rosinality.py``). Each (implementation, precision) runs in its own
process, alternating genfer / release, so the peak RSS is that process's own. Per process: a batch-1
warm-up forward, then ``--reps`` timed forwards (``no_grad``) and as many timed forward + backwards of
the mean square of the image. Wall and CPU seconds (medians; every call's wall time is in the JSON,
the first one paying for fresh memory), and ``ru_maxrss``. The parent checks once that both
implementations give the same image (max |diff|).

    python benchmarks/stylegan2_speed.py --threads 2 --batch 8 [--reps 3] [--precisions fp32 bf16] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from allocation import add_allocator_arg, apply_allocator  # benchmarks/, the script's own folder

HERE = Path(__file__).resolve().parent


def child(impl: str, precision: str, batch: int, threads: int, allocator: str = "genfer", reps: int = 3) -> dict:
    apply_allocator(allocator, impl)
    import torch

    sys.path.insert(0, str(HERE))
    from reference_stylegan2_rosinality import Generator as Released

    from genfer.models.stylegan2.networks import Generator

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    g = Generator(256, 512, 8, channel_multiplier=2)
    if impl == "release":
        r = Released(256, 512, 8, 2)
        r.load_state_dict(g.state_dict())
        del g

        def fwd(w):
            return r(w)
        params = sum(p.numel() for p in r.parameters())
    else:
        def fwd(w):
            return g([w], input_is_latent=True)[0]
        params = sum(p.numel() for p in g.parameters())
    w = torch.randn(batch, 14, 512, generator=torch.Generator().manual_seed(1))
    ctx = (lambda: torch.autocast("cpu", torch.bfloat16)) if precision == "bf16" else (lambda: torch.autocast(
        "cpu", enabled=False))
    with torch.no_grad(), ctx():
        fwd(w[:1])
    out = {"impl": impl, "precision": precision, "batch": batch, "threads": threads, "params": params}

    def timed(fn) -> tuple[list[float], list[float]]:
        walls, cpus = [], []
        for _ in range(reps):
            t, c = time.perf_counter(), time.process_time()
            fn()
            walls.append(time.perf_counter() - t)
            cpus.append(time.process_time() - c)
        return walls, cpus

    def forward():
        with torch.no_grad(), ctx():
            fwd(w)

    def forward_backward():
        with ctx():
            img = fwd(w)
        img.float().square().mean().backward()

    walls, cpus = timed(forward)
    out |= {"forward_runs_s": walls, "forward_s": statistics.median(walls), "forward_cpu_s": statistics.median(cpus),
            "rss_after_forward_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    walls, cpus = timed(forward_backward)
    out |= {"forward_backward_runs_s": walls, "forward_backward_s": statistics.median(walls),
            "forward_backward_cpu_s": statistics.median(cpus),
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    return out


def same_image(threads: int) -> float:
    import torch

    sys.path.insert(0, str(HERE))
    from reference_stylegan2_rosinality import Generator as Released

    from genfer.models.stylegan2.networks import Generator

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    g = Generator(256).eval()
    r = Released(256).eval()
    r.load_state_dict(g.state_dict())
    w = torch.randn(1, 14, 512)
    with torch.no_grad():
        a = g([w], input_is_latent=True, randomize_noise=False)[0]
        b = r(w, noise=g.stored_noise())
    return float((a - b).abs().max())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--precisions", nargs="+", default=["fp32", "bf16"])
    ap.add_argument("--reps", type=int, default=3, help="timed calls of each kind; figures are their median")
    ap.add_argument("--json", help="write the results here")
    add_allocator_arg(ap)
    ap.add_argument("--child", nargs=2, metavar=("IMPL", "PRECISION"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1], args.batch, args.threads, args.allocator, args.reps)))
        return
    info = {"cpu": platform.processor() or _cpu_model(), "load_start": os.getloadavg(),
            "allocator": args.allocator, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "max_abs_diff": same_image(args.threads)}
    print(json.dumps(info), flush=True)
    rows = []
    for precision in args.precisions:
        for impl in ("genfer", "release"):
            cmd = [sys.executable, __file__, "--child", impl, precision, "--batch", str(args.batch),
                   "--threads", str(args.threads), "--allocator", args.allocator, "--reps", str(args.reps)]
            res = subprocess.run(cmd, capture_output=True, text=True, check=True)
            row = json.loads(res.stdout.strip().splitlines()[-1]) | {"load": os.getloadavg()}
            print(json.dumps(row), flush=True)
            rows.append(row)
    info["load_end"] = os.getloadavg()
    for precision in args.precisions:
        g = next(r for r in rows if r["impl"] == "genfer" and r["precision"] == precision)
        r = next(r for r in rows if r["impl"] == "release" and r["precision"] == precision)
        print(f"{precision}: forward {r['forward_s']:.2f} / {g['forward_s']:.2f} s = "
              f"{r['forward_s'] / g['forward_s']:.2f}x "
              f"(CPU {r['forward_cpu_s'] / g['forward_cpu_s']:.2f}x); forward+backward {r['forward_backward_s']:.2f} / "
              f"{g['forward_backward_s']:.2f} s = {r['forward_backward_s'] / g['forward_backward_s']:.2f}x (CPU "
              f"{r['forward_backward_cpu_s'] / g['forward_backward_cpu_s']:.2f}x); peak RSS {r['peak_rss_mib']:.0f} / "
              f"{g['peak_rss_mib']:.0f} MiB = {g['peak_rss_mib'] / r['peak_rss_mib']:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"info": info, "rows": rows}, indent=1))


def _cpu_model() -> str:
    try:
        return next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name"))
    except (OSError, StopIteration):
        return "unknown"


if __name__ == "__main__":
    main()
