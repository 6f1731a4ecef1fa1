"""The one training loop every method runs through.

``train(cfg)`` builds the method, its data and one Adam per network group, then runs the method's
phases iteration by iteration. It owns devices, torchrun data parallelism, seeding, the non-finite
loss guard, logs, sample grids, periodic evaluation with best-checkpoint keeping, atomic
checkpoints and exact resumption: with the same seed, a run killed at any point and resumed with
``resume=RUN_DIR`` ends with the same weights as one that never stopped.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from genfer.core.config import RunConfig
from genfer.core.imaging import save_grid
from genfer.data.loaders import build_data, eval_batches
from genfer.engine import checkpoint as ck
from genfer.engine import distributed as D
from genfer.engine.device import select_device
from genfer.engine.logger import RunLogger
from genfer.engine.schedule import lr_factor
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
        cfg: resolved run config (``genfer.core.config.make_config``).
        resume: a run directory to continue from its latest checkpoint (its saved config wins).
        stop_after: stop after this many iterations of this call (tests use it to simulate an
            interruption); the run is not finalised.
        progress: override ``cfg.train.progress``.
    """
    return Trainer(cfg, resume, progress).fit(stop_after)


class Trainer:
    """One run: set up by ``__init__`` (device, ranks, method, data, optimizers, resume state),
    executed by ``fit``. ``method`` stays available afterwards (tests compare ranks' weights)."""

    def __init__(self, cfg: RunConfig, resume: str | Path | None = None, progress: bool | None = None) -> None:
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.device = device = select_device(cfg.train.device, local_rank)
        self.dist = dist = D.init_distributed(device)
        state: dict[str, Any] | None = None
        if resume is not None:
            self.run_dir = Path(resume)
            cfg = ck.load_config(ck.resolve_checkpoint(self.run_dir, "latest"))
            state = ck.load_training_state(self.run_dir)
        else:
            self.run_dir = _new_run_dir(cfg, dist)
        self.cfg = cfg
        t = cfg.train
        if t.threads > 0:
            torch.set_num_threads(t.threads)
        self.show = (t.progress if progress is None else progress) and dist.is_main

        torch.manual_seed(t.seed)
        self.method = method = build_method(cfg).to(device)
        D.broadcast_module(method)
        self.batches, self.test = build_data(cfg, method.data_kind, dist, progress=self.show)
        self.groups = {n: [p for m in mods for p in m.parameters()] for n, mods in method.groups().items()}
        self.base_lr = {n: cfg.optim.group_lr.get(n, cfg.optim.lr) for n in self.groups}
        self.opts = {
            n: torch.optim.Adam(ps, lr=self.base_lr[n], betas=cfg.optim.betas, weight_decay=cfg.optim.weight_decay)
            for n, ps in self.groups.items()
        }
        spe = self.batches.steps_per_epoch
        self.total = t.max_steps if t.max_steps > 0 else t.epochs * spe
        self.eval_every = t.eval_every or spe
        self.ckpt_every = t.ckpt_every or self.eval_every
        lr_factor(cfg.optim.schedule, 0, self.total)  # a misspelt schedule fails before any work

        self.step, self.best, self.best_step, self.nonfinite, self.streak = 0, None, -1, 0, 0
        if state is not None:
            ck.load_weights(method, ck.resolve_checkpoint(self.run_dir, "latest"))
            for n, opt in self.opts.items():
                opt.load_state_dict(state["optimizers"][n])
            self.step, self.best, self.best_step = state["step"], state["best"], state["best_step"]
            self.nonfinite, self.streak = state["nonfinite"], state["streak"]
            torch.set_rng_state(state["rng_cpu"])
            if device.type == "cuda" and state.get("rng_cuda") is not None:
                torch.cuda.set_rng_state(state["rng_cuda"], device)
        # fixed inputs for sample grids, drawn without touching the training RNG
        self.sample_batch = {k: v[:8] for k, v in method.prepare(self.batches.get(0, device)).items()}

    def training_state(self) -> dict[str, Any]:
        """Everything besides the weights that resuming needs (tensors and plain containers only)."""
        return {
            "step": self.step,
            "epoch": self.step // self.batches.steps_per_epoch,
            "optimizers": {n: o.state_dict() for n, o in self.opts.items()},
            "rng_cpu": torch.get_rng_state(),
            "rng_cuda": torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None,
            "best": self.best,
            "best_step": self.best_step,
            "nonfinite": self.nonfinite,
            "streak": self.streak,
        }

    def save(self, best: bool = False) -> None:
        """Checkpoint the current state (rank 0), move the ``latest`` (and ``best``) pointers."""
        if self.dist.is_main:
            root = self.run_dir / "checkpoints"
            name = f"step-{self.step:07d}"
            ck.save_checkpoint(root / name, self.method, self.cfg, self.training_state())
            ck.write_pointer(root / "latest", name)
            if best:
                ck.write_pointer(root / "best", name)
            _prune(root)
        D.barrier()

    def iteration(self) -> list[str]:
        """One training iteration; returns the phases skipped for a non-finite loss."""
        method, device = self.method, self.device
        batch = method.prepare(self.batches.get(self.step, device))
        o = self.cfg.optim
        factor = lr_factor(o.schedule, self.step, self.total, o.warmup_steps, o.final_lr_ratio)
        for n, opt in self.opts.items():
            for g in opt.param_groups:
                g["lr"] = self.base_lr[n] * factor
        cache: dict[str, Any] = {"step": self.step}
        skipped = []
        for phase in method.phases(self.step):
            out = method.training_step(batch, phase, cache)
            if not D.all_true(bool(torch.isfinite(out.loss).item()), device):
                skipped.append(phase)  # skip this update; its group keeps its weights and moments
                continue
            params = self.groups[phase]
            for p in params:
                p.grad = None
            out.loss.backward()
            D.average_gradients(params)
            self.opts[phase].step()
            self.terms[f"{phase}/loss"] = out.loss.detach()
            for k, v in out.terms.items():
                self.terms[f"{phase}/{k}"] = v.detach()
        self.step += 1
        return skipped

    def fit(self, stop_after: int | None = None) -> Path:
        """Run until the configured end (or ``stop_after`` iterations); return the run directory."""
        t, cfg, dist = self.cfg.train, self.cfg, self.dist
        log = RunLogger(self.run_dir, enabled=dist.is_main, tensorboard=t.tensorboard)
        bar = tqdm(total=self.total, initial=self.step, disable=not self.show, desc=cfg.method, unit="it",
                   dynamic_ncols=True)
        window_t, window_n, first = time.perf_counter(), 0, self.step
        deadline = time.perf_counter() + 60 * t.max_minutes if t.max_minutes > 0 else None
        self.terms: dict[str, torch.Tensor] = {}
        self.method.train()
        try:
            while self.step < self.total and (stop_after is None or self.step - first < stop_after):
                skipped = self.iteration()
                step = self.step
                window_n += 1
                bar.update(1)
                if skipped:
                    self.nonfinite += len(skipped)
                    self.streak += 1
                    log.log(step, "nonfinite", {"phases": skipped, "total": self.nonfinite, "streak": self.streak})
                    if self.streak >= t.max_nonfinite:
                        raise TrainingDiverged(
                            f"{self.streak} consecutive iterations with non-finite losses (phases {skipped}) "
                            f"at step {step}; stopped. The last good checkpoint is {_latest(self.run_dir)}"
                        )
                else:
                    self.streak = 0
                if deadline is not None and not D.all_true(time.perf_counter() < deadline, self.device):
                    # out of time (on any rank): this iteration ends the run, evaluated and saved as such
                    self.total = step
                    bar.total = step
                    log.log(step, "time_budget", {"max_minutes": t.max_minutes})
                if step % t.log_every == 0 or step == self.total:
                    dt = time.perf_counter() - window_t
                    rate = window_n * cfg.data.batch_size / max(dt, 1e-9)
                    vals = {k: float(v) for k, v in self.terms.items()}
                    log.log(step, "train", {**vals, "images_per_s": rate,
                                            "epoch": step / self.batches.steps_per_epoch})
                    post = {k: f"{v:.3g}" for k, v in vals.items() if k.endswith("/loss")}
                    bar.set_postfix(post | {"img/s": f"{rate:.1f}"})
                    window_t, window_n = time.perf_counter(), 0
                last = step == self.total
                if step % self.eval_every == 0 or last:
                    improved = self._evaluate(log, bar)
                    if improved or step % self.ckpt_every == 0 or last:
                        self.save(best=improved)
                elif step % self.ckpt_every == 0:
                    self.save()
                if (t.sample_every and step % t.sample_every == 0) or last:
                    self._write_samples(self.run_dir / "samples" / f"step-{step:07d}.png")
        finally:
            bar.close()
            log.close()
        if self.step == self.total and dist.is_main:
            summary = {"method": cfg.method, "steps": self.step, "best_metric": self.method.best_metric,
                       "best": self.best, "best_step": self.best_step, "nonfinite_skipped": self.nonfinite,
                       "run_dir": str(self.run_dir)}
            (self.run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
        return self.run_dir

    def _evaluate(self, log: RunLogger, bar: tqdm) -> bool:
        """Evaluate on rank 0 without disturbing the training RNG; True when the best improved."""
        method, device = self.method, self.device
        metrics: dict[str, Any] = {}
        if self.dist.is_main:
            method.eval()
            with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                metrics = method.evaluate(method.prepare(b) for b in eval_batches(self.test, device))
            method.train()
        D.barrier()
        if not metrics:
            return False
        log.log(self.step, "eval", metrics)
        if self.show:
            bar.write(f"step {self.step}: " + ", ".join(
                f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, float)))
        key = method.best_metric
        if key is not None and key in metrics and (self.best is None or metrics[key] > self.best):
            self.best, self.best_step = float(metrics[key]), self.step
            return True
        return False

    def _write_samples(self, path: Path) -> None:
        if not self.dist.is_main:
            return
        self.method.eval()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            grid, ncol = self.method.samples(self.sample_batch)
        self.method.train()
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


__all__ = ["Trainer", "TrainingDiverged", "train"]
