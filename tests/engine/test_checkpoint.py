from __future__ import annotations

import pytest
import torch

from genfer.engine import checkpoint as ck
from genfer.models import build_method


def test_checkpoint_round_trip_and_safe_loading(tiny_cfg, tmp_path):
    cfg = tiny_cfg()
    torch.manual_seed(0)
    m = build_method(cfg).eval()
    state = {"step": 3, "rng_cpu": torch.get_rng_state(), "nested": {"a": [1, 2.5, "x"]}}
    d = ck.save_checkpoint(tmp_path / "ck", m, cfg, state)
    assert {p.name for p in d.iterdir()} == {ck.MODEL_FILE, ck.CONFIG_FILE, ck.STATE_FILE}
    m2, cfg2 = ck.load_method(d)
    assert cfg2 == cfg
    for (k, a), (k2, b) in zip(m.state_dict().items(), m2.state_dict().items()):
        assert k == k2 and torch.equal(a, b)
    loaded = torch.load(d / ck.STATE_FILE, weights_only=True)  # must not need pickle of code
    assert loaded["nested"] == state["nested"] and torch.equal(loaded["rng_cpu"], state["rng_cpu"])
    # overwriting an existing checkpoint leaves no temp or old directories behind
    ck.save_checkpoint(tmp_path / "ck", m, cfg, state)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck"]


def test_damaged_or_missing_checkpoints_give_clear_errors(tiny_cfg, tmp_path):
    cfg = tiny_cfg()
    m = build_method(cfg)
    d = ck.save_checkpoint(tmp_path / "ck", m, cfg)
    (d / ck.MODEL_FILE).write_bytes(b"not a safetensors file")
    with pytest.raises(ck.CheckpointError, match="model.safetensors"):
        ck.load_weights(m, d)
    with pytest.raises(ck.CheckpointError, match="no such"):
        ck.resolve_checkpoint(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ck.CheckpointError, match="holds no checkpoint"):
        ck.resolve_checkpoint(tmp_path / "empty")
    with pytest.raises(ck.CheckpointError, match="training_state"):
        ck.load_training_state(d)
