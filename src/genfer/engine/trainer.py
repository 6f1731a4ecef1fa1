"""The one training loop every method runs through.

``train(cfg)`` builds the method and its data, lays its stages out over the run, and runs
``run_iteration`` step by step. It owns devices, torchrun data parallelism, seeding, precision,
EMA weights, the non-finite loss guard, logs, sample grids, periodic evaluation with
best-checkpoint keeping, atomic checkpoints and exact resumption: with the same seed, a run killed
at any point (in any stage) and resumed with ``resume=RUN_DIR`` ends with the same weights as one
that never stopped.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import threading
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from genfer.core.config import RunConfig
from genfer.core.errors import GenferError, UsageError
from genfer.core.imaging import save_grid
from genfer.data.loaders import build_data, eval_batches
from genfer.engine import checkpoint as ck
from genfer.engine import distributed as D
from genfer.engine.allocator import keep_freed_memory
from genfer.engine.compilation import compile_networks
from genfer.engine.device import select_device
from genfer.engine.ema import EMA
from genfer.engine.logger import RunLogger, truncate_log
from genfer.engine.optim import build_optimizer, lazy_corrected
from genfer.engine.partial import load_partial
from genfer.engine.precision import bf16_emulation_warning, make_scaler, resolve_precision
from genfer.engine.resume import resume_config
from genfer.engine.schedule import lr_factor
from genfer.engine.stages import Span, StageContext, plan_stages, span_at
from genfer.engine.step import run_iteration
from genfer.models import build_method

BEST_MODES = ("max", "min")


class TrainingDiverged(GenferError, RuntimeError):
    """Too many consecutive non-finite losses; the message names the last checkpoint saved while the
    losses were finite (``checkpoints/good``), or says that there is none."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) stopped a run after saving a checkpoint; the message says how to resume."""


def train(
    cfg: RunConfig,
    resume: str | Path | None = None,
    stop_after: int | None = None,
    progress: bool | None = None,
    overrides: list[str] | tuple[str, ...] = (),
) -> Path:
    """Train ``cfg.method`` as configured and return the run directory.

    Args:
        cfg: resolved run config (``genfer.core.config.make_config``).
        resume: a run directory to continue from its latest checkpoint (its saved config wins,
            with ``overrides``; ``cfg`` must be of the same method).
        stop_after: stop after this many iterations of this call (tests use it to simulate an
            interruption); the run is not finalised.
        progress: override ``cfg.train.progress``.
        overrides: with ``resume``, ``section.field=value`` changes of the saved config; only
            ``genfer.engine.resume.SAFE_ON_RESUME`` keys may change.

    Ctrl-C (SIGINT) ends the iteration under way, saves a checkpoint and raises
    :class:`TrainingInterrupted`; a second Ctrl-C stops at once.
    """
    return Trainer(cfg, resume, progress, overrides).fit(stop_after)


class Trainer:
    """One run: set up by ``__init__`` (device, ranks, method, data, stage, optimizers, resume
    state), executed by ``fit``. ``method`` stays available afterwards (tests compare weights)."""

    def __init__(self, cfg: RunConfig, resume: str | Path | None = None, progress: bool | None = None,
                 overrides: list[str] | tuple[str, ...] = ()) -> None:
        self._created: Path | None = None
        self.log: RunLogger | None = None
        try:
            self._set_up(cfg, resume, progress, overrides)
        except BaseException:  # a failed start leaves no stub run directory behind
            if self.log is not None:
                self.log.close()
            if self._created is not None:
                shutil.rmtree(self._created, ignore_errors=True)
            raise

    def _set_up(self, cfg: RunConfig, resume: str | Path | None, progress: bool | None,
                overrides: list[str] | tuple[str, ...]) -> None:
        state: dict[str, Any] | None = None
        if resume is not None:
            self.run_dir = Path(resume)
            # what a process killed while saving left (rank 0 only: torchrun sets RANK before any init)
            if (self.run_dir / "checkpoints").is_dir() and os.environ.get("RANK", "0") == "0":
                ck.remove_orphans(self.run_dir / "checkpoints")
            cfg = resume_config(self.run_dir, cfg.method, overrides)
        elif overrides:
            raise UsageError("overrides are for resumed runs; put them in the config of a new run")
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.device = device = select_device(cfg.train.device, local_rank)
        self.dist = dist = D.init_distributed(device)
        if resume is not None:
            state = ck.load_training_state(self.run_dir)
            if dist.is_main:  # steps logged after the checkpoint are done again: log them once
                truncate_log(self.run_dir / "log.jsonl", state["step"])
            D.barrier()
        else:
            self.run_dir, self._created = _new_run_dir(cfg, dist)
        self.cfg = cfg
        t = cfg.train
        if t.threads > 0:
            torch.set_num_threads(t.threads)
        if t.keep_freed_memory and device.type == "cpu":
            keep_freed_memory()
        self.show = (t.progress if progress is None else progress) and dist.is_main
        self.log = RunLogger(self.run_dir, enabled=dist.is_main, tensorboard=False)  # set-up rows; fit() reopens
        if t.accumulate < 1 or t.clip_grad_norm < 0 or t.ema_start < 0 or not 0 <= t.ema < 1:
            raise ValueError("train.accumulate must be >= 1, train.clip_grad_norm and train.ema_start >= 0, "
                             "train.ema in [0, 1)")
        resolved = resolve_precision(t.precision, device)
        # a resumed run keeps the precision it resolved at its start (exact resume)
        self.precision = state.get("precision", resolved) if state is not None else resolved
        self.scaler = make_scaler(self.precision, device)
        self.precision_warning = bf16_emulation_warning(self.precision, device)
        if self.precision_warning and dist.is_main:
            print(self.precision_warning)

        torch.manual_seed(t.seed)
        self.method = method = build_method(cfg).to(device)
        if method.best_mode not in BEST_MODES:
            raise ValueError(f"{cfg.method}: best_mode must be one of {BEST_MODES}, got {method.best_mode!r}")
        method.load_pretrained()
        for m in method.frozen_modules().values():
            m.requires_grad_(False)
        init_report = None
        if state is None and getattr(cfg.model, "init_from", ""):
            init_report = load_partial(method, cfg.model.init_from, cfg.model.init_keys)
        D.broadcast_module(method)
        self.batches, self.test = build_data(cfg, method.data_kind, dist.rank, dist.world, progress=self.show)
        self.groups = {n: [p for m in mods for p in m.parameters()] for n, mods in method.groups().items()}
        spe = self.batches.steps_per_epoch
        self.total = t.max_steps if t.max_steps > 0 else t.epochs * spe
        self.eval_every = t.eval_every or spe
        self.ckpt_every = t.ckpt_every or self.eval_every
        o = cfg.optim
        # a misspelt schedule, or steplr without its step, fails before any work
        lr_factor(o.schedule, 0, self.total, step_size=o.step_size, gamma=o.gamma)
        self.spans = plan_stages(method.stages(), list(self.groups), self.total, o.optimizer, o.schedule)
        self.ema = EMA(method, method.ema_modules(), t.ema, t.ema_start) if t.ema > 0 else None

        self.step, self.best, self.best_step, self.nonfinite, self.streak = 0, None, -1, 0, 0
        if state is not None:
            if state["step"] > self.total:
                raise UsageError(f"the run is at step {state['step']}, past the {self.total} steps asked for",
                                 path=self.run_dir, fix="give a larger train.max_steps (or train.epochs)")
            self._restore(state)
        else:
            self._enter(span_at(self.spans, 0))
        if t.compile:
            failed = compile_networks([m for mods in method.groups().values() for m in mods])
            if failed:
                if dist.is_main:
                    print(failed)
                self.log.log(self.step, "compile", {"fallback": failed})
        self.init_report = init_report
        self._record_setup(resumed=state is not None)
        self.log.close()
        # fixed inputs for sample grids, drawn without touching the training RNG
        self.sample_batch = {k: v[:8] for k, v in method.prepare(self.batches.get(0, device)).items()}

    def _restore(self, state: dict[str, Any]) -> None:
        """Weights, counters, EMA, scaler, the stage's optimizers and the RNG of the latest checkpoint."""
        latest = ck.resolve_checkpoint(self.run_dir, "latest")
        ck.load_weights(self.method, latest)
        self.step, self.best, self.best_step = state["step"], state["best"], state["best_step"]
        self.nonfinite, self.streak = state["nonfinite"], state["streak"]
        if self.ema is not None:
            self.ema.load_state_dict(ck.read_tensors(latest / ck.EMA_FILE, self.device))
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self._enter(span_at(self.spans, self.step), resumed=True)
        saved = state["optimizers"]
        if self.span.stage.name not in saved and set(saved) <= set(self.groups):  # one unnamed stage: {group: state}
            saved = {self.span.stage.name: saved}
        # a checkpoint taken on the last step of the previous stage holds that stage's optimizers:
        # this stage starts with fresh ones, as an uninterrupted run does at the boundary
        for n, opt in self.opts.items():
            if self.span.stage.name in saved:
                opt.load_state_dict(saved[self.span.stage.name][n])
        torch.set_rng_state(state["rng_cpu"])
        if self.device.type == "cuda" and state.get("rng_cuda") is not None:
            torch.cuda.set_rng_state(state["rng_cuda"], self.device)

    def _record_setup(self, resumed: bool) -> None:
        """Log the resolved precision, the stage plan and the ``init_from`` report (also to
        ``init_from.json``)."""
        self.log.log(self.step, "setup", {"precision": self.precision, "requested_precision": self.cfg.train.precision,
                                          "stages": [[s.stage.name, s.start, s.end] for s in self.spans],
                                          "resumed": resumed,
                                          **({"warning": self.precision_warning} if self.precision_warning else {})})
        rep = self.init_report
        if rep is None:
            return
        self.log.log(self.step, "init_from", {"source": rep.source, "loaded": len(rep.loaded),
                                              "skipped": len(rep.skipped), "missed": len(rep.missed)})
        if self.dist.is_main:
            (self.run_dir / "init_from.json").write_text(json.dumps(rep.to_dict(), indent=1))
            if self.show:
                print(rep.summary())

    # --- stages -----------------------------------------------------------------------------
    def _enter(self, span: Span, resumed: bool = False) -> None:
        """Begin ``span``'s stage: fresh optimizers for its groups, then its ``before`` hook."""
        self.span = span
        stage = span.stage
        # the stage's own optimizer settings (SGD momentum, weight decay, StepLR) over the run's
        self.stage_optim = o = dataclasses.replace(self.cfg.optim, **stage.options) if stage.options else self.cfg.optim
        names = stage.groups if stage.groups is not None else list(self.groups)
        base = stage.lr if stage.lr is not None else o.lr
        lazy = self.method.lazy_intervals() if hasattr(self.method, "lazy_intervals") else {}
        c = {n: lazy[n] / (lazy[n] + 1) if lazy.get(n, 0) > 0 else 1.0 for n in names}
        self.base_lr = {n: o.group_lr.get(n, base) * c[n] for n in names}
        self.opts = {n: build_optimizer(stage.optimizer or o.optimizer, self.groups[n], self.base_lr[n],
                                        o if c[n] == 1 else lazy_corrected(o, c[n])) for n in names}
        if stage.before is not None:
            ctx = StageContext(self.cfg, self.device, self.run_dir, self.step, stage, self.batches, resumed,
                               self.ema)
            with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
                torch.manual_seed(self.cfg.train.seed + 7919 * (span.index + 1))
                stage.before(self.method, ctx)
            self.batches = ctx.batches
        if span.index > 0 or resumed:
            self.log.log(self.step, "stage", {"name": stage.name, "start": span.start, "end": span.end})

    # --- state ------------------------------------------------------------------------------
    def training_state(self) -> dict[str, Any]:
        """Everything besides the weights that resuming needs (tensors and plain containers only)."""
        return {
            "step": self.step,
            "epoch": self.step // self.batches.steps_per_epoch,
            "stage": self.span.stage.name,
            "optimizers": {self.span.stage.name: {n: o.state_dict() for n, o in self.opts.items()}},
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "precision": self.precision,
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
            ema = self.ema.state_dict() if self.ema is not None else None
            ck.save_checkpoint(root / name, self.method, self.cfg, self.training_state(), ema)
            ck.write_pointer(root / "latest", name)
            if best:
                ck.write_pointer(root / "best", name)
            if self.streak == 0 and self._weights_finite():  # what the non-finite guard may call good
                ck.write_pointer(root / "good", name)
            ck.prune(root)
        self.saved_step = self.step
        D.barrier()

    def _weights_finite(self) -> bool:
        return all(bool(torch.isfinite(v).all()) for v in self.method.state_dict().values()
                   if v.is_floating_point())

    # --- iterations -------------------------------------------------------------------------
    def iteration(self) -> list[str]:
        """One training iteration; returns the phases skipped for a non-finite loss."""
        span = span_at(self.spans, self.step)
        if span is not self.span:
            self._enter(span)
        method, t, o = self.method, self.cfg.train, self.stage_optim
        batch = method.prepare(self.batches.get(self.step, self.device))
        schedule = span.stage.schedule or o.schedule
        factor = lr_factor(schedule, self.step - span.start + span.stage.schedule_offset, span.length,
                           o.warmup_steps, o.final_lr_ratio, o.step_size, o.gamma)
        for n, opt in self.opts.items():
            for g in opt.param_groups:
                g["lr"] = self.base_lr[n] * factor
        res = run_iteration(method, batch, self.opts, self.groups, self.step, precision=self.precision,
                            scaler=self.scaler, accumulate=t.accumulate, clip=t.clip_grad_norm)
        self.terms.update(res.terms)
        self.step += 1
        if self.ema is not None:
            self.ema.update(self.step)
        return res.skipped

    def averaged(self):
        """Context in which the method holds its EMA weights (a no-op without ``train.ema``)."""
        return self.ema.applied() if self.ema is not None else nullcontext()

    def fit(self, stop_after: int | None = None) -> Path:
        """Run until the configured end (or ``stop_after`` iterations); return the run directory."""
        t, cfg, dist = self.cfg.train, self.cfg, self.dist
        self.log = log = RunLogger(self.run_dir, enabled=dist.is_main, tensorboard=t.tensorboard)
        bar = tqdm(total=self.total, initial=self.step, disable=not self.show, desc=cfg.method, unit="it",
                   dynamic_ncols=True)
        window_t, window_n, first = time.perf_counter(), 0, self.step
        deadline = time.perf_counter() + 60 * t.max_minutes if t.max_minutes > 0 else None
        self.terms: dict[str, torch.Tensor] = {}
        self.method.train()
        self.saved_step = self.step
        interrupts: list[int] = []
        previous = _catch_sigint(interrupts)
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
                        raise self._diverged(skipped)
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
                    self.terms = {}  # a phase that stopped running (a warm-up's) is not logged again
                last = step == self.total
                if step % self.eval_every == 0 or last:
                    improved = self._evaluate(bar)
                    if improved or step % self.ckpt_every == 0 or last:
                        self.save(best=improved)
                elif step % self.ckpt_every == 0:
                    self.save()
                if (t.sample_every and step % t.sample_every == 0) or last:
                    self._write_samples(self.run_dir / "samples" / f"step-{step:07d}.png")
                if not D.all_true(not interrupts, self.device) and not last:
                    self._interrupted(log)
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
            bar.close()
            log.close()
        if self.step == self.total and dist.is_main:
            summary = {"method": cfg.method, "steps": self.step, "best_metric": self.method.best_metric,
                       "best_mode": self.method.best_mode, "best": self.best, "best_step": self.best_step,
                       "nonfinite_skipped": self.nonfinite, "precision": self.precision,
                       "ema": t.ema, "run_dir": str(self.run_dir), "skipped_items": self.skipped_items()}
            (self.run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
        return self.run_dir

    def skipped_items(self) -> list[str]:
        """Data items left out under ``?on_error=skip`` (training and held-out sets), once each."""
        sets = [*getattr(self.batches, "sets", {}).values(), self.test]
        return list(dict.fromkeys(m for s in sets for m in getattr(s, "skipped", [])))

    def _interrupted(self, log: RunLogger) -> None:
        """Ctrl-C: save the current step (unless just saved) and say how to go on."""
        if self.step != self.saved_step:
            self.save()
        log.log(self.step, "interrupted", {})
        raise TrainingInterrupted(
            f"stopped at step {self.step} of {self.total}; checkpoint {ck.latest_description(self.run_dir)}; "
            f"continue with: genfer train {self.cfg.method} --resume {self.run_dir}"
        )

    def _diverged(self, skipped: list[str]) -> TrainingDiverged:
        good = ck.pointer_target(self.run_dir, "good")
        what = (f"{self.streak} consecutive iterations with non-finite losses (phases {', '.join(skipped)}) at step "
                f"{self.step}, the first of them at step {self.step - self.streak + 1}; stopped")
        if good is not None:
            return TrainingDiverged(
                f"{what}. The last checkpoint saved while the losses were finite is {good}",
                fix=f"start a new run from it (model.init_from={good}) with a lower optim.lr "
                f"(now {self.cfg.optim.lr:g}) or train.clip_grad_norm")
        return TrainingDiverged(
            f"{what}. No checkpoint of this run was saved while the losses were finite",
            fix=f"start again with a lower optim.lr (now {self.cfg.optim.lr:g}) or with train.clip_grad_norm")

    def _evaluate(self, bar: tqdm) -> bool:
        """Evaluate (EMA weights if kept) on rank 0 without disturbing the training RNG; True when
        the best figure improved in the method's ``best_mode``."""
        method, device = self.method, self.device
        metrics: dict[str, Any] = {}
        if self.dist.is_main:
            method.eval()
            with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), self.averaged():
                metrics = method.evaluate(method.prepare(b) for b in eval_batches(self.test, device))
            method.train()
        D.barrier()
        if not metrics:
            return False
        self.log.log(self.step, "eval", metrics)
        if self.show:
            bar.write(f"step {self.step}: " + ", ".join(
                f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, float)))
        key = method.best_metric
        if key is None or key not in metrics:
            return False
        value = float(metrics[key])
        better = self.best is None or (value < self.best if method.best_mode == "min" else value > self.best)
        if better:
            self.best, self.best_step = value, self.step
        return better

    def _write_samples(self, path: Path) -> None:
        if not self.dist.is_main:
            return
        self.method.eval()
        with torch.random.fork_rng(devices=[]), self.averaged():
            torch.manual_seed(0)
            grid, ncol = self.method.samples(self.sample_batch)
        self.method.train()
        save_grid(grid, ncol, path)


def _catch_sigint(interrupts: list[int]):
    """Turn the first Ctrl-C into a request (appended to ``interrupts``) that the loop honours after
    the iteration under way, so the checkpoint it saves is a whole step; a second one stops at once.
    Returns the previous handler (None when not on the main thread, where signals cannot be caught)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def on_sigint(signum, frame):
        if interrupts:
            raise KeyboardInterrupt
        interrupts.append(signum)

    return signal.signal(signal.SIGINT, on_sigint)


def _new_run_dir(cfg: RunConfig, dist: D.DistInfo) -> tuple[Path, Path | None]:
    """The new run's directory, and the top folder this call created (to remove if set-up fails)."""
    name = cfg.train.name or f"{cfg.method}-{time.strftime('%Y%m%d-%H%M%S')}"
    if dist.enabled:
        holder = [name]
        torch.distributed.broadcast_object_list(holder, src=0)
        name = holder[0]
    run_dir = Path(cfg.train.out) / name
    created = None
    if dist.is_main:
        if (run_dir / "checkpoints").exists():
            raise FileExistsError(f"{run_dir} already holds a run; use --resume {run_dir} or another --name")
        created = run_dir if not run_dir.exists() else None
        run_dir.mkdir(parents=True, exist_ok=True)
        cfg.save(run_dir / "config.yaml")
    D.barrier()
    return run_dir, created


__all__ = ["Trainer", "TrainingDiverged", "TrainingInterrupted", "train"]
