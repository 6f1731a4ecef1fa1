"""CPU seconds per JESRL GAN iteration (D then G) of a preset, on random faces.

What the training budget of a preset buys: one thread, genfer as it trains (fused Adam, freed
memory kept, the preset's ``train.precision`` unless ``--precision`` says otherwise; until JESRL's
stop 34 this script always ran fp32), the median of ``--rounds`` rounds of 10 iterations after 3
warm-up iterations.

    python benchmarks/jesrl_step.py                         # the synthface preset (64 px, b10)
    python benchmarks/jesrl_step.py --preset synthface data.batch_size=8
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from genfer.core.config import make_config
from genfer.engine.allocator import keep_freed_memory
from genfer.engine.optim import build_optimizer
from genfer.engine.step import run_iteration
from genfer.models.jesrl import JESRL


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="synthface")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--precision", default="", help="fp32 or bf16 (default: the preset's train.precision)")
    ap.add_argument("overrides", nargs="*", help="KEY=VALUE config overrides")
    args = ap.parse_args()
    keep_freed_memory()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = make_config("jesrl", args.preset, args.overrides)
    m = JESRL(cfg.model)
    m.train()
    m.P.eval()
    n, s, k = cfg.data.batch_size, cfg.model.image_size, cfg.model.num_classes
    g = torch.Generator().manual_seed(1)
    xa, xb = (torch.randint(0, 256, (n, 3, s, s), dtype=torch.uint8, generator=g) for _ in range(2))
    i = torch.randint(0, k, (n,), generator=g)
    j = (i + torch.randint(1, k, (n,), generator=g)) % k
    groups = {"G": [p for net in (m.Enc, m.Dec) for p in net.parameters()],
              "D": [p for net in (m.D1, m.D2) for p in net.parameters()]}
    opts = {name: build_optimizer("adam", ps, cfg.model.gan_lr, cfg.optim) for name, ps in groups.items()}
    batch = m.prepare({"x_a": xa, "x_b": xb, "y_a": i, "y_b": j})
    precision = args.precision or cfg.train.precision

    def step() -> None:
        m.last_loss_g.zero_()  # D runs every time
        run_iteration(m, batch, opts, groups, 0, precision=precision)

    for _ in range(3):
        step()
    rounds = []
    for _ in range(args.rounds):
        t = time.process_time()
        for _ in range(10):
            step()
        rounds.append((time.process_time() - t) / 10)
    print(f"{args.preset} {' '.join(args.overrides)}: batch {n}, {s} px, {precision}, {args.threads} thread(s): "
          f"{statistics.median(rounds):.4f} CPU s per iteration (rounds {[round(r, 3) for r in rounds]})")


if __name__ == "__main__":
    main()
