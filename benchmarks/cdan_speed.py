"""CDAN training and reconstruction speed: genfer vs a re-enactment of the released compute pattern.

At the released defaults (batch 12, 3 x 112 x 112, D every iteration, G every 2nd, LPIPS replaced
by zero in both, as in the issue's reference figures): seconds of a full iteration (D + G), of a
D-only iteration, their 2-step mean and images/s; reconstruction ms/image at batch 12; peak RSS.
Each (implementation, precision) runs in its own subprocess, one after the other in one run, so
peak RSS is its own and the ratios share the machine's conditions. Iterations 0 and 1 are warm-up;
``--pairs`` (D+G, D) pairs are timed after them (medians). The FLOPs of each kind of pass are
counted on the warm-up passes (``torch.utils.flop_counter``), so the table also gives GFLOP per image
and the GFLOP/s each implementation achieves: the floor of a compute-bound iteration.

    python benchmarks/cdan_speed.py                         # genfer and reference, fp32 and bf16
    python benchmarks/cdan_speed.py --precision fp32 --pairs 1
    python benchmarks/cdan_speed.py --allocator system      # both on glibc's default allocator
    python benchmarks/cdan_speed.py --impl genfer --layout nchw   # genfer on the release's layout

``--allocator``: see ``benchmarks/allocation.py`` (by default genfer keeps freed memory, as its CPU
training does, and the release runs on glibc's default).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from allocation import add_allocator_arg, apply_allocator  # benchmarks/, the script's own folder

ROOT = Path(__file__).resolve().parents[1]
RELEASED = {"full_s": 27.42, "d_only_s": 10.45, "two_step_s": 18.93, "images_per_s": 0.63,
            "rec_ms": 356.0, "peak_rss_mib": 10048}
"""The issue's figures for the released code on this kind of machine (2 threads)."""
ROWS = [("full_s", "full iteration (D + G), s", "{:.2f}"), ("d_only_s", "D-only iteration, s", "{:.2f}"),
        ("two_step_s", "2-step mean, s/iter", "{:.2f}"), ("images_per_s", "training images/s", "{:.3f}"),
        ("rec_ms", "reconstruction b12, ms/image", "{:.1f}"), ("peak_rss_mib", "peak RSS, MiB", "{:.0f}")]


def child(args: argparse.Namespace) -> dict:
    apply_allocator(args.allocator, args.impl)
    import torch

    sys.path.insert(0, str(ROOT / "src"))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    from genfer.models.cdan import CDAN, CDANConfig

    cfg = CDANConfig(lpips_weight=0.0, channels_last=args.layout == "channels_last")  # the release: NCHW
    x = torch.rand(args.batch, 3, args.size, args.size)
    aus17 = torch.rand(args.batch, 17) * 5
    bf16 = args.precision == "bf16"
    if args.impl == "genfer":
        from genfer.core.config import OptimConfig
        from genfer.engine.optim import build_optimizer
        from genfer.engine.step import run_iteration

        m = CDAN(cfg).train()
        groups = {g: [p for mod in mods for p in mod.parameters()] for g, mods in m.groups().items()}
        o = OptimConfig(lr=2.25e-5, betas=(0.5, 0.999))
        opts = {g: build_optimizer("adam", ps, o.lr, o) for g, ps in groups.items()}  # as genfer trains
        batch = m.prepare({"image": x, "aus": aus17})

        def iteration(step: int) -> None:
            run_iteration(m, batch, opts, groups, step, precision=args.precision)

        def reconstruct() -> None:
            with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
                m.parse_images(x)
    else:
        from reference_cdan import ReleasedCDAN

        r = ReleasedCDAN(cfg)
        au = CDAN.targets(aus17)

        def iteration(step: int) -> None:
            with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
                r.iteration(x, au, step)

        def reconstruct() -> None:
            with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
                r.reconstruct(x)

    from torch.utils.flop_counter import FlopCounterMode

    def gflop(fn) -> float:
        """Run ``fn`` once (a warm-up) and return the GFLOP it computed per image."""
        with FlopCounterMode(display=False) as fc:
            fn()
        return fc.get_total_flops() / 1e9 / args.batch

    clock = time.perf_counter
    # warm-up: one D+G and one D-only iteration and one reconstruction, their FLOPs counted
    flops = {"full_s": gflop(lambda: iteration(0)), "d_only_s": gflop(lambda: iteration(1)),
             "rec_ms": gflop(reconstruct)}
    full, d_only = [], []
    for k in range(args.pairs):
        for step, sink in ((2 + 2 * k, full), (3 + 2 * k, d_only)):
            t = clock()
            iteration(step)
            sink.append(clock() - t)
    rec = []
    for _ in range(args.rec_reps):
        t = clock()
        reconstruct()
        rec.append(clock() - t)
    f, d, r = statistics.median(full), statistics.median(d_only), statistics.median(rec)
    two_step_flops = (flops["full_s"] + flops["d_only_s"]) / 2
    return {"full_s": f, "d_only_s": d, "two_step_s": (f + d) / 2, "images_per_s": args.batch / ((f + d) / 2),
            "rec_ms": r / args.batch * 1000,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "gflop_per_image": {**flops, "two_step_s": two_step_flops},
            "gflop_per_s": {"full_s": flops["full_s"] * args.batch / f, "d_only_s": flops["d_only_s"] * args.batch / d,
                            "two_step_s": two_step_flops * args.batch / ((f + d) / 2),
                            "rec_ms": flops["rec_ms"] * args.batch / r}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--impl", choices=["both", "genfer", "reference"], default="both")
    p.add_argument("--precision", default="fp32,bf16", help="comma-separated: fp32, bf16")
    p.add_argument("--pairs", type=int, default=1, help="timed (D+G, D) iteration pairs after the warm-up")
    p.add_argument("--rec-reps", type=int, default=2)
    p.add_argument("--batch", type=int, default=12)
    p.add_argument("--size", type=int, default=112)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--layout", choices=["channels_last", "nchw"], default="channels_last",
                   help="genfer's activation layout (model.channels_last); the release's is NCHW")
    add_allocator_arg(p)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print("RESULT " + json.dumps(child(args)))
        return
    impls = ["reference", "genfer"] if args.impl == "both" else [args.impl]
    cols = [(pr, i) for pr in args.precision.split(",") for i in impls]
    res = {}
    for prec, impl in cols:
        cmd = [sys.executable, __file__, "--child", "--impl", impl, "--precision", prec]
        for opt in ("pairs", "rec_reps", "batch", "size", "threads", "layout", "allocator"):
            cmd += [f"--{opt.replace('_', '-')}", str(getattr(args, opt))]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        res[(prec, impl)] = json.loads(next(ln for ln in out.splitlines() if ln.startswith("RESULT "))[7:])
        print(f"done: {impl} {prec}", file=sys.stderr, flush=True)
    print(f"CDAN speed, batch {args.batch}, 3x{args.size}x{args.size}, {args.threads} threads, "
          f"median of {args.pairs} pair(s) after 2 warm-up iterations, allocator: {args.allocator}, "
          f"genfer's layout: {args.layout}")
    head = [f"{i} {pr}" for pr, i in cols]
    ratios = [pr for pr in args.precision.split(",") if len(impls) == 2]
    print(f"{'':32s}" + "".join(f"{h:>18s}" for h in head) + "".join(f"{'x ' + r:>10s}" for r in ratios)
          + f"{'issue (released)':>18s}")
    for key, label, fmt in ROWS:
        cells = [fmt.format(res[c][key]) for c in cols]
        for r in ratios:
            g, t = res[(r, "genfer")][key], res[(r, "reference")][key]
            cells.append(f"{(g / t if key == 'images_per_s' else t / g):.2f}x")
        print(f"{label:32s}" + "".join(f"{c:>18s}" if i < len(cols) else f"{c:>10s}" for i, c in enumerate(cells))
              + f"{fmt.format(RELEASED[key]):>18s}")
    print("arithmetic (FLOPs counted on the warm-up passes): GFLOP per image, and GFLOP/s achieved")
    for key, label, _ in ROWS:
        if key in res[cols[0]]["gflop_per_image"]:
            cells = [f"{res[c]['gflop_per_image'][key]:.1f} @ {res[c]['gflop_per_s'][key]:.0f}/s" for c in cols]
            print(f"{label:32s}" + "".join(f"{c:>18s}" for c in cells))
    print(json.dumps({f"{i} {pr}": v for (pr, i), v in res.items()}))


if __name__ == "__main__":
    main()
