"""Every registered method: its ``tiny`` preset trains one iteration and round-trips its state dict."""

from __future__ import annotations

import importlib
import pkgutil

import pytest
import torch

import genfer.models
from genfer.core.config import make_config
from genfer.core.registry import METHODS


def _import_method_packages() -> None:
    """Methods register on import; import every package under ``genfer.models``."""
    for info in pkgutil.iter_modules(genfer.models.__path__):
        if info.ispkg:
            importlib.import_module(f"genfer.models.{info.name}")


_import_method_packages()


def _batch(method, cfg, b: int = 4) -> dict[str, torch.Tensor]:
    model = cfg.model
    size = getattr(model, "image_size", 32)
    channels = getattr(model, "channels", 3)
    classes = getattr(model, "num_classes", 7)
    g = torch.Generator().manual_seed(0)

    def images() -> torch.Tensor:
        return torch.randint(0, 256, (b, channels, size, size), dtype=torch.uint8, generator=g)

    if method.data_kind == "pairs":
        ids = getattr(model, "num_identities", cfg.data.max_identities)
        return {
            "x_f": images(),
            "id_f": torch.randint(0, ids, (b,), generator=g),
            "x_e": images(),
            "y_e": torch.randint(0, classes, (b,), generator=g),
        }
    if method.data_kind == "expressions":
        return {
            "image": images(),
            "expression": torch.randint(0, classes, (b,), generator=g),
            "identity": torch.randint(0, 4, (b,), generator=g),
            "aus": torch.rand(b, 17, generator=g) * 5,
        }
    pytest.skip(f"no random batch for data_kind {method.data_kind!r}")


@pytest.mark.parametrize("name", METHODS.names())
def test_tiny_preset_runs_one_iteration_and_round_trips(name):
    torch.manual_seed(0)
    cfg = make_config(name, "tiny")
    method = METHODS.get(name)(cfg.model)
    method.train()
    groups = method.groups()
    opts = {g: torch.optim.Adam([p for m in ms for p in m.parameters()], 1e-4) for g, ms in groups.items()}
    batch = method.prepare(_batch(method, cfg))
    cache: dict = {}
    phases = method.phases(0)
    assert phases and set(phases) <= set(groups)
    for phase in phases:
        out = method.training_step(batch, phase, cache)
        assert out.loss.ndim == 0 and torch.isfinite(out.loss), f"{name}/{phase}: non-finite loss"
        assert all(torch.isfinite(v).all() for v in out.terms.values())
        params = [p for mod in groups[phase] for p in mod.parameters()]
        for p in params:
            p.grad = None
        out.loss.backward()
        reached = any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in params)
        assert reached, f"{name}/{phase}: no gradient reached the group"
        opts[phase].step()

    state = {k: v.clone() for k, v in method.state_dict().items()}
    torch.manual_seed(1)
    fresh = METHODS.get(name)(cfg.model)
    fresh.load_state_dict(state, strict=True)
    loaded = fresh.state_dict()
    assert set(loaded) == set(state)
    assert all(torch.equal(loaded[k], state[k]) for k in state)
