"""AU cycle GAN: parameter counts, fast layers, phase routing, options, released-pattern equivalence, editing."""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from genfer.core.config import make_config
from genfer.core.registry import METHODS
from genfer.engine.step import run_iteration as engine_iteration
from genfer.losses import adversarial as adv
from genfer.models.au_cyclegan import AUCycleGAN, AUCycleGANConfig, editing, emotion_aus, parse_aus
from genfer.models.au_cyclegan.networks import Critic, Generator, UpConv
from genfer.models.layers.shift import random_shift

REFERENCE = Path(__file__).resolve().parents[2] / "benchmarks" / "reference_au_cyclegan.py"


def tiny(**overrides) -> AUCycleGANConfig:
    return dataclasses.replace(make_config("au_cyclegan", "tiny").model, **overrides)


def au_batch(cfg: AUCycleGANConfig, b: int = 4, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    shape = (b, cfg.channels, cfg.image_size, cfg.image_size)
    return {
        "image": torch.randint(0, 256, shape, dtype=torch.uint8, generator=g),
        "aus": torch.rand(b, 17, generator=g) * 5,
    }


def adams(m: AUCycleGAN) -> dict:
    return {g: torch.optim.Adam([p for x in ms for p in x.parameters()], 2e-4, betas=(0.5, 0.999))
            for g, ms in m.groups().items()}


def n_params(mod: nn.Module) -> int:
    return sum(p.numel() for p in mod.parameters())


def run_iteration(m: AUCycleGAN, opts: dict, batch: dict, step: int = 0) -> dict[str, float]:
    """One engine iteration (``genfer.engine.step.run_iteration``); ``{phase: loss, term: value}``."""
    groups = {g: [p for mod in mods for p in mod.parameters()] for g, mods in m.groups().items()}
    res = engine_iteration(m, m.prepare(batch), opts, groups, step)
    out = {}
    for key, v in res.terms.items():
        phase, term = key.split("/")
        out[phase if term == "loss" else term] = v.item()
    return out


# --- architecture ---------------------------------------------------------------------------------
def test_registered_with_contract():
    assert METHODS.get("au_cyclegan") is AUCycleGAN
    assert AUCycleGAN.Config is AUCycleGANConfig
    assert AUCycleGAN.data_kind == "expressions"


def test_parameter_counts_equal_the_release():
    m = AUCycleGAN()
    assert n_params(m.G) == 43_557_507
    assert n_params(m.D) == 30_043_026
    assert n_params(m) == 73_600_533


@pytest.mark.parametrize(("size", "layers"), [(32, 4), (64, 5), (112, 5)])
def test_generator_maps_back_to_the_input_size(size, layers):
    g = Generator(size, 3, 17, 4, 4, layers, 32, attention=0)
    x = torch.rand(2, 3, size, size) * 2 - 1
    y, mask = g(x, torch.rand(2, 17))
    assert y.shape == x.shape and mask is None
    assert float(y.detach().abs().max()) <= 1
    s, a = Critic(size, 3, 17, 4, layers, 32, 8)(x)
    assert s.shape == (2,) and a.shape == (2, 17)


def test_config_validation_and_presets():
    with pytest.raises(ValueError):
        AUCycleGANConfig(adversarial="relativistic")
    with pytest.raises(ValueError):
        AUCycleGANConfig(au_loss="huber")
    with pytest.raises(ValueError):
        AUCycleGANConfig(image_size=16, n_layers=5)
    with pytest.raises(ValueError):
        AUCycleGAN(tiny(g_attention=5))  # no decoder map of 5 px
    rel = make_config("au_cyclegan", "released")
    assert rel.optim.lr == 2e-4 and rel.optim.betas == (0.5, 0.999) and rel.data.batch_size == 32
    cpu = make_config("au_cyclegan", "cpu")
    assert cpu.model.au_loss == "mse" and cpu.optim.betas == (0.5, 0.999)
    AUCycleGAN(cpu.model)  # builds


@pytest.mark.parametrize(("c_in", "c_out", "side", "pad"), [(6, 5, 3, 1), (5, 4, 4, 0), (3, 2, 9, 0)])
def test_upconv_equals_conv_transpose(c_in, c_out, side, pad):
    torch.manual_seed(0)
    up = UpConv(c_in, c_out, pad, bias=True, gemm=True).double()
    ref = nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, output_padding=pad).double()
    ref.load_state_dict(up.state_dict())
    x = torch.randn(2, c_in, side, side, dtype=torch.float64).contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    y, y_ref = up(x), ref(x)
    assert y.shape == y_ref.shape == (2, c_out, 2 * side + pad, 2 * side + pad)
    torch.testing.assert_close(y, y_ref)
    assert up.weight.is_contiguous()  # the optimizer updates it in place, without a copy
    g = torch.randn_like(y_ref)
    got = torch.autograd.grad(y, (x, up.weight, up.bias), g)
    want = torch.autograd.grad(y_ref, (x, ref.weight, ref.bias), g)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b)


def test_inference_folds_batchnorm_without_changing_the_output():
    torch.manual_seed(0)
    m = AUCycleGAN(tiny())
    x, c = torch.rand(3, 3, 32, 32) * 2 - 1, torch.rand(3, 17)
    with torch.no_grad():
        for _ in range(3):  # give BatchNorm non-trivial running statistics
            m.G(x * torch.rand(1) * 2, c)
        m.eval()
        plain = m.G(x, c)[0]
    with torch.inference_mode():
        folded = m.G(x, c)[0]
        m.G.dec[0][1].running_var.mul_(2)  # a changed statistic is picked up
        changed = m.G(x, c)[0]
    torch.testing.assert_close(folded, plain, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(changed, plain, atol=1e-4)
    assert hasattr(m.G.enc[0], "_fold") and "_fold" not in str(list(m.state_dict()))


# --- training -------------------------------------------------------------------------------------
def test_phase_schedule_follows_d_g_ratio():
    assert AUCycleGAN(tiny()).phases(0) == ["D", "G"]
    m = AUCycleGAN(tiny(d_g_ratio=3))
    assert [m.phases(s) for s in range(4)] == [["D", "G"], ["D"], ["D"], ["D", "G"]]


def test_each_phase_reaches_only_its_group():
    torch.manual_seed(0)
    m = AUCycleGAN(tiny())
    batch = m.prepare(au_batch(m.cfg))
    cache: dict = {}
    for phase, other in (("D", m.G), ("G", m.D)):
        m.zero_grad(set_to_none=True)
        out = m.training_step(batch, phase, cache)
        assert torch.isfinite(out.loss)
        out.loss.backward()
        own = m.D if phase == "D" else m.G
        assert all(p.grad is not None for p in own.parameters()), phase
        assert all(p.grad is None for p in other.parameters()), f"{phase} leaked into the other group"
    assert set(cache) >= {"fake", "c_trg", "feats"}
    assert all(p.requires_grad for p in m.D.parameters())  # unfrozen after the G phase


def test_sample_target_gives_every_sample_another_samples_aus():
    m = AUCycleGAN(tiny())
    cond = torch.arange(6, dtype=torch.float32)[:, None].expand(6, 17).clone()
    for seed in range(5):
        torch.manual_seed(seed)
        t = m.sample_target(cond)
        assert sorted(t[:, 0].tolist()) == list(range(6))
        assert bool((t[:, 0] != cond[:, 0]).all())
    noisy = AUCycleGAN(tiny(target_noise=0.1)).sample_target(cond / 10)
    assert float(noisy.min()) >= 0 and float(noisy.max()) <= 1


def test_train_condition_presence_or_scaled_intensity():
    aus = torch.tensor([[0.5, 1.0, 4.0] + [0.0] * 14])
    assert AUCycleGAN(tiny()).train_condition(aus)[0, :3].tolist() == [0.0, 1.0, 1.0]
    torch.testing.assert_close(AUCycleGAN(tiny(au_loss="l1")).train_condition(aus)[0, :3],
                               torch.tensor([0.1, 0.2, 0.8]))


def test_intensity_losses_share_the_condition_and_differ_in_the_penalty():
    aus = torch.tensor([[0.5, 1.0, 4.0] + [0.0] * 14])
    l1, mse = AUCycleGAN(tiny(au_loss="l1")), AUCycleGAN(tiny(au_loss="mse"))
    torch.testing.assert_close(mse.train_condition(aus), l1.train_condition(aus))
    out, target = torch.tensor([[0.5, 0.0]]), torch.tensor([[0.0, 0.0]])
    torch.testing.assert_close(l1._au_loss(out, target), torch.tensor(0.25))
    torch.testing.assert_close(mse._au_loss(out, target), torch.tensor(0.125))


def _reference_module():
    if not REFERENCE.exists():
        pytest.skip("benchmarks/reference_au_cyclegan.py is not in this checkout")
    spec = importlib.util.spec_from_file_location("reference_au_cyclegan", REFERENCE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_losses_and_updates_equal_the_released_compute_pattern():
    ref_mod = _reference_module()
    torch.manual_seed(0)
    cfg = tiny()
    m = AUCycleGAN(cfg).double()
    ref = ref_mod.ReferenceAUCycleGAN(cfg).double()
    ref_mod.load_genfer(ref, m)
    opts = adams(m)
    g = torch.Generator().manual_seed(1)
    for step in range(2):
        batch = m.prepare(au_batch(cfg, seed=step))
        batch = {k: v.double() for k, v in batch.items()}
        c_trg = batch["cond"].roll(1, 0)
        alpha = torch.rand(4, 1, 1, 1, generator=g, dtype=torch.float64)
        m.sample_target = lambda c, t=c_trg: t
        m.sample_alpha = lambda n, device, dtype, a=alpha: a
        ours = run_iteration(m, opts, batch, step)
        theirs = ref.iteration(step, batch["image"].contiguous(), batch["cond"], c_trg, alpha)
        pairs = {"D": "d_loss", "d_adv": "d_adv_loss", "d_cl": "d_cl_loss", "gp": "gp",
                 "G": "g_loss", "g_adv": "g_adv_loss", "g_cl": "g_cl_loss", "rec": "rec_loss"}
        for k, r in pairs.items():
            assert ours[k] == pytest.approx(theirs[r].item(), rel=1e-9, abs=1e-12), (step, k)
    for (name, a), (_, b) in zip(
        [*m.G.named_parameters(), *m.D.named_parameters()], [*ref.g.named_parameters(), *ref.d.named_parameters()]
    ):
        torch.testing.assert_close(a, b, msg=name)


@pytest.mark.parametrize(
    "overrides",
    [
        {"adversarial": "nonsaturating", "lambda_gp": 0.0},
        {"adversarial": "hinge"},
        {"au_loss": "l1", "lambda_cycle": 10.0},
        {"au_loss": "mse", "d_g_ratio": 1},
        {"lambda_cyc": 0.0, "lambda_cycle": 10.0, "mask_output": True},
        {"g_attention": 4, "d_attention": 8},
        {"faithful": True, "channels_last": False, "target_noise": 0.1},
        {"critic_shift": 0.125},
    ],
)
def test_options_train_one_finite_iteration(overrides):
    torch.manual_seed(0)
    m = AUCycleGAN(tiny(**overrides))
    before = {k: v.clone() for k, v in m.state_dict().items()}
    out = run_iteration(m, adams(m), au_batch(m.cfg))
    assert all(torch.isfinite(torch.tensor(v)) for v in out.values())
    assert ("gp" in out) == (m.cfg.lambda_gp > 0)
    assert ("rec" in out) == (m.cfg.lambda_cyc > 0) and ("cycle" in out) == (m.cfg.lambda_cycle > 0)
    assert ("mask" in out) == m.cfg.mask_output
    changed = {k for k, v in m.state_dict().items() if v.is_floating_point() and not torch.equal(v, before[k])}
    assert any(k.startswith("G.") for k in changed) and any(k.startswith("D.") for k in changed)
    if m.cfg.g_attention:
        assert "G.attn.gamma" in changed and any(k.startswith("D.trunk") and "gamma" in k for k in changed)


def test_critic_view_is_a_random_shift_only_when_set():
    m = AUCycleGAN(tiny(critic_shift=0.25))
    x = torch.rand(4, 3, 32, 32)
    torch.manual_seed(0)
    y = m.critic_view(x)
    torch.manual_seed(0)
    assert torch.equal(y, random_shift(x, 0.25)) and not torch.equal(y, x)
    assert AUCycleGAN(tiny()).critic_view(x) is x  # off by default, as released
    with pytest.raises(ValueError):
        tiny(critic_shift=0.5)


def test_mask_output_blends_the_input():
    torch.manual_seed(0)
    g = Generator(32, 3, 17, 4, 4, 4, 16, mask=True)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        y, mask = g(x, torch.rand(2, 17))
    assert mask.shape == (2, 1, 32, 32) and float(mask.min()) >= 0 and float(mask.max()) <= 1
    with torch.no_grad():
        g.dec[-1].bias[-1] = 50.0  # attention saturated at 1: the input passes through unchanged
        y, mask = g(x, torch.rand(2, 17))
    torch.testing.assert_close(y, x, atol=1e-5, rtol=0)


def test_faithful_switch_sets_the_input_range():
    img = torch.full((1, 3, 32, 32), 255, dtype=torch.uint8)
    assert float(AUCycleGAN(tiny()).to_input(img).max()) == 1.0
    assert float(AUCycleGAN(tiny()).to_input(torch.zeros(1, 3, 32, 32)).min()) == -1.0
    assert float(AUCycleGAN(tiny(faithful=True)).to_input(img * 0).min()) == 0.0


# --- losses ---------------------------------------------------------------------------------------
def test_adversarial_losses_and_gradient_penalty():
    real, fake = torch.tensor([2.0, 0.0]), torch.tensor([-1.0, 1.0])
    assert adv.d_loss("wgan", real, fake).item() == pytest.approx(-1.0)
    assert adv.g_loss("wgan", fake).item() == pytest.approx(0.0)
    assert adv.d_loss("hinge", real, fake).item() == pytest.approx(0.5 + 1.0)
    assert adv.d_loss("nonsaturating", real, fake).item() == pytest.approx(
        (F.softplus(-real).mean() + F.softplus(fake).mean()).item())
    with pytest.raises(KeyError):
        adv.g_loss("relativistic", fake)
    w = torch.tensor([3.0, 4.0], requires_grad=True)  # a linear critic: its input gradient is w
    gp = adv.gradient_penalty(lambda x: x @ w, torch.zeros(5, 2), torch.ones(5, 2))
    assert gp.item() == pytest.approx((5.0 - 1.0) ** 2)
    (gw,) = torch.autograd.grad(gp, w)  # d/dw (|w| - 1)^2 = 2 (|w| - 1) w / |w|
    torch.testing.assert_close(gw, 2 * 4.0 * w.detach() / 5.0)


# --- engine and inference -------------------------------------------------------------------------
def test_nan_guard_skips_the_critic_update(tiny_cfg):
    from genfer.engine.trainer import Trainer

    tr = Trainer(tiny_cfg("au_cyclegan", "train.max_nonfinite=2"))
    d_before = {k: v.clone() for k, v in tr.method.D.state_dict().items()}
    real_step = tr.method.training_step

    def poisoned(batch, phase, cache):
        out = real_step(batch, phase, cache)
        if phase == "D":
            out.loss = out.loss * float("nan")
        return out

    tr.method.training_step = poisoned
    tr.terms = {}
    assert tr.iteration() == ["D"]
    assert all(torch.equal(v, d_before[k]) for k, v in tr.method.D.state_dict().items())


def test_engine_run_then_edit_cli(tiny_cfg, tmp_path):
    from genfer.cli import edit as edit_cli
    from genfer.core.imaging import save_image
    from genfer.engine.trainer import train

    run = train(tiny_cfg("au_cyclegan"))
    assert (run / "summary.json").exists() and list((run / "samples").glob("*.png"))
    face = tmp_path / "face.png"
    save_image(torch.rand(3, 40, 40), face)
    parser = argparse.ArgumentParser()
    edit_cli.register(parser.add_subparsers())
    outs = {}
    for name, extra in (("aus", ["--aus", "AU12=3,AU06=2"]), ("emo", ["--emotion", "happy", "--intensity", "3"]),
                        ("strip", ["--aus", "AU26=5", "--strip", "4"]), ("grid", ["--au-grid"])):
        outs[name] = tmp_path / f"{name}.png"
        args = parser.parse_args(["edit", "--checkpoint", str(run), str(face), *extra, "-o", str(outs[name])])
        assert args.func(args) == 0
    from PIL import Image

    assert Image.open(outs["aus"]).size == (32, 32)
    w, h = Image.open(outs["strip"]).size
    assert (w, h) == (5 * 34 + 2, 34 + 2)  # input + 4 strip images, 2 px padding
    assert Image.open(outs["grid"]).size == (9 * 34 + 2, 4 * 34 + 2)


def test_edit_api_and_presets():
    torch.manual_seed(0)
    m = AUCycleGAN(tiny())
    x = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    y = m.edit(x, emotion_aus("happiness"))
    assert y.shape == (2, 3, 32, 32) and float(y.min()) >= 0 and float(y.max()) <= 1
    assert m.training  # restored after inference
    assert m.strip(x[:1], emotion_aus("surprise"), 3).shape == (3, 3, 32, 32)
    assert m.au_grid(x[0]).shape == (4 * 9, 3, 32, 32)
    est = m.estimate_aus(x)
    assert est.shape == (2, 17) and float(est.min()) >= 0 and float(est.max()) <= 5
    grid, ncol = m.samples(m.prepare(au_batch(m.cfg)))
    assert ncol == 9 and grid.shape == (4 * 9, 3, 32, 32)
    metrics = m.evaluate([au_batch(m.cfg)])
    assert set(metrics) == {"rec_l1", "d_au_acc"}


def test_au_parsing_and_emotion_presets():
    assert parse_aus("AU12=3, 6=2 au25_r=1.5") == {"AU12": 3.0, "AU06": 2.0, "AU25": 1.5}
    for bad in ("AU12", "AU12=x", "AU12=7"):
        with pytest.raises(ValueError):
            parse_aus(bad)
    with pytest.raises(KeyError):
        parse_aus("AU03=1")
    happy = emotion_aus("happy")
    assert happy[8].item() == 3.5 and happy[4].item() == 3.0  # AU12, AU06 at their typical values
    scaled = emotion_aus("happiness", 3.0)
    assert scaled.max().item() == pytest.approx(3.0) and scaled[4].item() == pytest.approx(3.0 * 3.0 / 3.5)
    assert emotion_aus("contempt")[9].item() == 3.0  # AU14
    assert float(emotion_aus("neutral").abs().sum()) == 0
    src = torch.full((2, 17), 1.0)
    t = editing.target_aus(src, {"AU12": 4.0})
    assert t[:, 8].tolist() == [4.0, 4.0] and t[:, 0].tolist() == [1.0, 1.0]
    assert editing.target_aus(src, {"AU12": 4.0}, base="neutral")[:, 0].tolist() == [0.0, 0.0]
    strip = editing.interpolation(torch.zeros(17), torch.full((17,), 5.0), 6)
    assert strip[:, 0].tolist() == pytest.approx([0, 1, 2, 3, 4, 5])


@pytest.mark.parametrize("mask", [False, True])
def test_decode_many_equals_separate_decodes(mask):
    """Two conditions decoded together (the shared products of the encoder's maps computed once)
    give the separate decodes' images, gradients and BatchNorm running statistics."""
    torch.manual_seed(0)
    g1 = Generator(image_size=32, enc_dim=4, dec_dim=4, max_width=16, mask=mask).double().train()
    g2 = Generator(image_size=32, enc_dim=4, dec_dim=4, max_width=16, mask=mask).double().train()
    g2.load_state_dict(g1.state_dict())
    assert any(isinstance(m, UpConv) and m.gemm for m in g1.modules())
    x = torch.rand(3, 3, 32, 32, dtype=torch.float64) * 2 - 1
    c1, c2 = torch.rand(3, 17, dtype=torch.float64), torch.rand(3, 17, dtype=torch.float64)
    together = g1.decode_many(g1.encode(x), [c1, c2], x)
    feats = g2.encode(x)
    apart = [g2.decode(feats, c, x) for c in (c1, c2)]
    loss1 = together[0][0].square().mean() + together[1][0].abs().mean()
    loss2 = apart[0][0].square().mean() + apart[1][0].abs().mean()
    for (a, ma), (b, mb) in zip(together, apart):
        torch.testing.assert_close(a, b)
        if mask:
            torch.testing.assert_close(ma, mb)
    loss1.backward()
    loss2.backward()
    for (name, p1), p2 in zip(g1.named_parameters(), g2.parameters()):
        torch.testing.assert_close(p1.grad, p2.grad, msg=name)
    for b1, b2 in zip(g1.buffers(), g2.buffers()):
        torch.testing.assert_close(b1, b2)
