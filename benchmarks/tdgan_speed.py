"""TDGAN training and inference speed: genfer vs a re-implementation of the released compute pattern.

Prints, for both implementations at the paper's defaults (batch 32, 1 x 128 x 128, CPU threads 2):
seconds per iteration for the three kinds of iteration in the 10-iteration update cycle (all
updates; D_FR + G; G only), the cycle mean and pairs/s, transfer and M_ER classification ms/image,
peak RSS, and the genfer/released ratios. Each implementation runs in its own subprocess so peak
RSS is its own. Times are medians of ``--reps`` after ``--warmup`` runs; other processes on the
machine add noise, the ratios are more robust than the absolute figures.

``--allocator tuned`` makes glibc keep freed memory for reuse (no ``mmap`` for big blocks, no
trimming) instead of returning it to the kernel and page-faulting it back on the next
allocation; on this workload that alone saves 10-25% of the time. It is applied to the process
that runs the implementation, so ``--allocator`` compares like with like; the default table shows
both implementations under both settings.

    python benchmarks/tdgan_speed.py                  # full table (~15 min on 2 cores)
    python benchmarks/tdgan_speed.py --reps 1 --runs reference:default,genfer:default
    python benchmarks/tdgan_speed.py --threads 1 --clock cpu   # steadier when the cores are shared
    python benchmarks/tdgan_speed.py --profile G      # torch.profiler table of one genfer G iteration
    python benchmarks/tdgan_speed.py --runs reference:tuned,genfer:tuned --precision fp32,bf16
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
KINDS = {"all": 0, "D_FR+G": 5, "G": 1}  # a step number of each iteration kind at gaps 5 / 10
CYCLE = {"all": 1, "D_FR+G": 1, "G": 8}  # how often each kind occurs in 10 iterations


CLOCK = time.perf_counter


def _median_time(fn, reps: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t = CLOCK()
        fn()
        times.append(CLOCK() - t)
    return statistics.median(times)


def _batch(torch, b: int, size: int):
    g = torch.Generator().manual_seed(0)
    shape = (b, 1, size, size)
    return {
        "x_f": torch.randint(0, 256, shape, dtype=torch.uint8, generator=g),
        "id_f": torch.randint(0, 20, (b,), generator=g),
        "x_e": torch.randint(0, 256, shape, dtype=torch.uint8, generator=g),
        "y_e": torch.randint(0, 7, (b,), generator=g),
    }


class GenferRunner:
    def __init__(self, torch, cfg, precision: str = "fp32"):
        from genfer.core.config import OptimConfig
        from genfer.engine.optim import build_optimizer
        from genfer.engine.precision import make_scaler
        from genfer.models.tdgan import TDGAN

        self.torch = torch
        self.m = TDGAN(cfg)
        self.m.train()
        groups = self.m.groups()
        self.groups = {g: [p for mod in mods for p in mod.parameters()] for g, mods in groups.items()}
        o = OptimConfig(lr=1e-4, betas=(0.9, 0.999))  # the release's Adam, built as genfer trains
        self.opts = {g: build_optimizer("adam", ps, o.lr, o) for g, ps in self.groups.items()}
        self.precision, self.scaler = precision, make_scaler(precision, torch.device("cpu"))
        self.phase_times: dict[str, list[float]] = {}
        time_phases(self.m, self.opts, self.phase_times, CLOCK)

    def iteration(self, batch, step: int) -> None:
        """The engine's iteration body (genfer.engine.step.run_iteration), timed per phase."""
        from genfer.engine.step import run_iteration

        t0 = CLOCK()
        self.phase_times["_parts"] = []
        run_iteration(self.m, self.m.prepare(batch), self.opts, self.groups, step, precision=self.precision,
                      scaler=self.scaler)
        rest = CLOCK() - t0 - sum(self.phase_times.pop("_parts"))
        self.phase_times.setdefault("bwd + rest", []).append(rest)

    def transfer(self, batch) -> None:
        from genfer.engine.precision import autocast

        with autocast(self.precision, self.torch.device("cpu")):
            self.m.transfer(batch["x_f"], batch["x_e"])

    def classify(self, batch) -> None:
        from genfer.engine.precision import autocast

        with autocast(self.precision, self.torch.device("cpu")):
            self.m.classify(batch["x_e"])


class ReferenceRunner:
    def __init__(self, torch, cfg):
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from reference_tdgan import ReferenceTDGAN

        self.torch = torch
        self.ref = ReferenceTDGAN(cfg)
        self.phase_times: dict[str, list[float]] = {}

    def _float(self, batch):
        return {k: (v.float() / 255 if v.dtype == self.torch.uint8 else v) for k, v in batch.items()}

    def iteration(self, batch, step: int) -> None:
        self.ref.train()
        x = self._float(batch)
        self.ref.iteration(step, x["x_f"], x["id_f"], x["x_e"], x["y_e"])

    def transfer(self, batch) -> None:
        x = self._float(batch)
        self.ref.transfer(x["x_f"], x["x_e"])

    def classify(self, batch) -> None:
        self.ref.classify(self._float(batch)["x_e"])


def child(args: argparse.Namespace) -> dict:
    """Measure one implementation in this process; returns the figures."""
    global CLOCK
    if args.clock == "cpu":
        CLOCK = time.process_time
    tuned = keep_freed_memory() if args.allocator == "tuned" else False
    import torch

    from genfer.models.tdgan import TDGANConfig

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = TDGANConfig(image_size=args.size)
    runner = GenferRunner(torch, cfg, args.precision) if args.impl == "genfer" else ReferenceRunner(torch, cfg)
    batch = _batch(torch, args.batch, args.size)
    res: dict = {"impl": args.impl, "allocator": args.allocator, "tuned": tuned, "precision": args.precision}
    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        step = KINDS[args.profile]
        runner.iteration(batch, step)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            runner.iteration(batch, step)
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows))
        return res
    for kind, step in KINDS.items():
        res[kind] = _median_time(lambda step=step: runner.iteration(batch, step), args.reps, args.warmup)
    res["cycle"] = sum(res[k] * n for k, n in CYCLE.items()) / sum(CYCLE.values())
    res["pairs_per_s"] = args.batch / res["cycle"]
    n_inf = max(3, args.reps)
    res["transfer_ms"] = 1e3 * _median_time(lambda: runner.transfer(batch), n_inf, 1) / args.batch
    res["classify_ms"] = 1e3 * _median_time(lambda: runner.classify(batch), n_inf, 1) / args.batch
    res["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if runner.phase_times:
        res["phases"] = {k: statistics.median(v) for k, v in runner.phase_times.items()}
    return res


ROWS = [
    ("all", "iteration, all updates (s)", "{:.2f}"),
    ("D_FR+G", "iteration, D_FR + G (s)", "{:.2f}"),
    ("G", "iteration, G only (s)", "{:.2f}"),
    ("cycle", "cycle mean (s/iteration)", "{:.2f}"),
    ("pairs_per_s", "training pairs/s", "{:.2f}"),
    ("transfer_ms", "transfer (ms/image)", "{:.1f}"),
    ("classify_ms", "M_ER classification (ms/image)", "{:.2f}"),
    ("peak_rss_mib", "peak RSS (MiB)", "{:,.0f}"),
]


def _speedup(key: str, ours: float, theirs: float) -> float:
    # higher is better for throughput, lower for everything else
    return ours / theirs if key == "pairs_per_s" else theirs / ours


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", default="reference:default,genfer:default,reference:tuned,genfer:tuned",
                   help="comma-separated IMPL:ALLOCATOR runs, IMPL in {reference, genfer}, "
                   "ALLOCATOR in {default, tuned}")
    p.add_argument("--impl", choices=["genfer", "reference"], default="genfer",
                   help="implementation for --profile (and --child)")
    p.add_argument("--allocator", choices=["default", "tuned"], default="tuned",
                   help="allocator for --profile (and --child)")
    p.add_argument("--reps", type=int, default=3, help="timed runs per figure (median)")
    p.add_argument("--warmup", type=int, default=1, help="untimed runs before timing")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                   help="wall time, or process CPU time (steadier on a shared machine with --threads 1)")
    p.add_argument("--profile", choices=list(KINDS), help="profile one genfer iteration of this kind")
    p.add_argument("--rows", type=int, default=30, help="profiler rows")
    p.add_argument("--precision", default="fp32",
                   help="genfer's train.precision, or a comma-separated list measured one after the other "
                   "(e.g. fp32,bf16); the reference always runs fp32")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child or args.profile:
        res = child(args)
        if args.child:
            print("RESULT " + json.dumps(res))
        return

    precisions = args.precision.split(",")
    runs = []
    for r in args.runs.split(","):
        impl, alloc = r.split(":")
        runs += [(impl, alloc, pr) for pr in (precisions if impl == "genfer" else ["fp32"])]
    results = {}
    for impl, alloc, prec in runs:
        cmd = [sys.executable, __file__, "--child", "--impl", impl, "--allocator", alloc, "--precision", prec]
        for opt in ("reps", "warmup", "batch", "size", "threads", "clock"):
            cmd += [f"--{opt}", str(getattr(args, opt))]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        line = next(ln for ln in out.splitlines() if ln.startswith("RESULT "))
        results[(impl, alloc, prec)] = json.loads(line[len("RESULT ") :])
        print(f"done: {impl} ({alloc} allocator, {prec})", file=sys.stderr)

    cols = list(results)
    head = [f"{i} ({a}{'' if p == 'fp32' else ', ' + p})" for i, a, p in cols]
    # genfer against the release under the same allocator, and tuned genfer against the release as is
    pairs = [(("genfer", a, pr), ("reference", a, "fp32")) for a in ("default", "tuned") for pr in precisions]
    pairs += [(("genfer", "tuned", pr), ("reference", "default", "fp32")) for pr in precisions]
    pairs = [(o, t) for o, t in pairs if o in results and t in results]
    head += [f"x {o[1]}/{t[1]}{'' if o[2] == 'fp32' else ' ' + o[2]}" for o, t in pairs]
    print(f"TDGAN speed, batch {args.batch}, 1x{args.size}x{args.size}, {args.threads} threads, "
          f"median of {args.reps} after {args.warmup} warm-up(s), {args.clock} clock")
    print(f"{'':34s}" + "".join(f"{h:>21s}" for h in head))
    for key, label, fmt in ROWS:
        cells = [fmt.format(results[c][key]) for c in cols]
        cells += [f"{_speedup(key, results[o][key], results[t][key]):.2f}x" for o, t in pairs]
        print(f"{label:34s}" + "".join(f"{c:>21s}" for c in cells))
    for impl, alloc, prec in cols:
        if impl == "genfer":
            print(f"\ngenfer per-phase medians ({alloc} allocator, {prec}), seconds:")
            for k, v in results[(impl, alloc, prec)]["phases"].items():
                print(f"  {k:14s} {v:.3f}")


if __name__ == "__main__":
    main()
