"""Learning-rate schedules: values at the ends, monotone decay, warm-up, and the engine applying them."""

from __future__ import annotations

import itertools

import pytest

from genfer.engine.schedule import SCHEDULES, lr_factor
from genfer.engine.trainer import Trainer


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_schedule_starts_at_one_and_ends_at_final(schedule):
    f = [lr_factor(schedule, s, 100, final=0.1) for s in range(100)]
    assert f[0] == pytest.approx(1.0)
    assert f[-1] == pytest.approx(1.0 if schedule == "constant" else 0.1)
    assert all(a >= b - 1e-12 for a, b in itertools.pairwise(f))  # never increases after warm-up


def test_warmup_rises_linearly_then_decays():
    f = [lr_factor("linear", s, 20, warmup=4) for s in range(20)]
    assert f[:5] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert f[-1] == pytest.approx(0.0)


def test_unknown_schedule_fails_before_training(tiny_cfg):
    with pytest.raises(ValueError, match="optim.schedule"):
        Trainer(tiny_cfg("tdgan", "optim.schedule=step", "train.max_steps=2"))


def test_engine_sets_the_scheduled_rate_per_group(tiny_cfg):
    cfg = tiny_cfg("tdgan", "optim.schedule=linear", "optim.lr=1e-3", "optim.group_lr={M_ER: 2e-3}",
                   "train.max_steps=4", "train.eval_every=100", "train.threads=1", "train.name=sched")
    tr = Trainer(cfg)
    tr.terms = {}
    tr.iteration()
    tr.iteration()  # second of 4 iterations: factor 1 - 1/3
    assert tr.opts["G"].param_groups[0]["lr"] == pytest.approx(1e-3 * 2 / 3)
    assert tr.opts["M_ER"].param_groups[0]["lr"] == pytest.approx(2e-3 * 2 / 3)


def test_time_budget_ends_the_run_as_a_finished_one(tiny_cfg, monkeypatch):
    """train.max_minutes: the iteration that crosses the budget is the last; it is evaluated, checkpointed
    and summarised like the end of a run."""
    import json

    from genfer.engine import checkpoint as ck
    from genfer.engine import trainer

    clock = iter(range(0, 10_000, 30))  # every perf_counter() call advances 30 s
    monkeypatch.setattr(trainer.time, "perf_counter", lambda: float(next(clock)))
    cfg = tiny_cfg("tdgan", "train.max_steps=50", "train.max_minutes=2", "train.eval_every=100",
                   "train.threads=1", "train.name=budget")
    run = Trainer(cfg).fit()
    summary = json.loads((run / "summary.json").read_text())
    assert 0 < summary["steps"] < 50
    assert ck.resolve_checkpoint(run, "latest").name == f"step-{summary['steps']:07d}"
    kinds = [json.loads(x)["kind"] for x in (run / "log.jsonl").read_text().splitlines()]
    assert "time_budget" in kinds and kinds.count("eval") == 1


def test_evaluation_batches_carry_aus_so_au_methods_report_their_error(tiny_cfg):
    import json

    cfg = tiny_cfg("au_cyclegan", "train.max_steps=1", "train.eval_every=1", "train.threads=1",
                   "train.name=aus")
    run = Trainer(cfg).fit()
    evals = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines() if '"eval"' in x]
    assert evals and ("d_au_mae" in evals[-1] or "d_au_acc" in evals[-1])  # the critic's AU head, scored


def test_steplr_multiplies_by_gamma_every_step_size():
    f = [lr_factor("steplr", s, 10, step_size=3, gamma=0.5) for s in range(7)]
    assert f == pytest.approx([1, 1, 1, 0.5, 0.5, 0.5, 0.25])
    with pytest.raises(ValueError, match="step_size"):
        lr_factor("steplr", 0, 10)


def test_engine_runs_a_run_wide_steplr(tiny_cfg):
    cfg = tiny_cfg("tdgan", "optim.schedule=steplr", "optim.step_size=1", "optim.gamma=0.5", "optim.lr=1e-3",
                   "train.max_steps=3", "train.eval_every=100", "train.threads=1", "train.name=steplr")
    tr = Trainer(cfg)  # the start-up check sees step_size (it once refused every run-wide steplr)
    tr.terms = {}
    tr.iteration()
    tr.iteration()
    assert tr.opts["G"].param_groups[0]["lr"] == pytest.approx(1e-3 * 0.5)
    with pytest.raises(ValueError, match="step_size"):
        Trainer(tiny_cfg("tdgan", "optim.schedule=steplr", "train.max_steps=2"))
