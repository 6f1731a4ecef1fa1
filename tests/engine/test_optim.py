"""The built-in Adam and AdamW: fused kernels where the device has them, the same update as torch's
default path."""

from __future__ import annotations

import pytest
import torch

from genfer.core.config import OptimConfig
from genfer.engine.optim import build_optimizer, fusable


@pytest.mark.parametrize("name,cls", [("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW)])
def test_fused_adam_makes_the_default_update(name, cls):
    torch.manual_seed(0)
    ours = [torch.nn.Parameter(torch.randn(8, 5)), torch.nn.Parameter(torch.randn(5))]
    theirs = [torch.nn.Parameter(p.detach().clone()) for p in ours]
    o = OptimConfig(lr=1e-2, betas=(0.5, 0.999), weight_decay=1e-3)
    opt = build_optimizer(name, ours, 1e-2, o)
    ref = cls(theirs, lr=1e-2, betas=(0.5, 0.999), weight_decay=1e-3)
    assert opt.defaults["fused"] is True  # CPU tensors have the fused kernel
    for _ in range(5):
        grads = [torch.randn_like(p) for p in ours]
        for ps, o_ in ((ours, opt), (theirs, ref)):
            for p, g in zip(ps, grads):
                p.grad = g.clone()
            o_.step()
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


def test_fusable_needs_one_device_kind_of_floating_tensors():
    f = torch.nn.Parameter(torch.randn(3))
    assert fusable([f]) and fusable([{"params": [f]}])
    assert not fusable([])
    assert not fusable([torch.zeros(3, dtype=torch.int64)])
    assert not fusable([f, torch.nn.Parameter(torch.randn(3, device="meta"))])  # two device kinds
