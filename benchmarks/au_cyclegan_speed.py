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
kernel (see benchmarks/tdgan_speed.py); the default is glibc's own behaviour for both.

    python benchmarks/au_cyclegan_speed.py                       # both, released defaults (~3 min)
    python benchmarks/au_cyclegan_speed.py --impl genfer --reps 2 --warmup 1
    python benchmarks/au_cyclegan_speed.py --profile              # torch.profiler table, one genfer iteration
"""

from __future__ import annotations

import argparse
import ctypes
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLOCK = time.perf_counter
KEEP_GRAPHS = False
RELEASED = {"iteration_s": 6.30, "images_per_s": 5.08, "infer_ms": 15.1, "peak_rss_mib": 2981,
            "params_g": 43_557_507, "params_d": 30_043_026, "params_total": 73_600_533}
"""The issue's figures for the released code on this kind of machine."""


def tune_allocator() -> bool:
    """glibc: serve big blocks from the heap and never trim it, so freed pages are reused."""
    if platform.system() != "Linux":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_mmap_max = -1, -4
    return bool(libc.mallopt(m_mmap_max, 0)) and bool(libc.mallopt(m_trim_threshold, 2**31 - 1))


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
    """The engine contract (genfer.engine.loop.Trainer.iteration), timed per phase."""

    def __init__(self, torch, cfg, lr: float, betas: tuple[float, float]):
        from genfer.models.au_cyclegan import AUCycleGAN

        self.torch = torch
        self.m = AUCycleGAN(cfg)
        self.m.train()
        self.groups = {g: [p for mod in mods for p in mod.parameters()] for g, mods in self.m.groups().items()}
        self.opts = {g: torch.optim.Adam(ps, lr, betas=betas) for g, ps in self.groups.items()}
        self.phase_times: dict[str, list[float]] = {}

    def iteration(self, batch, step: int) -> dict:
        m = self.m
        batch = m.prepare(batch)
        cache: dict = {}
        losses = {}
        for phase in m.phases(step):
            t0 = CLOCK()
            out = m.training_step(batch, phase, cache)
            t1 = CLOCK()
            for p in self.groups[phase]:
                p.grad = None
            out.loss.backward()
            t2 = CLOCK()
            self.opts[phase].step()
            t3 = CLOCK()
            for key, dt in ((f"{phase} fwd", t1 - t0), (f"{phase} bwd", t2 - t1), (f"{phase} step", t3 - t2)):
                self.phase_times.setdefault(key, []).append(dt)
            losses[phase] = float(out.loss.detach())
        return losses

    def infer(self, batch) -> None:
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
    tuned = tune_allocator() if args.allocator == "tuned" else False
    import torch

    from genfer.models.au_cyclegan import AUCycleGANConfig

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = AUCycleGANConfig(image_size=args.size)
    runner = (GenferRunner if args.impl == "genfer" else ReferenceRunner)(torch, cfg, 2e-4, (0.5, 0.999))
    g = torch.Generator().manual_seed(0)
    batch = {
        "image": torch.randint(0, 256, (args.batch, 3, args.size, args.size), dtype=torch.uint8, generator=g),
        "aus": torch.rand(args.batch, 17, generator=g) * 5,
    }
    res: dict = {"impl": args.impl, "allocator": args.allocator, "tuned": tuned}
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
    results = {}
    for alloc in allocs:
        for impl in impls:
            cmd = [sys.executable, __file__, "--child", "--impl", impl, "--allocator", alloc]
            cmd += ["--keep-graphs"] if args.keep_graphs else []
            for opt in ("reps", "warmup", "batch", "size", "threads", "clock"):
                cmd += [f"--{opt}", str(getattr(args, opt))]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            line = next(ln for ln in out.splitlines() if ln.startswith("RESULT "))
            results[(impl, alloc)] = json.loads(line[len("RESULT ") :])
            print(f"done: {impl} ({alloc} allocator)", file=sys.stderr)

    cols = [(i, a) for a in allocs for i in impls]
    head = [f"{i} ({a})" for i, a in cols]
    pairs = [(("genfer", a), ("reference", a)) for a in allocs if len(impls) == 2]
    head += [f"x {o[1]}" for o, _ in pairs]
    print(f"AU cycle GAN speed, batch {args.batch}, 3x{args.size}x{args.size}, {args.threads} threads, "
          f"median of {args.reps} after {args.warmup} warm-up(s), {args.clock} clock")
    print(f"{'':34s}" + "".join(f"{h:>22s}" for h in head) + f"{'issue (released)':>20s}")
    for key, label, fmt in ROWS:
        cells = [fmt.format(results[c][key]) for c in cols]
        cells += [f"{_speedup(key, results[o][key], results[t][key]):.2f}x" for o, t in pairs]
        comparable = args.size == 112 and (args.batch == 32 or key.startswith("params"))
        ref = fmt.format(RELEASED[key]) if comparable else "-"
        print(f"{label:34s}" + "".join(f"{c:>22s}" for c in cells) + f"{ref:>20s}")
    for alloc in allocs:
        if ("genfer", alloc) in results:
            print(f"\ngenfer per-phase medians ({alloc} allocator), seconds:")
            for k, v in results[("genfer", alloc)]["phases"].items():
                print(f"  {k:8s} {v:.3f}")


if __name__ == "__main__":
    main()
