"""Every registered method on its ``tiny`` preset: finite losses, gradients that reach only the
group being stepped, a checkpoint round trip, and resume equality."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from genfer.core.config import make_config
from genfer.core.registry import METHODS
from genfer.engine import checkpoint as ck
from genfer.engine.trainer import Trainer, train
from genfer.models.base import phase_group

NAMES = METHODS.names()


def _batch(method, cfg, b: int = 4) -> dict[str, torch.Tensor]:
    model = cfg.model
    size, channels = model.image_size, model.channels
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
    if method.data_kind in ("expressions", "aus"):
        return {
            "image": images(),
            "expression": torch.randint(0, classes, (b,), generator=g),
            "identity": torch.randint(0, 4, (b,), generator=g),
            "aus": torch.rand(b, 17, generator=g) * 5,
        }
    if method.data_kind == "unlabelled":
        return {"image": images()}
    if method.data_kind == "swap_pairs":
        return {
            "x_a": images(),
            "y_a": torch.randint(0, classes, (b,), generator=g),
            "id_a": torch.arange(b),
            "x_b": images(),
            "y_b": torch.randint(0, classes, (b,), generator=g),
            "id_b": torch.arange(b) + b,
        }
    pytest.skip(f"no random batch for data_kind {method.data_kind!r}")


@pytest.mark.parametrize("name", NAMES)
def test_each_phase_is_finite_and_reaches_only_its_group(name):
    torch.manual_seed(0)
    cfg = make_config(name, "tiny")
    method = METHODS.get(name)(cfg.model)
    method.train()
    groups = method.groups()
    owner = {id(p): g for g, mods in groups.items() for m in mods for p in m.parameters()}
    frozen = {id(p) for m in method.frozen_modules().values() for p in m.parameters()}
    assert not owner.keys() & frozen, "a frozen sub-network is in a training group"
    opts = {g: torch.optim.Adam([p for m in ms for p in m.parameters()], 1e-4) for g, ms in groups.items()}
    batch = method.prepare(_batch(method, cfg))
    cache: dict = {"step": 0}
    phases = method.phases(0)
    assert phases and {phase_group(p) for p in phases} <= set(groups)
    for phase in phases:
        group = phase_group(phase)  # "D:r1" (a lazy regulariser's own update) steps group "D"
        method.zero_grad(set_to_none=True)
        out = method.training_step(batch, phase, cache)
        assert out.loss.ndim == 0 and torch.isfinite(out.loss), f"{name}/{phase}: non-finite loss"
        assert all(torch.isfinite(v).all() for v in out.terms.values())
        out.loss.backward()
        reached = {owner.get(id(p), "frozen" if id(p) in frozen else "none")
                   for p in method.parameters() if p.grad is not None and bool(p.grad.abs().sum() > 0)}
        assert group in reached, f"{name}/{phase}: no gradient reached the group"
        assert reached == {group}, f"{name}/{phase}: gradient leaked into {sorted(reached - {group})}"
        opts[group].step()


@pytest.mark.parametrize("name", NAMES)
def test_checkpoint_round_trip(name, tmp_path):
    torch.manual_seed(0)
    cfg = make_config(name, "tiny")
    method = METHODS.get(name)(cfg.model)
    with torch.no_grad():  # move every weight away from its initialisation
        for p in method.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    ck.save_checkpoint(tmp_path / "c", method, cfg)
    stored = load_file(str(tmp_path / "c" / ck.MODEL_FILE))
    assert not stored.keys() & method.frozen_keys()
    loaded, cfg2 = ck.load_method(tmp_path / "c")
    assert cfg2 == cfg
    a, b = method.state_dict(), loaded.state_dict()
    trained = a.keys() - method.frozen_keys()  # frozen sub-networks come from load_pretrained, not the checkpoint
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in trained)


@pytest.mark.parametrize("name", NAMES)
def test_resume_equals_an_uninterrupted_run(name, tiny_cfg):
    common = ["train.max_steps=4", "train.ckpt_every=2", "train.eval_every=4"]
    straight = train(tiny_cfg(name, *common, "train.name=straight"))
    t = Trainer(tiny_cfg(name, *common, "train.name=cut"))
    t.fit(stop_after=3)  # checkpoint at step 2, step 3 is lost
    assert ck.resolve_checkpoint(t.run_dir, "latest").name == "step-0000002"
    train(tiny_cfg(name), resume=t.run_dir)
    a = load_file(str(ck.resolve_checkpoint(straight, "latest") / ck.MODEL_FILE))
    b = load_file(str(ck.resolve_checkpoint(t.run_dir, "latest") / ck.MODEL_FILE))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"{name}: {k} differs after resuming"
