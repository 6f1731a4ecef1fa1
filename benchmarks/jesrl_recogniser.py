"""JESRL's claim, measured: does a recogniser learn more from real plus synthesised faces? (issue 15)

Takes a finished JESRL run (the ``synthface`` preset: its labelled training identities, its swap
GAN) and trains the recogniser ``R`` again from a fresh initialisation, three ways, for each seed:

- ``real``: real faces only, as many steps as the run's recogniser stages had;
- ``real+synth``: the same steps and the same real batches, plus the run's curriculum of extra
  synthetic batches from the last round's synthesised set (``<run>/synth/recogniser_<last>``);
- ``real, same images``: real faces only, for as many steps as make the synthetic arm's image count
  (the extra batches are extra compute; this arm gives real-only training that compute).

Everything else is the run's: the encoder (R reads its fx), SGD and its StepLR, the batch size and
flips. Accuracy is on the held-out identities' test split. The run's own recogniser, trained while
the GAN trained, is reported beside them.

Usage:
    python benchmarks/jesrl_recogniser.py --run RUN [--seeds 0 1 2] [--steps N] [--lr LR] [--optim adam]
        [--threads 1]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time
from pathlib import Path

import torch

from genfer.data.batches import RecogniserBatches, eval_batches
from genfer.data.loaders import build_data
from genfer.engine.checkpoint import load_method
from genfer.engine.optim import build_optimizer
from genfer.engine.schedule import lr_factor
from genfer.models.base import Stage
from genfer.models.jesrl.networks import VGGFx


def accuracy(method, test) -> float:
    method.eval()
    return method.evaluate(method.prepare(b) for b in eval_batches(test, method.device))["acc"]


def recogniser_stage(method, lr: float | None = None, optim: str | None = None) -> Stage:
    """The method's recogniser stage, as the engine runs it (``lr`` replaces its rate, ``optim`` its
    optimizer: ``model.rec_optim``)."""
    if optim:
        method.cfg.rec_optim = optim
    stage = next(s for s in method.stages() if s.groups == ["R"])
    return dataclasses.replace(stage, lr=lr or stage.lr)


def train_r(method, cfg, stage: Stage, batches: RecogniserBatches, steps: int, seed: int) -> None:
    """A fresh ``R`` (seeded init) trained for ``steps`` on ``batches`` with ``stage``'s optimizer and
    schedule, as the engine builds them."""
    c = method.cfg
    o = dataclasses.replace(cfg.optim, **stage.options)
    torch.manual_seed(seed)
    method.R = VGGFx(c.num_classes, c.channels, c.vgg_width, c.vgg_hidden).to(method.device)
    opt = build_optimizer(stage.optimizer, method.R.parameters(), stage.lr, o)
    method.train()
    for step in range(steps):
        for g in opt.param_groups:
            g["lr"] = stage.lr * lr_factor(stage.schedule, step, steps, o.warmup_steps,
                                           step_size=o.step_size, gamma=o.gamma)
        batch = method.prepare(batches.get(step, method.device))
        loss = method.training_step(batch, "R", {}).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True, help="a finished JESRL run directory (or checkpoint)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--steps", type=int, default=0, help="recogniser steps per arm (0: the run's, rounds x epochs)")
    ap.add_argument("--lr", type=float, default=None, help="recogniser learning rate (default: the run's rec_lr)")
    ap.add_argument("--optim", choices=("sgd", "adam"), default=None,
                    help="recogniser optimizer (default: the run's model.rec_optim)")
    ap.add_argument("--arms", nargs="+", default=None, help="arms to run (default: all three)")
    ap.add_argument("--out", default=None, help="result JSON (default: <run>/recogniser_comparison.json)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    method, cfg = load_method(args.run)
    c = method.cfg
    run_dir = Path(args.run)
    run_dir = run_dir.parents[1] if run_dir.parent.name == "checkpoints" else run_dir
    got = method.load_synthesised(run_dir / "synth" / f"recogniser_{c.rounds - 1}")
    if got is None:
        raise SystemExit(f"{run_dir}: no complete synthesised set of the last round; let the run finish")
    synth, fx = got
    batches, test = build_data(cfg, "swap_pairs", progress=False)
    real = batches.sets["main"]
    stage = recogniser_stage(method, args.lr, args.optim)
    steps = args.steps or c.rounds * method.rec_steps()
    epochs = -(-steps // c.rec_epoch_steps)

    def make(curriculum, seed: int) -> RecogniserBatches:
        return RecogniserBatches(real, synth, fx, c.rec_batch, c.image_size, seed, 0, c.rec_epoch_steps, 0, curriculum)

    probe = make(c.curriculum, cfg.train.seed)
    extra = sum(probe.extra(step // c.rec_epoch_steps) for step in range(steps))  # synthetic batches in all
    long_steps = steps + extra
    res = {"run": str(run_dir), "train_faces": len(real), "train_identities": int(real.identities.unique().numel()),
           "synth_faces": len(synth), "test_faces": len(test), "steps": steps, "epochs": epochs,
           "real_same_images_steps": long_steps,
           "optim": stage.optimizer, "lr": stage.lr, "curriculum": [list(p) for p in c.curriculum],
           "run_recogniser_acc": accuracy(method, test), "arms": {}}
    none = ((0, 0),)
    arms = {"real": (none, steps), "real+synth": (c.curriculum, steps), "real, same images": (none, long_steps)}
    for name in args.arms or list(arms):
        curriculum, n = arms[name]
        accs = []
        for seed in args.seeds:
            b = make(curriculum, cfg.train.seed + 1000 * seed)  # the batch order varies with the seed too
            train_r(method, cfg, stage, b, n, seed)
            accs.append(accuracy(method, test))
            print(f"{name:18s} seed {seed}: acc {accs[-1]:.4f}  ({time.perf_counter() - t0:.0f} s)", flush=True)
        res["arms"][name] = {"acc": accs, "mean": statistics.mean(accs),
                             "std": statistics.stdev(accs) if len(accs) > 1 else 0.0, "steps": n}
    res["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(res, indent=2))
    Path(args.out or run_dir / "recogniser_comparison.json").write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
