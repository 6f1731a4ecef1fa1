"""The iteration body: accumulation, clipping, precision (bf16/fp16, gradient penalties), compile."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from genfer.engine import precision as P
from genfer.engine.step import run_iteration, split_batch
from genfer.engine.trainer import Trainer, train
from genfer.losses import adversarial as adv

sys.path.insert(0, str(Path(__file__).parent))
from toy_method import Toy, ToyConfig


def _toy_batch(b: int = 8, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"image": torch.rand(b, 1, 32, 32, generator=g), "expression": torch.randint(0, 7, (b,), generator=g)}


def _toy(seed: int = 0) -> tuple[Toy, dict, dict]:
    torch.manual_seed(seed)
    m = Toy(ToyConfig())
    groups = {g: [p for mod in mods for p in mod.parameters()] for g, mods in m.groups().items()}
    opts = {g: torch.optim.SGD(ps, lr=0.5) for g, ps in groups.items()}
    return m, groups, opts


def test_accumulated_micro_batches_equal_the_whole_batch():
    batch = _toy_batch()
    results = {}
    for k in (1, 2, 4):
        m, groups, opts = _toy()
        res = run_iteration(m, batch, opts, groups, 0, accumulate=k)
        results[k] = ({n: p.detach().clone() for n, p in m.named_parameters()}, res.terms)
    w1, t1 = results[1]
    moved = max(float((w1[n] - p.detach()).abs().max()) for n, p in _toy()[0].named_parameters())
    assert moved > 1e-3  # SGD with lr 0.5: a wrong weighting of micro-batches would show
    for k in (2, 4):
        wk, tk = results[k]
        for n in w1:
            torch.testing.assert_close(wk[n], w1[n], rtol=1e-5, atol=1e-6)
        for key in t1:
            torch.testing.assert_close(tk[key], t1[key], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="accumulate"):
        split_batch(batch, 3)


def test_clipping_bounds_each_groups_gradient_norm():
    batch = _toy_batch()
    m, groups, opts = _toy()
    before = {g: torch.cat([p.detach().flatten().clone() for p in ps]) for g, ps in groups.items()}
    res = run_iteration(m, batch, opts, groups, 0, clip=1e-3)
    for g, ps in groups.items():
        step = torch.cat([p.detach().flatten() for p in ps]) - before[g]
        assert float(res.terms[f"{g}/grad_norm"]) > 1e-3  # the norm before clipping is reported
        assert float(step.norm()) == pytest.approx(0.5 * 1e-3, rel=1e-3)  # lr * clip


def test_a_phase_with_a_non_finite_loss_is_skipped():
    m, groups, opts = _toy()
    batch = _toy_batch()
    batch["image"][0, 0, 0, 0] = float("nan")
    before = {n: p.detach().clone() for n, p in m.named_parameters()}
    res = run_iteration(m, batch, opts, groups, 0, accumulate=2)
    assert res.skipped == ["head", "body"] and not res.terms
    assert all(torch.equal(before[n], p) for n, p in m.named_parameters())
    assert all(p.grad is None for p in m.parameters())


def test_auto_precision_is_bf16_only_where_it_is_fast(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(P, "cpu_has_amx", lambda: True)
    assert P.resolve_precision("auto", cpu) == "bf16"
    monkeypatch.setattr(P, "cpu_has_amx", lambda: False)
    assert P.resolve_precision("auto", cpu) == "fp32"
    assert P.resolve_precision("fp16", cpu) == "fp16"
    with pytest.raises(ValueError, match="precision"):
        P.resolve_precision("fp8", cpu)
    assert P.make_scaler("fp16", cpu) is not None and P.make_scaler("bf16", cpu) is None


@pytest.mark.parametrize(("flags", "warns"), [
    ({"avx2"}, True), ({"avx2", "avx512_bf16"}, False), ({"amx_bf16", "amx_tile"}, False), (set(), False),
])
def test_bf16_on_a_cpu_that_emulates_it_warns(monkeypatch, flags, warns):
    monkeypatch.setattr(P, "cpu_flags", lambda: frozenset(flags))
    cpu = torch.device("cpu")
    msg = P.bf16_emulation_warning("bf16", cpu)
    assert (msg is not None) == warns  # no flags at all: /proc/cpuinfo unreadable, nothing to say
    if warns:
        assert "emulated" in msg and "train.precision=fp32" in msg
    assert P.bf16_emulation_warning("fp32", cpu) is None
    assert P.bf16_emulation_warning("bf16", torch.device("meta")) is None


@pytest.mark.parametrize("method", ["tdgan", "au_cyclegan"])
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_low_precision_training_is_finite_and_recorded(tiny_cfg, method, precision):
    t = Trainer(tiny_cfg(method, f"train.precision={precision}", "train.max_steps=2", "train.name=p"))
    assert t.precision == precision and (t.scaler is not None) == (precision == "fp16")
    run = t.fit()
    rows = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    train_rows = [r for r in rows if r["kind"] == "train"]
    assert len(train_rows) == 2 and not [r for r in rows if r["kind"] == "nonfinite"]
    losses = [v for r in train_rows for k, v in r.items() if k.endswith("/loss")]
    assert losses and all(isinstance(v, float) and abs(v) < 1e6 for v in losses)
    assert all(torch.isfinite(p).all() for p in t.method.parameters())
    assert json.loads((run / "summary.json").read_text())["precision"] == precision
    setup = next(r for r in rows if r["kind"] == "setup")
    assert setup["precision"] == precision and setup["requested_precision"] == precision


def _critic_and_inputs():
    from genfer.core.config import make_config
    from genfer.models.au_cyclegan.networks import Critic

    cfg = make_config("au_cyclegan", "tiny").model
    torch.manual_seed(0)
    d = Critic(cfg.image_size, cfg.channels, cfg.num_aus, cfg.d_dim, cfg.n_layers, cfg.max_width, cfg.d_fc_dim)
    real = torch.rand(4, 3, 32, 32) * 2 - 1
    fake = (torch.rand(4, 3, 32, 32) * 2 - 1).bfloat16()  # what a generator under autocast returns
    return d, real, fake, torch.rand(4, 1, 1, 1)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_gradient_penalties_under_autocast_equal_fp32(dtype):
    d, real, fake, alpha = _critic_and_inputs()
    results = []
    for cast in (False, True):
        with torch.autocast("cpu", dtype=dtype, enabled=cast):
            gp = adv.gradient_penalty(d.score, real, fake, alpha)
            r1 = adv.r1_penalty(d.score, real)
        grads = torch.autograd.grad(gp + r1, list(d.parameters()), allow_unused=True)
        results.append((gp.detach(), r1.detach(), grads))
    (gp32, r132, g32), (gp16, r116, g16) = results
    assert gp16.dtype == r116.dtype == torch.float32
    torch.testing.assert_close(gp16, gp32, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(r116, r132, rtol=1e-5, atol=1e-7)
    for a, b in zip(g16, g32):
        if a is not None:
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    # the naive penalty (critic under autocast) is visibly off: what the fp32 pass avoids
    x = adv.interpolate(real, fake.float(), alpha).requires_grad_(True)
    with torch.autocast("cpu", dtype=dtype):
        (g,) = torch.autograd.grad(d.score(x).sum(), x, create_graph=True)
    naive = (g.detach().float().flatten(1).norm(dim=1) - 1).square().mean()
    assert abs(float(naive) - float(gp32)) > 1e-4 * abs(float(gp32))


def test_r1_penalty_of_a_linear_critic():
    w = torch.tensor([3.0, 4.0], requires_grad=True)
    r1 = adv.r1_penalty(lambda x: x @ w, torch.zeros(5, 2))
    assert float(r1.detach()) == pytest.approx(25.0)
    (gw,) = torch.autograd.grad(r1, w)
    torch.testing.assert_close(gw, 2 * w.detach())


def test_compile_failure_falls_back_to_eager_with_one_line(tiny_cfg, monkeypatch, capsys):
    def broken(self, *a, **k):
        raise RuntimeError("no compiler here\nsecond line")

    monkeypatch.setattr(nn.Module, "compile", broken)
    run = train(tiny_cfg("tdgan", "train.compile=true", "train.max_steps=1", "train.name=c"))
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith("train.compile"))
    assert "RuntimeError: no compiler here" in line and "eagerly" in line and "second line" not in out
    assert (run / "summary.json").is_file()
