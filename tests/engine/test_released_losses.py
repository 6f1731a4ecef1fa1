"""TDGAN and the AU cycle GAN at their released defaults give the recorded loss terms
(``tests/fixtures/released_losses.json``): a few iterations of each method at its released
architecture and optimiser settings, batch 2, fixed seeds, CPU. The test recomputes every term of
every phase through the engine's iteration body and compares them.

The first fixture was written in fp32 by the pre-refactor code (commit 6fa11c3's phase loop) and
proved the engine refactor. In fp32 these terms depend on the CPU's vector kernels once an Adam
step has run (Adam turns tiny gradient differences into whole steps): on an AVX-512 machine they
moved by up to 5% from the AVX2 machine's values by the second iteration. So the fixture is now
recorded in float64 (same with or without oneDNN), by the code that still matched the fp32 fixture
on the machine it was written on (commit 6bcd1fc), with ``python tests/engine/test_released_losses.py --write``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from genfer.core.config import make_config
from genfer.models import build_method

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "released_losses.json"
CASES = {"tdgan": (None, (0, 1, 5)), "au_cyclegan": ("released", (0, 1))}
"""method -> (preset with the released optimiser settings, steps run: every kind of iteration)."""
BATCH = 2


def _batch(cfg, step: int) -> dict[str, torch.Tensor]:
    m, b = cfg.model, BATCH
    g = torch.Generator().manual_seed(1000 + step)
    shape = (b, m.channels, m.image_size, m.image_size)
    if cfg.method == "tdgan":
        return {"x_f": torch.randint(0, 256, shape, dtype=torch.uint8, generator=g),
                "id_f": torch.randint(0, m.num_identities, (b,), generator=g),
                "x_e": torch.randint(0, 256, shape, dtype=torch.uint8, generator=g),
                "y_e": torch.randint(0, m.num_classes, (b,), generator=g)}
    return {"image": torch.randint(0, 256, shape, dtype=torch.uint8, generator=g),
            "aus": torch.rand(b, 17, generator=g) * 5}


def _iterate(method, opts, groups, batch, step) -> dict[str, float]:
    """One iteration through the engine's iteration body; every phase's loss and terms."""
    from genfer.engine.step import run_iteration

    batch = {k: v.double() if v.is_floating_point() else v for k, v in method.prepare(batch).items()}
    res = run_iteration(method, batch, opts, groups, step)
    return {k: float(v) for k, v in res.terms.items()}


def compute(name: str) -> list[dict[str, float]]:
    """Loss terms of every iteration of ``CASES[name]`` (``phase/term`` -> value)."""
    preset, steps = CASES[name]
    torch.manual_seed(0)
    cfg = make_config(name, preset)
    method = build_method(cfg).double()
    method.train()
    o = cfg.optim
    groups = {g: [p for m in mods for p in m.parameters()] for g, mods in method.groups().items()}
    opts = {g: torch.optim.Adam(ps, lr=o.lr, betas=o.betas, weight_decay=o.weight_decay) for g, ps in groups.items()}
    return [_iterate(method, opts, groups, _batch(cfg, s), s) for s in steps]


@pytest.mark.parametrize("name", list(CASES))
def test_released_defaults_give_the_recorded_loss_terms(name):
    recorded = json.loads(FIXTURE.read_text())[name]
    got = compute(name)
    assert len(got) == len(recorded)
    for step, (ours, theirs) in enumerate(zip(got, recorded)):
        assert set(ours) == set(theirs), step
        for k, v in theirs.items():
            assert ours[k] == pytest.approx(v, rel=1e-6, abs=1e-9), (name, step, k)


if __name__ == "__main__" and "--write" in sys.argv:
    torch.set_num_threads(1)
    FIXTURE.write_text(json.dumps({n: compute(n) for n in CASES}, indent=1) + "\n")
