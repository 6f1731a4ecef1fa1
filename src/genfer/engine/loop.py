"""The one training loop every method runs through.

``train(cfg)`` builds the method, its data and one Adam per network group, then runs the method's
phases iteration by iteration. It owns devices, torchrun data parallelism, seeding, the non-finite
loss guard, logs, sample grids, periodic evaluation with best-checkpoint keeping, atomic
checkpoints and exact resumption: with the same seed, a run killed at any point and resumed with
``resume=RUN_DIR`` ends with the same weights as one that never stopped.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from genfer.config import RunConfig
from genfer.data.loaders import Batches, TensorSet, build_data, eval_batches
from genfer.engine import checkpoint as ck
from genfer.engine import distributed as D
from genfer.engine.device import select_device
from genfer.engine.logger import RunLogger
from genfer.imaging import save_grid
from genfer.models import build_method


class TrainingDiverged(RuntimeError):
    """Too many consecutive non-finite losses; the last good checkpoint is left as it was."""


def train(
    cfg: RunConfig,
    resume: str | Path | None = None,
    stop_after: int | None = None,
    progress: bool | None = None,
) -> Path:
    """Train ``cfg.method`` as configured and return the run directory.

    Args:
        cfg: resolved run config (``genfer.config.make_config``).
        resume: a run directory to continue from its latest checkpoint (its saved config wins).
        stop_after: stop after this many iterations of this call (tests use it to simulate an
            interruption); the run is not finalised.
        progress: override ``cfg.train.progress``.
    """
    t = cfg.train
    local_rank = int(__import__("os").environ.get("LOCAL_RANK", "0"))
    device = select_device(t.device, local_rank)
    dist = D.init_distributed(device)
    if t.threads > 0:
        torch.set_num_threads(t.threads)
    state: dict[str, Any] | None = None
    if resume is not None:
        run_dir = Path(resume)
        cfg = ck.load_config(ck.resolve_checkpoint(run_dir, "latest"))
        t = cfg.train
        state = ck.load_training_state(run_dir)
    else:
        run_dir = _new_run_dir(cfg, dist)
    show = (t.progress if progress is None else progress) and dist.is_main

    torch.manual_seed(t.seed)
    method = build_method(cfg).to(device)
    D.broadcast_module(method)
    batches, test = build_data(cfg, method.data_kind, dist, progress=show)
    groups = {name: [p for m in mods for p in m.parameters()] for name, mods in method.groups().items()}
    opts = {
        name: torch.optim.Adam(
            ps, lr=cfg.optim.group_lr.get(name, cfg.optim.lr), betas=cfg.optim.betas,
            weight_decay=cfg.optim.weight_decay,
        )
        for name, ps in groups.items()
    }
    total = t.max_steps if t.max_steps > 0 else t.epochs * batches.steps_per_epoch
    eval_every = t.eval_every or batches.steps_per_epoch
    ckpt_every = t.ckpt_every or eval_every

    step, best, best_step, nonfinite, streak = 0, None, -1, 0, 0
    if state is not None:
        ck.load_weights(method, ck.resolve_checkpoint(run_dir, "latest"))
        for name, opt in opts.items():
            opt.load_state_dict(state["optimizers"][name])
        step, best, best_step = state["step"], state["best"], state["best_step"]
        nonfinite, streak = state["nonfinite"], state["streak"]
        torch.set_rng_state(state["rng_cpu"])
        if device.type == "cuda" and state.get("rng_cuda") is not None:
            torch.cuda.set_rng_state(state["rng_cuda"], device)

    log = RunLogger(run_dir, enabled=dist.is_main, tensorboard=t.tensorboard)
    sample_batch = {k: v[:8] for k, v in method.prepare(batches.get(0, device)).items()}

    def training_state() -> dict[str, Any]:
        return {
            "step": step,
            "epoch": step // batches.steps_per_epoch,
            "optimizers": {n: o.state_dict() for n, o in opts.items()},
            "rng_cpu": torch.get_rng_state(),
            "rng_cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
            "best": best,
            "best_step": best_step,
            "nonfinite": nonfinite,
            "streak": streak,
        }

    def save(tag: str | None = None) -> None:
        if dist.is_main:
            name = f"step-{step:07d}"
            ck.save_checkpoint(run_dir / "checkpoints" / name, method, cfg, training_state())
            ck.write_pointer(run_dir / "checkpoints" / "latest", name)
            if tag == "best":
                ck.write_pointer(run_dir / "checkpoints" / "best", name)
            _prune(run_dir / "checkpoints")
        D.barrier()

    method.train()
    bar = tqdm(total=total, initial=step, disable=not show, desc=f"{cfg.method}", unit="it", dynamic_ncols=True)
    window_t, window_n, first = time.perf_counter(), 0, step
    last_terms: dict[str, torch.Tensor] = {}
    try:
        while step < total and (stop_after is None or step - first < stop_after):
            batch = method.prepare(batches.get(step, device))
            cache: dict[str, Any] = {}
            skipped = []
            for phase in method.phases(step):
                out = method.training_step(batch, phase, cache)
                if not D.all_true(bool(torch.isfinite(out.loss).item()), device):
                    skipped.append(phase)
                    continue
                params = groups[phase]
                for p in params:
                    p.grad = None
                out.loss.backward()
                D.average_gradients(params)
                opts[phase].step()
                last_terms[f"{phase}/loss"] = out.loss.detach()
                for k, v in out.terms.items():
                    last_terms[f"{phase}/{k}"] = v.detach()
            step += 1
            window_n += 1
            bar.update(1)
            if skipped:
                nonfinite += len(skipped)
                streak += 1
                log.log(step, "nonfinite", {"phases": skipped, "total": nonfinite, "streak": streak})
                if streak >= t.max_nonfinite:
                    raise TrainingDiverged(
                        f"{streak} consecutive iterations with non-finite losses (phases {skipped}) at "
                        f"step {step}; stopped. The last good checkpoint is {_latest(run_dir)}"
                    )
            else:
                streak = 0
            if step % t.log_every == 0 or step == total:
                dt = time.perf_counter() - window_t
                rate = window_n * cfg.data.batch_size / max(dt, 1e-9)
                vals = {k: float(v) for k, v in last_terms.items()}
                log.log(step, "train", {**vals, "images_per_s": rate, "epoch": step / batches.steps_per_epoch})
                bar.set_postfix({k.split("/")[0] + "/" + k.split("/")[-1]: f"{v:.3g}" for k, v in vals.items()
                                 if k.endswith("/loss")} | {"img/s": f"{rate:.1f}"})
                window_t, window_n = time.perf_counter(), 0
            is_last = step == total
            if step % eval_every == 0 or is_last:
                metrics = _evaluate(method, test, device, dist)
                tag = None
                if metrics:
                    log.log(step, "eval", metrics)
                    key = method.best_metric
                    if key is not None and key in metrics and (best is None or metrics[key] > best):
                        best, best_step, tag = float(metrics[key]), step, "best"
                    if show:
                        bar.write(f"step {step}: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()
                                                               if isinstance(v, float)))
                if tag == "best" or step % ckpt_every == 0 or is_last:
                    save(tag)
            elif step % ckpt_every == 0:
                save()
            if (t.sample_every and step % t.sample_every == 0) or is_last:
                _write_samples(method, sample_batch, run_dir / "samples" / f"step-{step:07d}.png", dist)
    finally:
        bar.close()
        log.close()
    if step == total and dist.is_main:
        summary = {"method": cfg.method, "steps": step, "best_metric": method.best_metric, "best": best,
                   "best_step": best_step, "nonfinite_skipped": nonfinite, "run_dir": str(run_dir)}
        (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    return run_dir


def _evaluate(method, test: TensorSet, device: torch.device, dist: D.DistInfo) -> dict[str, Any]:
    metrics: dict[str, Any] = {}
    if dist.is_main:
        method.eval()
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            metrics = method.evaluate(method.prepare(b) for b in eval_batches(test, device))
        method.train()
    D.barrier()
    return {k: float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v for k, v in metrics.items()}


def _write_samples(method, batch, path: Path, dist: D.DistInfo) -> None:
    if not dist.is_main:
        return
    method.eval()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        grid, ncol = method.samples(batch)
    method.train()
    save_grid(grid, ncol, path)


def _new_run_dir(cfg: RunConfig, dist: D.DistInfo) -> Path:
    name = cfg.train.name or f"{cfg.method}-{time.strftime('%Y%m%d-%H%M%S')}"
    if dist.enabled:
        holder = [name]
        torch.distributed.broadcast_object_list(holder, src=0)
        name = holder[0]
    run_dir = Path(cfg.train.out) / name
    if dist.is_main:
        if (run_dir / "checkpoints").exists():
            raise FileExistsError(f"{run_dir} already holds a run; use --resume {run_dir} or another --name")
        run_dir.mkdir(parents=True, exist_ok=True)
        cfg.save(run_dir / "config.yaml")
    D.barrier()
    return run_dir


def _latest(run_dir: Path) -> str:
    ptr = run_dir / "checkpoints" / "latest"
    return str(run_dir / "checkpoints" / ptr.read_text().strip()) if ptr.exists() else "none (no checkpoint yet)"


def _prune(ckpt_root: Path) -> None:
    """Keep only the checkpoints named by the ``latest`` and ``best`` pointers."""
    keep = {p.read_text().strip() for p in (ckpt_root / "latest", ckpt_root / "best") if p.exists()}
    for d in ckpt_root.glob("step-*"):
        if d.is_dir() and d.name not in keep:
            shutil.rmtree(d, ignore_errors=True)


__all__ = ["Batches", "TrainingDiverged", "train"]
