"""TDGAN: parameter counts, shapes, phase/gradient routing, equivalence to the released compute pattern."""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import pytest
import torch

from genfer.core.config import make_config
from genfer.core.registry import METHODS
from genfer.engine.step import run_iteration as engine_iteration
from genfer.models.tdgan import TDGAN, TDGANConfig
from genfer.models.tdgan.networks import ClassifierHead, Decoder, Encoder, pooled_size
from genfer.models.tdgan.released import from_released, load_released, released_state_dicts, to_released

REFERENCE = Path(__file__).resolve().parents[2] / "benchmarks" / "reference_tdgan.py"
GROUP_OF = {"M_ER": ["fc_ER"], "D_FR": ["dis_FR"], "D_ER": ["dis_ER"], "G": ["enc_FR", "enc_ER", "dec"]}


def tiny(**overrides) -> TDGANConfig:
    return dataclasses.replace(make_config("tdgan", "tiny").model, **overrides)


def pair_batch(cfg: TDGANConfig, b: int = 4, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    shape = (b, cfg.channels, cfg.image_size, cfg.image_size)
    return {
        "x_f": torch.randint(0, 256, shape, dtype=torch.uint8, generator=g),
        "id_f": torch.randint(0, cfg.num_identities, (b,), generator=g),
        "x_e": torch.randint(0, 256, shape, dtype=torch.uint8, generator=g),
        "y_e": torch.randint(0, cfg.num_classes, (b,), generator=g),
    }


def run_iteration(m: TDGAN, opts: dict, batch: dict, step: int) -> dict[str, float]:
    """One engine iteration (``genfer.engine.step.run_iteration``); ``{phase: loss, term: value}``."""
    groups = {g: [p for mod in mods for p in mod.parameters()] for g, mods in m.groups().items()}
    res = engine_iteration(m, m.prepare(batch), opts, groups, step)
    out = {}
    for key, v in res.terms.items():
        phase, term = key.split("/")
        out[phase if term == "loss" else term] = v.item()
    return out


def adams(m: TDGAN) -> dict:
    groups = m.groups()
    return {g: torch.optim.Adam([p for x in ms for p in x.parameters()], 1e-4) for g, ms in groups.items()}


def n_params(mod: torch.nn.Module) -> int:
    return sum(p.numel() for p in mod.parameters())


def test_registered_with_contract():
    assert METHODS.get("tdgan") is TDGAN
    assert TDGAN.Config is TDGANConfig
    assert TDGAN.data_kind == "pairs"
    assert TDGAN.best_metric == "acc_M_ER"


def test_parameter_counts_at_released_defaults():
    m = TDGAN()
    counts = {k: n_params(getattr(m, k)) for k in ("enc_FR", "enc_ER", "fc_ER", "dec", "dis_FR", "dis_ER")}
    assert counts == {
        "enc_FR": 720_352,
        "enc_ER": 720_352,
        "fc_ER": 9_446_407,
        "dec": 5_277_120,
        "dis_FR": 10_181_109,
        "dis_ER": 10_166_759,
    }
    assert sum(counts[k] for k in ("enc_FR", "enc_ER", "fc_ER", "dec")) == 16_164_231
    assert n_params(m) == 36_512_099


@pytest.mark.parametrize("size", [32, 64, 128])
def test_network_shapes_follow_image_size(size):
    enc = Encoder(1, (4, 8, 8, 6), inception_width=4, n_inception=1)
    x = torch.rand(2, 1, size, size)
    f = enc(x)
    s = size // 16
    assert f.shape == (2, 6, s, s) and pooled_size(size) == s
    assert ClassifierHead(6 * s * s, 7, hidden=8)(f).shape == (2, 7)
    dec = Decoder(6, noise_dim=3, out_channels=1, width=8, n_res_blocks=1, up_widths=(8, 8, 4, 4))
    img = dec(f, f, torch.rand(2, 3, s, s))
    assert img.shape == (2, 1, size, size)
    assert float(img.detach().min()) >= 0 and float(img.detach().max()) <= 1


@pytest.mark.parametrize("size", [16, 40, 100])
def test_unusable_image_sizes_are_rejected(size):
    with pytest.raises(ValueError):
        TDGANConfig(image_size=size)


def test_config_validation_and_presets():
    with pytest.raises(ValueError):
        TDGANConfig(dropout=1.0)
    with pytest.raises(ValueError):
        TDGANConfig(enc_widths=(1, 2, 3))
    cfg = make_config("tdgan", "tiny")
    assert cfg.model.image_size == 32 and cfg.model.enc_widths == (4, 8, 8, 8)
    demo = make_config("tdgan", "demo")
    assert demo.model.image_size == 64
    TDGAN(demo.model)  # builds


def test_phase_schedule_is_released_order():
    m = TDGAN(tiny())
    assert m.phases(0) == ["M_ER", "D_FR", "D_ER", "G"]
    assert m.phases(5) == ["M_ER", "D_FR", "G"]
    assert m.phases(3) == ["M_ER", "G"]
    assert m.phases(20) == ["M_ER", "D_FR", "D_ER", "G"]
    assert sum("D_FR" in m.phases(s) for s in range(10)) == 2
    assert sum("D_ER" in m.phases(s) for s in range(10)) == 1


def test_each_phase_is_finite_and_reaches_only_its_group():
    torch.manual_seed(0)
    m = TDGAN(tiny())
    m.train()
    batch = m.prepare(pair_batch(m.cfg))
    cache: dict = {}
    for phase in m.phases(0):
        m.zero_grad(set_to_none=True)
        out = m.training_step(batch, phase, cache)
        assert torch.isfinite(out.loss) and all(torch.isfinite(v) for v in out.terms.values())
        out.loss.backward()
        for name, mod in m.named_children():
            grads = [p.grad for p in mod.parameters()]
            if name in GROUP_OF[phase]:
                assert all(g is not None for g in grads), f"{phase}: {name} missing gradients"
                assert any(bool(g.abs().sum() > 0) for g in grads)
            else:
                assert all(g is None for g in grads), f"{phase}: gradient leaked into {name}"
    assert all(p.requires_grad for p in m.parameters())  # G phase restored the discriminators


def test_m_er_phase_leaves_expression_encoder_unchanged():
    torch.manual_seed(0)
    m = TDGAN(tiny())
    before = {k: v.clone() for k, v in m.enc_ER.state_dict().items()}
    head_before = m.fc_ER.fc3.weight.clone()
    opts = adams(m)
    batch = m.prepare(pair_batch(m.cfg))
    out = m.training_step(batch, "M_ER", {})
    m.zero_grad(set_to_none=True)
    out.loss.backward()
    opts["M_ER"].step()
    assert all(p.grad is None for p in m.enc_ER.parameters())
    assert all(torch.equal(before[k], v) for k, v in m.enc_ER.state_dict().items())
    assert not torch.equal(head_before, m.fc_ER.fc3.weight)


def _g_grads(cfg: TDGANConfig, state: dict) -> tuple[float, list[torch.Tensor]]:
    m = TDGAN(cfg)
    m.load_state_dict(state)
    batch = m.prepare(pair_batch(cfg))
    torch.manual_seed(1)
    cache: dict = {}
    m.training_step(batch, "M_ER", cache)
    out = m.training_step(batch, "G", cache)
    out.loss.backward()
    return out.loss.item(), [p.grad.clone() for p in m.enc_ER.parameters()]


def test_faithful_switch_only_affects_a_nonzero_expression_perceptual_term():
    state = TDGAN(tiny(dropout=0.0)).state_dict()
    base = tiny(dropout=0.0)
    # weight 0 (the released default): both modes give the same loss and gradients
    l0, g0 = _g_grads(base, state)
    l1, g1 = _g_grads(dataclasses.replace(base, faithful=True), state)
    assert l0 == pytest.approx(l1) and all(torch.allclose(a, b) for a, b in zip(g0, g1))
    # non-zero weight: same loss value, but only genfer's default lets the term reach E_e
    on = dataclasses.replace(base, lambda_per_expr=1.0)
    l2, g2 = _g_grads(on, state)
    l3, g3 = _g_grads(dataclasses.replace(on, faithful=True), state)
    assert l2 == pytest.approx(l3)
    assert all(torch.allclose(a, b) for a, b in zip(g0, g3))  # faithful: the term has no gradient
    assert not all(torch.allclose(a, b) for a, b in zip(g0, g2))


def _reference_module():
    if not REFERENCE.exists():
        pytest.skip("benchmarks/reference_tdgan.py is not in this checkout")
    spec = importlib.util.spec_from_file_location("reference_tdgan", REFERENCE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_losses_match_released_compute_pattern():
    """Same weights, inputs and noise: every loss term of every phase equals the release's.

    Dropout is off so that both draw the same random numbers (only the decoder noise), in the
    same order. Four iterations with D gaps 2 and 3 cover every combination of phases, and the
    later iterations also check that the updates (Adam on the same groups) agree.
    """
    cfg = tiny(dropout=0.0, d_fr_every=2, d_er_every=3, lambda_per_expr=0.0)
    ref_mod = _reference_module()
    torch.manual_seed(0)
    m = TDGAN(cfg)
    ref = ref_mod.ReferenceTDGAN(cfg)
    ref.load_genfer(m)
    m.train()
    ref.train()
    opts = adams(m)
    for step in range(4):
        batch = pair_batch(cfg, seed=step)
        torch.manual_seed(100 + step)
        ours = run_iteration(m, opts, batch, step)
        x = {k: (v.float() / 255 if v.dtype == torch.uint8 else v) for k, v in batch.items()}
        torch.manual_seed(100 + step)
        theirs = ref.iteration(step, x["x_f"], x["id_f"], x["x_e"], x["y_e"])
        expected_keys = {"m_er_ce", "G", "g_adv_face", "g_adv_expr", "g_per_face", "g_per_expr", "g_dic_face"}
        assert expected_keys <= set(theirs)
        for key, value in theirs.items():
            assert ours[key] == pytest.approx(value, rel=1e-5, abs=1e-7), f"step {step} {key}"
        assert ("D_FR" in ours) == (step % 2 == 0) and ("D_ER" in ours) == (step % 3 == 0)


def test_inference_entry_points():
    torch.manual_seed(0)
    m = TDGAN(tiny())
    m.train()
    batch = pair_batch(m.cfg, b=3)
    logits = m.classify(batch["x_e"])
    assert logits.shape == (3, 7) and torch.isfinite(logits).all()
    assert m.classify_d_er(batch["x_e"].float() / 255).shape == (3, 7)
    x_hat = m.transfer(batch["x_f"].float() / 255, batch["x_e"].float() / 255)
    assert x_hat.shape == (3, 1, 32, 32) and x_hat.dtype == torch.float32
    assert float(x_hat.min()) >= 0 and float(x_hat.max()) <= 1
    rgb = torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8)
    assert m.transfer(rgb, rgb).shape == (3, 1, 32, 32)  # RGB -> grey at the boundary
    grid, ncol = m.samples(batch)
    assert ncol == 5 and grid.shape == (15, 1, 32, 32)
    assert torch.equal(grid[0], batch["x_f"][0].float() / 255)
    grid, _ = m.samples({"image": batch["x_e"], "expression": batch["y_e"]})
    assert grid.shape == (15, 1, 32, 32)
    acc = m.evaluate([{"image": batch["x_e"], "expression": torch.tensor([0, 7, -1])}])
    assert set(acc) == {"acc_M_ER", "acc_D_ER", "transfer_acc_M_ER", "transfer_acc_D_ER"}
    assert acc["acc_M_ER"] in (0.0, 1.0)  # one valid label
    rng = torch.get_rng_state()
    again = m.evaluate([{"image": batch["x_e"], "expression": torch.tensor([0, 7, -1])}])
    assert again == acc and torch.equal(torch.get_rng_state(), rng)  # fixed noise, training RNG untouched
    assert m.training  # inference restored the mode


def test_state_dict_round_trip_gives_identical_outputs(tmp_path):
    from safetensors.torch import load_file, save_file

    torch.manual_seed(0)
    cfg = tiny()
    m = TDGAN(cfg)
    opts = adams(m)
    run_iteration(m, opts, pair_batch(cfg), 0)  # move away from the init
    save_file(m.state_dict(), str(tmp_path / "model.safetensors"))
    m2 = TDGAN(cfg)
    m2.load_state_dict(load_file(str(tmp_path / "model.safetensors")))
    batch = pair_batch(cfg, seed=3)
    noise = m.noise(4)
    assert torch.equal(m.classify(batch["x_e"]), m2.classify(batch["x_e"]))
    x_f, x_e = batch["x_f"], batch["x_e"]
    assert torch.equal(m.transfer(x_f, x_e, noise), m2.transfer(x_f, x_e, noise))


def test_released_weight_names_and_class_order(tmp_path):
    torch.manual_seed(0)
    cfg = tiny()
    m = TDGAN(cfg)
    for net in ("enc_FR", "fc_ER", "dec", "dis_ER"):
        keys = list(getattr(m, net).state_dict())
        assert [from_released(to_released(k, net), net) for k in keys] == keys
    assert to_released("blocks.0.branch2.1.norm.weight", "enc_ER") == "repeat.0.branch2.1.bn.weight"
    assert to_released("ups.3.conv.weight", "dec") == "us4.0.weight"
    assert to_released("out.weight", "dec") == "us5.0.weight"
    sds = released_state_dicts(m, raf_order=True)
    # the release's row 6 is neutral, canonical class 0
    assert torch.equal(sds["fc_ER"]["fc3.weight"][6], m.fc_ER.fc3.weight[0])
    sds["enc_FR"]["conv1.0.bn.running_mean"] = torch.zeros(4)  # left by old PyTorch versions
    names = {"enc_FR": "Enc_FR_G.pkl", "enc_ER": "Enc_ER_G.pkl", "fc_ER": "fc_ER_G.pkl", "dec": "dec.pkl"}
    names |= {"dis_ER": "Dis_ER.pkl"}
    for net, fname in names.items():
        torch.save(sds[net], tmp_path / fname)
    m2 = TDGAN(cfg)
    assert load_released(m2, tmp_path) == list(names)
    for net in names:
        a, b = getattr(m, net).state_dict(), getattr(m2, net).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(FileNotFoundError):
        load_released(m2, tmp_path / "nothing")


def test_lambda_g_cls_trains_the_expression_encoder_only_when_set():
    """The genfer-only option adds CE(M_ER(E_e(x_e))) to G's loss; 0 keeps the released G loss."""
    import torch

    from genfer.core.config import make_config
    from genfer.models import build_method

    grads = {}
    for w in (0.0, 1.0):
        torch.manual_seed(0)
        m = build_method(make_config("tdgan", "tiny", [f"model.lambda_g_cls={w}"]))
        b = 4
        batch = m.prepare({"x_f": torch.randint(0, 255, (b, 1, 32, 32), dtype=torch.uint8),
                           "id_f": torch.arange(b) % 4,
                           "x_e": torch.randint(0, 255, (b, 1, 32, 32), dtype=torch.uint8),
                           "y_e": torch.arange(b) % 7})
        torch.manual_seed(1)
        out = m.training_step(batch, "G", {})
        assert ("g_cls" in out.terms) and (float(out.terms["g_cls"]) > 0) == (w > 0)
        out.loss.backward()
        grads[w] = torch.cat([p.grad.flatten() for p in m.enc_ER.parameters()])
        assert all(p.grad is None for p in m.fc_ER.parameters())  # the head is M_ER's, not G's
    assert not torch.allclose(grads[0.0], grads[1.0])


def test_expression_warmup_trains_only_the_expression_branch():
    """During ``er_warmup_steps`` only E_e and M_ER's head move; afterwards the released phases run."""
    cfg = tiny(er_warmup_steps=2)
    torch.manual_seed(0)
    m = TDGAN(cfg)
    opts = adams(m)
    assert m.phases(0) == m.phases(1) == ["M_ER", "G"]
    assert m.phases(2) == TDGAN(tiny()).phases(2)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    out = run_iteration(m, opts, pair_batch(cfg), step=0)
    assert set(out) == {"M_ER", "G", "m_er_ce", "g_cls"} and out["g_cls"] > 0
    moved = {k.split(".")[0] for k, v in m.state_dict().items() if not torch.equal(v, before[k])}
    assert moved == {"enc_ER", "fc_ER"}
    out = run_iteration(m, opts, pair_batch(cfg, seed=1), step=2)
    assert "g_dic_face" in out  # the full G loss once the warm-up is over
    with pytest.raises(ValueError):
        tiny(er_warmup_steps=-1)



def test_d_er_shift_translates_what_d_er_sees_in_both_of_its_terms():
    """The genfer-only ``d_er_shift`` changes D_ER's loss and G's adversarial term, nothing else."""
    x = torch.rand(4, 1, 32, 32)
    assert TDGAN(tiny()).d_er_view(x) is x  # off by default, as released
    with pytest.raises(ValueError):
        tiny(d_er_shift=0.5)
    torch.manual_seed(0)
    m = TDGAN(tiny(noise_dim=0))  # no decoder noise: the shift's draws change no other random number
    state = m.state_dict()
    terms = {}
    for s in (0.0, 0.25):
        m = TDGAN(tiny(noise_dim=0, d_er_shift=s))
        m.load_state_dict(state)
        m.eval()  # dropout off: the two configs differ only through the shift
        batch = m.prepare(pair_batch(m.cfg))
        torch.manual_seed(1)
        cache: dict = {}
        m.training_step(batch, "M_ER", cache)
        d_fr = m.training_step(batch, "D_FR", cache).terms
        d_er = m.training_step(batch, "D_ER", cache)
        g = m.training_step(batch, "G", cache)
        d_er.loss.backward()
        assert all(p.grad is not None for p in m.dis_ER.parameters())
        terms[s] = {**d_fr, **d_er.terms, **g.terms}
    differ = {k for k in terms[0.0] if not torch.equal(terms[0.0][k], terms[0.25][k])}
    assert differ == {"d_expr_real", "g_adv_expr"}
