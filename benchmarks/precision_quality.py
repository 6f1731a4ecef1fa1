"""What bf16 costs in accuracy and what it gains in speed on this machine: the same run in fp32 and bf16.

Trains the TDGAN demo preset (expression accuracy of M_ER on held-out identities) and the AU cycle
GAN ``cpu`` preset (the critic's AU error on held-out identities, ``d_au_mae``, 0..5 scale) for a
fixed number of iterations each, once per precision, with the same seed, and prints one table. A
fixed step count (no time budget) keeps the comparison about precision, not about how many
iterations each precision fits into a budget.

    python benchmarks/precision_quality.py --tdgan-steps 1000 --au-steps 1000

Record the CPU with the figures: bf16 is fast only with AMX (``lscpu | grep amx``); elsewhere torch
emulates it and it is slower than fp32.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

from genfer.core.config import make_config
from genfer.engine.precision import cpu_has_amx
from genfer.engine.trainer import train

FIGURES = {"tdgan": ("demo", "acc_M_ER"), "au_cyclegan": ("cpu", "d_au_mae")}


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def run(method: str, precision: str, steps: int, threads: int, out: Path) -> dict:
    preset, figure = FIGURES[method]
    name = f"{method}-{precision}"
    cfg = make_config(method, preset, [
        f"train.precision={precision}", f"train.max_steps={steps}", "train.max_minutes=0",
        f"train.eval_every={steps}", f"train.ckpt_every={steps}", "train.sample_every=0", f"train.threads={threads}",
        "train.progress=false", "train.tensorboard=false", f"train.out={out}", f"train.name={name}", "train.device=cpu",
    ])
    t0 = time.perf_counter()
    run_dir = train(cfg)
    seconds = time.perf_counter() - t0
    evals = [r for r in map(json.loads, (run_dir / "log.jsonl").read_text().splitlines()) if r["kind"] == "eval"]
    return {"method": method, "precision": precision, "steps": steps, "seconds": seconds,
            "figure": figure, "value": evals[-1][figure]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tdgan-steps", type=int, default=1000, help="0 skips TDGAN")
    ap.add_argument("--au-steps", type=int, default=1000, help="0 skips the AU cycle GAN")
    ap.add_argument("--precisions", default="fp32,bf16")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="", help="run directories (default: a temporary folder)")
    args = ap.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="genfer-precision-"))
    print(f"CPU: {cpu_name()}; AMX: {cpu_has_amx()}; threads {args.threads}")
    rows = []
    for method, steps in (("tdgan", args.tdgan_steps), ("au_cyclegan", args.au_steps)):
        if steps <= 0:
            continue
        for p in args.precisions.split(","):
            r = run(method, p, steps, args.threads, out)
            print(json.dumps(r), flush=True)
            rows.append(r)
    print("\n| method | precision | iterations | time | s/iteration | figure |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['method']} | {r['precision']} | {r['steps']} | {r['seconds']:.0f} s | "
              f"{r['seconds'] / r['steps']:.3f} | {r['figure']} {r['value']:.3f} |")


if __name__ == "__main__":
    main()
