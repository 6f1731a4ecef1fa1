"""EMA weights: the average itself, its use for evaluation and samples, checkpoints, inference, resume."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from genfer.core.config import make_config
from genfer.engine import checkpoint as ck
from genfer.engine.ema import EMA
from genfer.engine.trainer import Trainer, train

sys.path.insert(0, str(Path(__file__).parent))
from toy_method import TINY, Toy, ToyConfig, registered


@pytest.fixture
def toy(tmp_path):
    with registered():
        yield lambda *o: make_config("toy", None, [*TINY, f"train.out={tmp_path / 'runs'}", *o])


def test_average_copies_until_start_then_decays():
    m = Toy(ToyConfig())
    ema = EMA(m, ["head"], decay=0.75, start=1)
    w = [m.head.weight.detach().clone()]
    for step in (1, 2, 3):
        with torch.no_grad():
            m.head.weight.add_(1.0)
        w.append(m.head.weight.detach().clone())
        ema.update(step)
    expected = w[1]  # step 1 <= start: a copy
    for v in w[2:]:
        expected = 0.75 * expected + 0.25 * v
    torch.testing.assert_close(ema.state_dict()["head.weight"], expected)
    assert "body.weight" not in ema.state_dict()
    live = m.head.weight.detach().clone()
    with ema.applied():
        torch.testing.assert_close(m.head.weight, expected)
    assert torch.equal(m.head.weight, live)
    with pytest.raises(ValueError):
        EMA(m, ["head"], decay=1.0)


def test_evaluation_and_samples_see_the_average_training_does_not(toy, monkeypatch):
    seen = {}

    def evaluate(self, batches):
        seen["eval"] = self.head.weight.detach().clone()
        return {"acc": 0.5}

    def samples(self, batch):
        seen["samples"] = self.head.weight.detach().clone()
        return batch["image"][:2].clamp(0, 1), 2

    monkeypatch.setattr(Toy, "evaluate", evaluate)
    monkeypatch.setattr(Toy, "samples", samples)
    t = Trainer(toy("train.ema=0.9", "train.max_steps=3", "train.name=e"))
    t.fit()
    avg = t.ema.state_dict()["head.weight"]
    assert not torch.allclose(avg, t.method.head.weight)  # the average lags the trained weights
    torch.testing.assert_close(seen["eval"], avg)
    torch.testing.assert_close(seen["samples"], avg)
    ckpt = ck.resolve_checkpoint(t.run_dir, "latest")
    stored = load_file(str(ckpt / ck.EMA_FILE))
    assert set(stored) == {"body.weight", "body.bias", "head.weight", "head.bias"}
    torch.testing.assert_close(stored["head.weight"], avg)
    method, _ = ck.load_method(t.run_dir)  # inference loads the average
    torch.testing.assert_close(method.head.weight, avg)
    raw, _ = ck.load_method(t.run_dir, ema=False)
    torch.testing.assert_close(raw.head.weight, t.method.head.weight)


def test_resume_restores_the_average(toy):
    common = ["train.ema=0.8", "train.ema_start=1", "train.max_steps=5", "train.ckpt_every=2",
              "train.eval_every=5"]
    straight = train(toy(*common, "train.name=s"))
    t = Trainer(toy(*common, "train.name=k"))
    t.fit(stop_after=3)
    train(make_config("toy", None, TINY), resume=t.run_dir)
    for f in (ck.MODEL_FILE, ck.EMA_FILE):
        a = load_file(str(ck.resolve_checkpoint(straight, "latest") / f))
        b = load_file(str(ck.resolve_checkpoint(t.run_dir, "latest") / f))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), f
