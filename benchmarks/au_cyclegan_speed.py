"""AU cycle GAN training and inference speed: genfer vs a re-implementation of the released compute pattern.

Prints, for both implementations at the released defaults (batch 32, 3 x 112 x 112, 17 AUs,
WGAN-GP, d_g_ratio 1, Adam 2e-4 (0.5, 0.999), CPU threads 2): seconds per training iteration
(critic step with gradient penalty + generator step), images/s, inference ms/image of G(x, aus) at
batch 32, peak RSS, parameter counts of G and D, and the genfer/released ratios, next to the
issue's figures for the released code (shown at 112 px, and at batch 32 for the timings). Each
implementation runs in its own subprocess so peak RSS is its own. Times are medians of ``--reps``
after ``--warmup`` runs; other processes on the machine add noise, the ratios measured in one run
are more robust than the absolute figures.

``--allocator tuned`` makes glibc keep freed memory for reuse instead of returning it to the
kernel (genfer.engine.allocator, on by default in genfer's CPU training); the default is glibc's own behaviour for both.

    python benchmarks/au_cyclegan_speed.py                       # both, released defaults (~3 min)
    python benchmarks/au_cyclegan_speed.py --impl genfer --reps 2 --warmup 1
    python benchmarks/au_cyclegan_speed.py --profile              # torch.profiler table, one genfer iteration
    python benchmarks/au_cyclegan_speed.py --precision fp32,bf16  # genfer in both precisions, one run
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

from phase_timing import time_phases  # benchmarks/, the script's own folder

from genfer.engine.allocator import keep_freed_memory

ROOT = Path(__file__).resolve().parents[1]
CLOCK = time.perf_counter
KEEP_GRAPHS = False
RELEASED = {"iteration_s": 6.30, "images_per_s": 5.08, "infer_ms": 15.1, "peak_rss_mib": 2981,
            "params_g": 43_557_507, "params_d": 30_043_026, "params_total": 73_600_533}
"""The issue's figures for the released code on this kind of machine."""


def _median_time(fn, reps: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t = CLOCK()
        fn()
        times.append(CLOCK() - t)
    return statistics.median(times)


class GenferRunner:
    """The engine's iteration body (genfer.engine.step.run_iteration), timed per phase."""

    def __init__(self, torch, cfg, lr: float, betas: tuple[float, float], precision: str = "fp32"):
        from genfer.core.config import OptimConfig
        from genfer.engine.optim import build_optimizer
        from genfer.engine.precision import make_scaler
        from genfer.models.au_cyclegan import AUCycleGAN

        self.torch = torch
        self.m = AUCycleGAN(cfg)
        self.m.train()
        self.groups = {g: [p for mod in mods for p in mod.parameters()] for g, mods in self.m.groups().items()}
        o = OptimConfig(lr=lr, betas=betas)
        self.opts = {g: build_optimizer("adam", ps, lr, o) for g, ps in self.groups.items()}  # as genfer trains
        self.precision, self.scaler = precision, make_scaler(precision, torch.device("cpu"))
        self.phase_times: dict[str, list[float]] = {}
        time_phases(self.m, self.opts, self.phase_times, CLOCK)

    def iteration(self, batch, step: int) -> dict:
        from genfer.engine.step import run_iteration

        t0 = CLOCK()
        self.phase_times["_parts"] = []
        res = run_iteration(self.m, self.m.prepare(batch), self.opts, self.groups, step,
                            precision=self.precision, scaler=self.scaler)
        rest = CLOCK() - t0 - sum(self.phase_times.pop("_parts"))
        self.phase_times.setdefault("bwd + rest", []).append(rest)
        return {k.split("/")[0]: float(v) for k, v in res.terms.items() if k.endswith("/loss")}

    def infer(self, batch) -> None:
        from genfer.engine.precision import autocast

        with autocast(self.precision, self.torch.device("cpu")):
            self.m.edit(batch["image"], batch["aus"])

    def networks(self):
        return self.m.G, self.m.D


class ReferenceRunner:
    def __init__(self, torch, cfg, lr: float, betas: tuple[float, float]):
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from reference_au_cyclegan import ReferenceAUCycleGAN

        self.torch = torch
        self.ref = ReferenceAUCycleGAN(cfg, lr, betas, keep_graphs=KEEP_GRAPHS)
        self.ref.train()
        self.phase_times: dict[str, list[float]] = {}

    def iteration(self, batch, step: int) -> dict:
        torch = self.torch
        x = batch["image"].float() / 255
        au = (batch["aus"] >= 1).float()  # the release trains on presence (AU_c)
        b = x.shape[0]
        des = au[torch.randperm(b)]  # stands in for gen_rand_cond (a random training sample's AUs)
        alpha = torch.rand(b, 1, 1, 1)
        out = self.ref.iteration(step, x, au, des, alpha)
        return {"D": float(out["d_loss"]), "G": float(out.get("g_loss", float("nan")))}

    def infer(self, batch) -> None:
        self.ref.edit(batch["image"].float() / 255, batch["aus"] / 5)

    def networks(self):
        return self.ref.g, self.ref.d


def child(args: argparse.Namespace) -> dict:
    """Measure one implementation in this process; returns the figures."""
    global CLOCK, KEEP_GRAPHS
    KEEP_GRAPHS = args.keep_graphs
    if args.clock == "cpu":
        CLOCK = time.process_time
    tuned = keep_freed_memory() if args.allocator == "tuned" else False
    import torch

    from genfer.models.au_cyclegan import AUCycleGANConfig

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = AUCycleGANConfig(image_size=args.size)
    if args.impl == "genfer":
        runner = GenferRunner(torch, cfg, 2e-4, (0.5, 0.999), args.precision)
    else:
        runner = ReferenceRunner(torch, cfg, 2e-4, (0.5, 0.999))
    g = torch.Generator().manual_seed(0)
    batch = {
        "image": torch.randint(0, 256, (args.batch, 3, args.size, args.size), dtype=torch.uint8, generator=g),
        "aus": torch.rand(args.batch, 17, generator=g) * 5,
    }
    res: dict = {"impl": args.impl, "allocator": args.allocator, "tuned": tuned, "precision": args.precision}
    g_net, d_net = runner.networks()
    res["params_g"] = sum(p.numel() for p in g_net.parameters())
    res["params_d"] = sum(p.numel() for p in d_net.parameters())
    res["params_total"] = res["params_g"] + res["params_d"]
    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        runner.iteration(batch, 0)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            runner.iteration(batch, 0)
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows))
        return res
    res["iteration_s"] = _median_time(lambda: runner.iteration(batch, 0), args.reps, args.warmup)
    res["images_per_s"] = args.batch / res["iteration_s"]
    res["infer_ms"] = 1e3 * _median_time(lambda: runner.infer(batch), max(3, args.reps), 1) / args.batch
    res["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if runner.phase_times:
        res["phases"] = {k: statistics.median(v) for k, v in runner.phase_times.items()}
    return res


ROWS = [
    ("params_g", "parameters G", "{:,}"),
    ("params_d", "parameters D", "{:,}"),
    ("params_total", "parameters total", "{:,}"),
    ("iteration_s", "train iteration, D + G (s)", "{:.2f}"),
    ("images_per_s", "training images/s", "{:.2f}"),
    ("infer_ms", "inference G(x, aus) (ms/image)", "{:.1f}"),
    ("peak_rss_mib", "peak RSS (MiB)", "{:,.0f}"),
]


def _speedup(key: str, ours: float, theirs: float) -> float:
    """genfer's advantage (> 1 is better): rate ratio for images/s, inverse ratio for times and memory,
    plain ratio for parameter counts (1.00x = equal)."""
    return ours / theirs if key.startswith(("images_per_s", "params")) else theirs / ours


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--impl", choices=["both", "genfer", "reference"], default="both")
    p.add_argument("--allocator", choices=["both", "default", "tuned"], default="default")
    p.add_argument("--reps", type=int, default=5, help="timed runs per figure (median)")
    p.add_argument("--warmup", type=int, default=2, help="untimed runs before timing")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--size", type=int, default=112)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                   help="wall time, or process CPU time (steadier on a shared machine with --threads 1)")
    p.add_argument("--keep-graphs", action="store_true",
                   help="reference keeps each step's loss graph until the next iteration, as the release's loop")
    p.add_argument("--profile", action="store_true", help="profile one genfer iteration")
    p.add_argument("--rows", type=int, default=30, help="profiler rows")
    p.add_argument("--precision", default="fp32",
                   help="genfer's train.precision, or a comma-separated list measured one after the other "
                   "(e.g. fp32,bf16); the reference always runs fp32")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child or args.profile:
        if args.profile and args.impl == "both":
            args.impl = "genfer"
        if args.allocator == "both":
            args.allocator = "default"
        res = child(args)
        if args.child:
            print("RESULT " + json.dumps(res))
        return

    impls = ["reference", "genfer"] if args.impl == "both" else [args.impl]
    allocs = ["default", "tuned"] if args.allocator == "both" else [args.allocator]
    precisions = args.precision.split(",")
    cols = [(i, a, pr) for a in allocs for i in impls for pr in (precisions if i == "genfer" else ["fp32"])]
    results = {}
    for impl, alloc, prec in cols:
        cmd = [sys.executable, __file__, "--child", "--impl", impl, "--allocator", alloc, "--precision", prec]
        cmd += ["--keep-graphs"] if args.keep_graphs else []
        for opt in ("reps", "warmup", "batch", "size", "threads", "clock"):
            cmd += [f"--{opt}", str(getattr(args, opt))]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        line = next(ln for ln in out.splitlines() if ln.startswith("RESULT "))
        results[(impl, alloc, prec)] = json.loads(line[len("RESULT ") :])
        print(f"done: {impl} ({alloc} allocator, {prec})", file=sys.stderr)

    head = [f"{i} ({a}{'' if p == 'fp32' else ', ' + p})" for i, a, p in cols]
    pairs = [(("genfer", a, pr), ("reference", a, "fp32")) for a in allocs for pr in precisions if len(impls) == 2]
    head += [f"x {o[1]}{'' if o[2] == 'fp32' else ' ' + o[2]}" for o, _ in pairs]
    print(f"AU cycle GAN speed, batch {args.batch}, 3x{args.size}x{args.size}, {args.threads} threads, "
          f"median of {args.reps} after {args.warmup} warm-up(s), {args.clock} clock")
    print(f"{'':34s}" + "".join(f"{h:>22s}" for h in head) + f"{'issue (released)':>20s}")
    for key, label, fmt in ROWS:
        cells = [fmt.format(results[c][key]) for c in cols]
        cells += [f"{_speedup(key, results[o][key], results[t][key]):.2f}x" for o, t in pairs]
        comparable = args.size == 112 and (args.batch == 32 or key.startswith("params"))
        ref = fmt.format(RELEASED[key]) if comparable else "-"
        print(f"{label:34s}" + "".join(f"{c:>22s}" for c in cells) + f"{ref:>20s}")
    for impl, alloc, prec in cols:
        if impl == "genfer":
            print(f"\ngenfer per-phase medians ({alloc} allocator, {prec}), seconds:")
            for k, v in results[(impl, alloc, prec)]["phases"].items():
                print(f"  {k:10s} {v:.3f}")


if __name__ == "__main__":
    main()
