"""The method contract as the engine serves it: best_mode, frozen sub-networks, init_from, stages."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

sys.path.insert(0, str(Path(__file__).parent))
from toy_method import TINY, registered

from genfer.core.config import make_config
from genfer.engine import checkpoint as ck
from genfer.engine.partial import load_partial
from genfer.engine.stages import plan_stages
from genfer.engine.trainer import Trainer, train
from genfer.models.base import Stage


@pytest.fixture
def toy(tmp_path):
    """Factory of toy run configs under ``tmp_path`` (the method is registered meanwhile)."""
    with registered():
        yield lambda *o: make_config("toy", None, [*TINY, f"train.out={tmp_path / 'runs'}", *o])


def _state(run) -> dict[str, torch.Tensor]:
    return load_file(str(ck.resolve_checkpoint(run, "latest") / ck.MODEL_FILE))


@pytest.mark.parametrize(("mode", "best_step"), [("min", 2), ("max", 4)])
def test_best_checkpoint_follows_best_mode(toy, monkeypatch, mode, best_step):
    from toy_method import Toy

    monkeypatch.setattr(Toy, "best_mode", mode)
    figures = iter([3.0, 1.0, 2.0, 5.0])
    monkeypatch.setattr(Toy, "evaluate", lambda self, batches: {"acc": next(figures)})
    run = train(toy("train.max_steps=4", "train.eval_every=1", f"train.name={mode}"))
    summary = json.loads((run / "summary.json").read_text())
    assert summary["best_step"] == best_step and summary["best_mode"] == mode
    assert ck.resolve_checkpoint(run, "best").name == f"step-{best_step:07d}"


def test_frozen_subnetwork_is_not_checkpointed_and_loading_refills_it(toy):
    run = train(toy("model.with_prior=true", "train.max_steps=2", "train.name=frozen"))
    saved = _state(run)
    assert saved and not any(k.startswith("prior.") for k in saved)
    assert {"body.weight", "head.weight"} <= set(saved)
    method, _ = ck.load_method(run)  # strict load accepts the absent keys; load_pretrained fills them
    g = torch.Generator().manual_seed(123)
    torch.testing.assert_close(method.prior.weight, torch.randn(method.prior.weight.shape, generator=g) * 0.1)
    torch.testing.assert_close(method.body.weight, saved["body.weight"])
    with pytest.raises(ck.CheckpointError, match="missing"):  # other missing keys still fail
        save_file({k: v for k, v in saved.items() if k != "head.bias"}, str(run / "partial.safetensors"))
        bad = ck.resolve_checkpoint(run, "latest")
        (run / "partial.safetensors").replace(bad / ck.MODEL_FILE)
        ck.load_weights(method, bad)


def test_frozen_subnetwork_gets_no_gradient_and_does_not_move(toy):
    t = Trainer(toy("model.with_prior=true", "train.max_steps=3", "train.name=fz"))
    before = t.method.prior.weight.clone()
    t.fit()
    assert torch.equal(before, t.method.prior.weight) and t.method.prior.weight.grad is None


def test_init_from_reports_loaded_skipped_and_missed(toy, tmp_path):
    src = train(toy("train.max_steps=1", "train.name=src", "model.hidden=8"))
    # body.* fits; head.weight has another shape (hidden 6 vs 8); body is filtered in by the glob
    cfg = toy("train.max_steps=1", "train.name=dst", "model.hidden=6", f"model.init_from={src}",
              "model.init_keys=[body.*, head.*]")
    t = Trainer(cfg)
    rep = t.init_report
    assert rep.loaded == ["head.bias"]
    assert rep.skipped["body.weight"].startswith("shape") and rep.skipped["head.weight"].startswith("shape")
    assert set(rep.missed) == {"body.weight", "body.bias", "head.weight"}
    written = json.loads((t.run_dir / "init_from.json").read_text())
    assert written["loaded"] == ["head.bias"]
    row = next(json.loads(x) for x in (t.run_dir / "log.jsonl").read_text().splitlines() if '"init_from"' in x)
    assert (row["loaded"], row["skipped"], row["missed"]) == (1, 3, 3)
    # glob filter and a bare .safetensors file
    from toy_method import Toy

    m = Toy(cfg.model.__class__(hidden=8))
    weights = ck.resolve_checkpoint(src, "latest") / ck.MODEL_FILE
    rep = load_partial(m, weights, ["head.*"])
    assert sorted(rep.loaded) == ["head.bias", "head.weight"] and rep.skipped["body.weight"] == "filtered"
    assert torch.equal(m.head.weight, load_file(str(weights))["head.weight"])
    assert sorted(rep.missed) == ["body.bias", "body.weight"]


def test_stages_switch_optimizers_and_run_before_hooks(toy):
    t = Trainer(toy("model.warm_steps=2", "train.max_steps=5", "train.name=st"))
    body0 = t.method.body.weight.clone()
    assert [(s.stage.name, s.start, s.end) for s in t.spans] == [("warm", 0, 2), ("main", 2, 5)]
    assert set(t.opts) == {"head"} and isinstance(t.opts["head"], torch.optim.SGD)
    t.fit(stop_after=2)
    assert torch.equal(body0, t.method.body.weight)  # the warm stage trains the head only
    assert t.method.before_calls == []
    t.fit()
    assert t.method.before_calls == [("main", 2, False)]
    assert set(t.opts) == {"body", "head"} and all(isinstance(o, torch.optim.AdamW) for o in t.opts.values())
    assert not torch.equal(body0, t.method.body.weight)


def test_resume_inside_the_second_stage_equals_an_uninterrupted_run(toy):
    common = ["model.warm_steps=2", "train.max_steps=6", "train.ckpt_every=2", "train.eval_every=3"]
    straight = train(toy(*common, "train.name=straight"))
    t = Trainer(toy(*common, "train.name=cut"))
    t.fit(stop_after=5)  # checkpoint at step 4 (inside "main"), step 5 is lost
    assert ck.resolve_checkpoint(t.run_dir, "latest").name == "step-0000004"
    state = ck.load_training_state(t.run_dir)
    assert state["stage"] == "main" and set(state["optimizers"]["main"]) == {"body", "head"}
    resumed = Trainer(make_config("toy", None, [*TINY]), resume=t.run_dir)
    assert resumed.method.before_calls == [("main", 4, True)]  # the hook rebuilds what it made
    resumed.fit()
    a, b = _state(straight), _state(t.run_dir)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_stage_plan_is_checked():
    groups = ["a", "b"]
    spans = plan_stages([Stage("x", 3, groups=["a"]), Stage("y")], groups, 10, "adam", "constant")
    assert [(s.start, s.end) for s in spans] == [(0, 3), (3, 10)]
    with pytest.raises(ValueError, match="unknown"):
        plan_stages([Stage("x", 0, groups=["c"])], groups, 10, "adam", "constant")
    with pytest.raises(ValueError, match="steps"):
        plan_stages([Stage("x", 0), Stage("y", 2)], groups, 10, "adam", "constant")
    with pytest.raises(KeyError, match="optimizer"):
        plan_stages([Stage("x", 0, optimizer="no_such_optimizer")], groups, 10, "adam", "constant")
    with pytest.raises(ValueError, match="unique"):
        plan_stages([Stage("x", 2), Stage("x")], groups, 10, "adam", "constant")


def test_frozen_subnetworks_stay_in_eval_mode():
    from toy_method import Toy, ToyConfig

    m = Toy(ToyConfig(with_prior=True))
    m.train()
    assert m.training and m.body.training and not m.prior.training


def test_optimizers_by_name_and_registering_another():
    from genfer.core.config import OptimConfig
    from genfer.engine.optim import OPTIMIZERS, build_optimizer

    p = [torch.nn.Parameter(torch.zeros(2))]
    sgd = build_optimizer("sgd", p, 0.1, OptimConfig(momentum=0.9, nesterov=True, weight_decay=0.01))
    g = sgd.param_groups[0]
    assert isinstance(sgd, torch.optim.SGD) and (g["momentum"], g["nesterov"], g["weight_decay"]) == (0.9, True, 0.01)
    adamw = build_optimizer("adamw", p, 0.2, OptimConfig(betas=(0.5, 0.9)))
    assert isinstance(adamw, torch.optim.AdamW) and adamw.param_groups[0]["betas"] == (0.5, 0.9)
    OPTIMIZERS.add("rmsprop_test", lambda params, lr, o: torch.optim.RMSprop(params, lr=lr))
    try:
        assert plan_stages([Stage("x", 0, optimizer="rmsprop_test")], ["a"], 4, "adam", "constant")
        assert isinstance(build_optimizer("rmsprop_test", p, 0.1, OptimConfig()), torch.optim.RMSprop)
    finally:
        OPTIMIZERS._entries.pop("rmsprop_test")
