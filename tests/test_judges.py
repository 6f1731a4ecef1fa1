"""Judge cache: trained once, stored atomically, reloaded (weights only) with identical outputs."""

from __future__ import annotations

import torch

from genfer.judges import JudgeNet, cached_judges


def test_cached_judges_train_once_then_load(tmp_path):
    calls = []

    def train() -> dict[str, JudgeNet]:
        calls.append(1)
        torch.manual_seed(len(calls))
        return {"a": JudgeNet(1, 3, 4), "b": JudgeNet(1, 2, 4)}

    shapes = {"a": (1, 3, 4), "b": (1, 2, 4)}
    path = tmp_path / "cache" / "judges.pt"
    first = cached_judges(path, shapes, train)
    again = cached_judges(path, shapes, train)
    assert len(calls) == 1 and path.exists() and not list(path.parent.glob("*.tmp"))
    x = torch.rand(2, 1, 16, 16)
    for k in shapes:
        assert not again[k].training
        torch.testing.assert_close(again[k](x), first[k](x))
    cached_judges(None, shapes, train)  # no cache: trains every time
    assert len(calls) == 2
