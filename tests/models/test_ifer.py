"""IFER on its tiny preset: input size rule, starting from an ASIT run, the augmented training step."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from genfer.apps.evaluation import evaluate_checkpoint
from genfer.core.config import make_config
from genfer.core.errors import UsageError
from genfer.engine import checkpoint as ck
from genfer.engine.trainer import train
from genfer.models.ifer import IFER


def _method(*overrides: str) -> IFER:
    torch.manual_seed(0)
    return IFER(make_config("ifer", "tiny", list(overrides)).model)


def test_other_input_sizes_are_rejected_with_the_rule():
    m = _method()
    with pytest.raises(UsageError, match=r"takes 64x64 faces.*fixed at image_size/4"):
        m.classify(torch.zeros(1, 3, 56, 56, dtype=torch.uint8))
    assert m.classify(torch.zeros(2, 3, 64, 64, dtype=torch.uint8)).shape == (2, 7)


def test_training_step_mixes_targets_and_reaches_every_part():
    m = _method()
    g = torch.Generator().manual_seed(0)
    batch = {"image": torch.randint(0, 256, (4, 3, 64, 64), dtype=torch.uint8, generator=g),
             "expression": torch.tensor([0, 1, 2, -1])}  # -1 (unlabelled) is left out
    out = m.training_step(batch, "C", {})
    out.loss.backward()
    assert torch.isfinite(out.loss) and out.loss > 0
    for part in (m.encoder.styles[0], m.conv, m.style_conv, m.head):
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in part.parameters())


def test_init_from_an_asit_run_loads_the_encoder(tiny_cfg):
    asit_run = train(tiny_cfg("asit", "train.max_steps=1", "train.name=asit"))
    run = train(tiny_cfg("ifer", "train.max_steps=1", "optim.lr=1e-12", "train.name=ifer",
                         f"model.init_from={asit_run}", "model.init_keys=[encoder.*]"))
    a = load_file(str(ck.resolve_checkpoint(asit_run, "latest") / ck.MODEL_FILE))
    b = load_file(str(ck.resolve_checkpoint(run, "latest") / ck.MODEL_FILE))
    enc = [k for k in a if k.startswith("encoder.")]
    assert enc and all(torch.allclose(a[k], b[k], atol=1e-6) for k in enc)
    report = (run / "init_from.json").read_text()
    assert '"missed"' in report and "head.weight" in report  # the new layers start fresh
    r = evaluate_checkpoint(run)  # genfer eval: accuracy and the confusion matrix of the classifier
    assert 0 <= r["accuracy"] <= 1 and (Path(r["out_dir"]) / "confusion.json").is_file()
