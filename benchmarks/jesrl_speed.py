"""JESRL training and swap speed: genfer vs a re-enactment of the released compute pattern.

At the released defaults (batch 10, 3 x 256 x 256, the released networks and loss terms), each
configuration runs in its own subprocess (so peak RSS is its own), in alternation:

- ``released`` (``benchmarks/reference_jesrl.py``, with the release's norm and activation layers;
  ``--release-layers genfer`` lends it genfer's fused ones, as before stop 33) and ``genfer``
  (``run_iteration`` on the ``jesrl`` method), a GAN iteration (D update then G update) without
  and with the VGG loss (random VGG weights: the loss net's speed does not depend on its values);
- ``swap`` at batch 10: the release's ``forward_G`` under ``no_grad`` against ``JESRL.swap_with``;
- genfer in bf16 (autocast) beside fp32: fast where the CPU has AVX512_BF16 or AMX (1.9-2.5x fp32
  on a Zen 4), slower where it emulates bf16 (AVX2 only: 0.36x on a Zen 3).

Times are medians of ``--reps`` after one warm-up; wall-clock and process CPU seconds are both
reported, and the peak RSS up to then. One more iteration, run under ``torch.utils.flop_counter``,
gives each row's arithmetic (GFLOP per pair, convolutions and matrix products) and the rate it
ran at. On a shared machine the ratios, measured in one run, are steadier than the absolute
figures. genfer's GAN rows keep freed memory, as its CPU training does; its swap rows run on
glibc's default, as ``genfer swap`` does.

    python benchmarks/jesrl_speed.py                    # the table (~20 min on 2 loaded cores)
    python benchmarks/jesrl_speed.py --reps 1 --only swap
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from allocation import add_allocator_arg, apply_allocator  # benchmarks/, the script's own folder

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = [
    ("released", "gan", "fp32", False), ("genfer", "gan", "fp32", False),
    ("released", "gan", "fp32", True), ("genfer", "gan", "fp32", True),
    ("released", "swap", "fp32", False), ("genfer", "swap", "fp32", False),
    ("genfer", "gan", "bf16", False), ("genfer", "gan", "bf16", True), ("genfer", "swap", "bf16", False),
]


def worker(impl: str, what: str, precision: str, vgg: bool, reps: int, threads: int, batch: int,
           allocator: str = "genfer", nchw: bool = False, release_layers: str = "released") -> dict:
    # genfer keeps freed memory where it trains; its inference (``genfer swap``) runs on glibc's default
    apply_allocator(allocator, "genfer" if impl == "genfer" and what == "gan" else "release")
    import torch

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import reference_jesrl as ref

    from genfer.core.config import OptimConfig
    from genfer.engine.optim import build_optimizer
    from genfer.engine.precision import autocast
    from genfer.engine.step import run_iteration
    from genfer.models.jesrl import JESRL, JESRLConfig

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    # the classifier heads (4096-wide FCs) of P and R play no part in a GAN iteration: narrow ones
    # keep 1 GB of weights out of both processes' RSS (the VGG trunk of the loss is full size)
    cfg = JESRLConfig(lambda_vgg=15.0 if vgg else 0.0, channels_last=impl == "genfer" and not nchw, vgg_hidden=64)
    m = JESRL(cfg)
    if impl == "released":
        ref.library_convs(m)
    if impl == "released" and release_layers == "released":
        ref.released_layers(m)
    m.train()
    m.P.eval().requires_grad_(False)
    g = torch.Generator().manual_seed(1)
    u8 = lambda: torch.randint(0, 256, (batch, 3, 256, 256), dtype=torch.uint8, generator=g)  # noqa: E731
    i = torch.randint(0, 6, (batch,), generator=g)
    j = (i + torch.randint(1, 6, (batch,), generator=g)) % 6
    xa, xb = u8(), u8()
    gen_params = [p for n in (m.Enc, m.Dec) for p in n.parameters()]
    d_params = [p for n in (m.D1, m.D2) for p in n.parameters()]
    if impl == "genfer":  # the optimizer genfer trains with (fused where the device has it)
        o = OptimConfig(lr=2e-4, betas=(0.5, 0.999), weight_decay=1e-5)
        opt_g, opt_d = (build_optimizer("adam", ps, o.lr, o) for ps in (gen_params, d_params))
    else:
        opt_g = torch.optim.Adam(gen_params, 2e-4, betas=(0.5, 0.999), weight_decay=1e-5)
        opt_d = torch.optim.Adam(d_params, 2e-4, betas=(0.5, 0.999), weight_decay=1e-5)

    if what == "gan" and impl == "released":
        a, b = m.to_input(xa).contiguous(), m.to_input(xb).contiguous()

        def step() -> None:
            with autocast(precision, torch.device("cpu")):
                ref.iteration(m, opt_g, opt_d, a, b, i, j, vgg)
    elif what == "gan":
        batch_in = m.prepare({"x_a": xa, "x_b": xb, "y_a": i, "y_b": j})
        groups = {"G": gen_params, "D": d_params}
        opts = {"G": opt_g, "D": opt_d}

        def step() -> None:
            m.last_loss_g.zero_()  # time the full iteration (D and G) every time
            run_iteration(m, batch_in, opts, groups, 0, precision=precision)
    elif impl == "released":
        a, b = m.to_input(xa).contiguous(), m.to_input(xb).contiguous()
        m.eval()

        def step() -> None:
            with autocast(precision, torch.device("cpu")):
                ref.swap(m, a, b, i, j)
    else:
        def step() -> None:
            with autocast(precision, torch.device("cpu")):
                m.swap_with(xa, xb, i, j)

    from torch.utils.flop_counter import FlopCounterMode

    step()  # warm-up
    walls, cpus = [], []
    for _ in range(reps):
        w0, c0 = time.perf_counter(), time.process_time()
        step()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with FlopCounterMode(display=False) as fc:  # one more iteration, its arithmetic counted (after the
        step()  # peak RSS is read: the counter's dispatch mode allocates differently)
    gflop, wall = fc.get_total_flops() / 1e9, statistics.median(walls)
    return {"impl": impl, "what": what, "precision": precision, "vgg": vgg, "wall_s": wall,
            "cpu_s": statistics.median(cpus), "peak_rss_mib": round(rss), "reps": reps,
            "gflop_per_pair": gflop / batch, "gflop_per_s": gflop / wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=10)
    ap.add_argument("--only", choices=("gan", "swap"), help="only this kind of measurement")
    ap.add_argument("--no-bf16", action="store_true", help="skip the bf16 rows")
    ap.add_argument("--only-precision", choices=("fp32", "bf16"), help="only the rows of this precision")
    ap.add_argument("--out", help="write the JSON results here")
    add_allocator_arg(ap)
    ap.add_argument("--nchw", action="store_true", help="genfer without its channels-last activations")
    ap.add_argument("--release-layers", choices=("released", "genfer"), default="released",
                    help="the release pattern's norm + activation layers: the release's, or genfer's fused ones")
    ap.add_argument("--worker", nargs=4, metavar=("IMPL", "WHAT", "PRECISION", "VGG"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        impl, what, prec, vgg = args.worker
        print(json.dumps(worker(impl, what, prec, vgg == "1", args.reps, args.threads, args.batch, args.allocator,
                                args.nchw, args.release_layers)))
        return
    rows = []
    for impl, what, prec, vgg in CONFIGS:
        if (args.only and what != args.only) or (args.no_bf16 and prec == "bf16") or (
                args.only_precision and prec != args.only_precision):
            continue
        cmd = [sys.executable, __file__, "--worker", impl, what, prec, "1" if vgg else "0", "--reps", str(args.reps),
               "--threads", str(args.threads), "--batch", str(args.batch), "--allocator", args.allocator]
        cmd += ["--nchw"] if args.nchw else []
        cmd += ["--release-layers", args.release_layers]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        per = row["wall_s"] / args.batch
        row["per_pair"] = f"{per * 1000:.1f} ms/pair" if what == "swap" else f"{args.batch / row['wall_s']:.2f} pairs/s"
        rows.append(row)
        print(json.dumps(row), flush=True)
    ratios = {}
    for what, vgg in (("gan", False), ("gan", True), ("swap", False)):
        r = {x["impl"]: x for x in rows if x["what"] == what and x["vgg"] == vgg and x["precision"] == "fp32"}
        if len(r) == 2:
            key = f"{what}{'_vgg' if vgg else ''}"
            ratios[key] = {"speedup_wall": round(r["released"]["wall_s"] / r["genfer"]["wall_s"], 2),
                           "speedup_cpu": round(r["released"]["cpu_s"] / r["genfer"]["cpu_s"], 2),
                           "rss_released_mib": r["released"]["peak_rss_mib"],
                           "rss_genfer_mib": r["genfer"]["peak_rss_mib"]}
    res = {"cpu": platform.processor() or platform.machine(), "threads": args.threads, "batch": args.batch,
           "allocator": args.allocator, "nchw": args.nchw, "release_layers": args.release_layers,
           "rows": rows, "ratios": ratios}
    print(json.dumps(ratios, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
