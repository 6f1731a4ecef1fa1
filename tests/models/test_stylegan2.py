"""StyleGAN2: the official-forward equality (fixture), rosinality's layout, and the direct ops."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from official import arrays, official_state_dict, read_keys

from genfer.models.layers.stylegan2 import (
    ModulatedConv2d,
    bias_leaky_relu,
    make_kernel,
    minibatch_stddev,
    upfirdn2d,
)
from genfer.models.stylegan2.networks import Discriminator, Generator


def native_upfirdn2d(x, kernel, up=1, down=1, pad=(0, 0)):
    """The release's CPU algorithm: per channel, zero insertion, pad/crop, conv with the flipped kernel, stride."""
    b, c, h, w = x.shape
    k = kernel.shape[0]
    out = x.reshape(-1, h, 1, w, 1, 1)
    out = F.pad(out, [0, 0, 0, up - 1, 0, 0, 0, up - 1]).view(-1, h * up, w * up, 1)
    p0, p1 = pad
    out = F.pad(out, [0, 0, max(p0, 0), max(p1, 0), max(p0, 0), max(p1, 0)])
    out = out[:, max(-p0, 0): out.shape[1] - max(-p1, 0), max(-p0, 0): out.shape[2] - max(-p1, 0), :]
    out = out.permute(0, 3, 1, 2).reshape(-1, 1, out.shape[1], out.shape[2])
    out = F.conv2d(out, torch.flip(kernel, [0, 1]).view(1, 1, k, k))
    out = out[:, :, ::down, ::down]
    return out.reshape(b, c, out.shape[-2], out.shape[-1])


@pytest.mark.parametrize("kernel,up,down,pad", [
    ([1, 3, 3, 1], 2, 1, (2, 1)),   # Upsample (ToRGB skip)
    ([1, 3, 3, 1], 1, 1, (1, 1)),   # blur after the transposed conv
    ([1, 3, 3, 1], 1, 1, (2, 2)),   # blur before a 3 x 3 stride-2 conv
    ([1, 3, 3, 1], 1, 2, (1, 1)),   # Downsample
    ([1, 2, 1], 2, 1, (1, 1)),      # another filter, crop-based path
    ([1, 3, 3, 1], 1, 1, (3, 0)),   # asymmetric pads
    ([[1.0, 2.0], [3.0, 4.0]], 1, 1, (1, 0)),  # a non-symmetric 2-D kernel (flip matters)
])
def test_upfirdn2d_matches_native(kernel, up, down, pad):
    torch.manual_seed(0)
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    k = make_kernel(kernel).double() * up**2
    ref = native_upfirdn2d(x, k, up, down, pad)
    got = upfirdn2d(x, k, up, down, pad)
    assert got.shape == ref.shape
    assert torch.allclose(got, ref, atol=1e-12)


def test_bias_leaky_relu_value_and_double_backward():
    torch.manual_seed(0)
    x = torch.randn(3, 4, 5, 5, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, dtype=torch.float64, requires_grad=True)
    ref = F.leaky_relu(x + b.view(1, -1, 1, 1), 0.2) * math.sqrt(2)
    assert torch.allclose(bias_leaky_relu(x, b), ref)
    assert torch.autograd.gradcheck(bias_leaky_relu, (x, b))
    assert torch.autograd.gradgradcheck(bias_leaky_relu, (x, b))


def test_noise_bias_leaky_relu_value_and_double_backward():
    from genfer.models.layers.stylegan2 import noise_bias_leaky_relu

    torch.manual_seed(0)
    d = dict(dtype=torch.float64, requires_grad=True)
    x, nw, n, b = torch.randn(2, 3, 4, 4, **d), torch.randn(1, **d), torch.randn(2, 1, 4, 4, **d), torch.randn(3, **d)
    ref = F.leaky_relu(x + nw * n + b.view(1, -1, 1, 1), 0.2) * math.sqrt(2)
    assert torch.allclose(noise_bias_leaky_relu(x, nw, n, b), ref)
    assert torch.autograd.gradcheck(noise_bias_leaky_relu, (x, nw, n, b))
    assert torch.autograd.gradgradcheck(noise_bias_leaky_relu, (x, nw, n, b))
    n1 = torch.randn(1, 1, 4, 4, **d)  # one map broadcast over the batch (the stored noise)
    assert torch.autograd.gradcheck(noise_bias_leaky_relu, (x, nw, n1, b))


@pytest.mark.parametrize("up,down,k", [(False, False, 3), (True, False, 3), (True, False, 1), (True, False, 5),
                                        (False, True, 3)])
def test_modulated_conv_equals_per_sample_weights(up, down, k):
    """The phases, the one-pass weights and the matmul demodulation equal the release's grouped conv
    with per-sample demodulated weights (a transposed conv + blur when upsampling)."""
    torch.manual_seed(0)
    m = ModulatedConv2d(6, 5, k, 8, upsample=up, downsample=down).double()
    x, s = torch.randn(3, 6, 8, 8, dtype=torch.float64), torch.randn(3, 8, dtype=torch.float64)
    style = m.modulation(s).view(3, 1, 6, 1, 1)
    w = m.scale * m.weight * style
    w = w * torch.rsqrt(w.pow(2).sum([2, 3, 4]) + 1e-8).view(3, 5, 1, 1, 1)
    if up:
        wt = w.transpose(1, 2).reshape(3 * 6, 5, k, k)
        ref = F.conv_transpose2d(x.reshape(1, 18, 8, 8), wt, stride=2, groups=3).view(3, 5, 14 + k, 14 + k)
        ref = native_upfirdn2d(ref, m.blur.kernel, pad=m.blur.pad)
        assert ref.shape[-1] == 16
    elif down:
        xb = native_upfirdn2d(x, m.blur.kernel, pad=m.blur.pad)
        ref = F.conv2d(xb.reshape(1, 18, *xb.shape[-2:]), w.view(15, 6, 3, 3), stride=2, groups=3).view(3, 5, 4, 4)
    else:
        ref = F.conv2d(x.reshape(1, 18, 8, 8), w.view(15, 6, 3, 3), padding=1, groups=3).view(3, 5, 8, 8)
    assert torch.allclose(m(x, s), ref, atol=1e-10)


@pytest.mark.parametrize("up,down,k,demod", [(False, False, 3, True), (True, False, 3, True), (True, False, 1, True),
                                              (False, True, 3, True), (False, False, 1, False)])
def test_frozen_modulated_conv_scales_activations_to_the_same_result(up, down, k, demod):
    """With the weight frozen and gradients on, ``conv(x * s, W) * d`` replaces the per-sample weights:
    the same outputs and the same gradients for the input and the style (inversion, projection)."""
    torch.manual_seed(0)
    m = ModulatedConv2d(6, 5, k, 8, demodulate=demod, upsample=up, downsample=down).double()
    x, s = torch.randn(3, 6, 8, 8, dtype=torch.float64), torch.randn(3, 8, dtype=torch.float64)
    g = torch.randn_like(m(x, s))
    outs = []
    for frozen in (False, True):
        m.weight.requires_grad_(not frozen)
        xi, si = x.clone().requires_grad_(), s.clone().requires_grad_()
        y = m(xi, si)
        y.backward(g)
        outs.append((y.detach(), xi.grad, si.grad))
    for a, b in zip(*outs):
        assert torch.allclose(a, b, atol=1e-10)
    assert m.weight.grad is not None and m.weight.requires_grad is False  # the frozen pass gave it nothing new
    w_grad = m.weight.grad.clone()
    m(x.requires_grad_(), s).sum().backward()
    assert torch.equal(m.weight.grad, w_grad)


def test_upsampling_modulated_conv_is_twice_differentiable():
    """R1 and the path-length penalty differentiate through the phases' interleaving twice."""
    torch.manual_seed(0)
    m = ModulatedConv2d(2, 3, 3, 4, upsample=True).double()
    x = torch.randn(2, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    s = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(m, (x, s))
    assert torch.autograd.gradgradcheck(m, (x, s))


def test_minibatch_stddev_groups_and_odd_batches():
    x = torch.randn(8, 4, 2, 2)
    y = minibatch_stddev(x)
    assert y.shape == (8, 5, 2, 2)
    # samples i and i + 2 share a group of 4 (rosinality's view(group, -1, ...) interleaves)
    ref = x.view(4, 2, 4, 2, 2).var(0, unbiased=False).add(1e-8).sqrt().mean([1, 2, 3])
    assert torch.allclose(y[:2, 4, 0, 0], ref)
    assert minibatch_stddev(torch.randn(6, 4, 2, 2)).shape == (6, 5, 2, 2)  # group 3; the release fails here


def small_generator(size=64, **kw):
    return Generator(size, 16, 2, channel_multiplier=1 / 64, channel_max=16, **kw)


def test_generator_features_constant_and_mixing():
    torch.manual_seed(0)
    g = small_generator(128).eval()
    assert g.n_latent == 12 and g.num_layers == 11
    w = torch.randn(2, g.n_latent, 16)
    img, lat, feats = g([w], input_is_latent=True, randomize_noise=False, return_latents=True, return_features=True)
    assert img.shape == (2, 3, 128, 128) and torch.equal(lat, w)
    assert [f.shape[-1] for f in feats] == [64, 32, 16]
    z = torch.randn(2, 16)
    full = g([z], randomize_noise=False, return_features=True)[2]
    assert all(torch.equal(a, b) for a, b in zip(g.features([z], randomize_noise=False), full, strict=True))
    const = torch.randn(2, g.channels[4], 4, 4)
    img2, none = g([w], const, input_is_latent=True, randomize_noise=False)
    assert none is None and not torch.allclose(img, img2)
    z1, z2 = torch.randn(2, 16), torch.randn(2, 16)
    _, mixed = g([z1, z2], inject_index=3, return_latents=True)
    assert torch.allclose(mixed[:, :3], g.style(z1)[:, None].expand(-1, 3, -1))
    assert torch.allclose(mixed[:, 3:], g.style(z2)[:, None].expand(-1, 9, -1))
    with pytest.raises(ValueError, match="power of two"):
        Generator(48, 16, 2)


def test_discriminator_layout_is_rosinalitys():
    d = Discriminator(256, channel_multiplier=2)
    sd = d.state_dict()
    # 256 px: FromRGB, 6 ResBlocks (256 -> 4 px), final conv and two linears
    assert list(sd)[:9] == ["convs.0.0.weight", "convs.0.1.bias", "convs.1.conv1.0.weight", "convs.1.conv1.1.bias",
                            "convs.1.conv2.0.kernel", "convs.1.conv2.1.weight", "convs.1.conv2.2.bias",
                            "convs.1.skip.0.kernel", "convs.1.skip.1.weight"]
    assert list(sd)[-6:] == ["final_conv.0.weight", "final_conv.1.bias", "final_linear.0.weight",
                             "final_linear.0.bias", "final_linear.1.weight", "final_linear.1.bias"]
    assert sd["convs.0.0.weight"].shape == (128, 3, 1, 1) and sd["final_conv.0.weight"].shape == (512, 513, 3, 3)
    assert sum(p.numel() for p in d.parameters()) == 28_864_129
    small = Discriminator(32, channel_multiplier=1 / 64, channel_max=16)
    assert small(torch.randn(3, 3, 32, 32)).shape == (3, 1)


@pytest.mark.parametrize("winograd", [True, False])
def test_official_generator_forward(winograd, monkeypatch):
    """Fixture: IFER's (= rosinality's) Generator(256, 512, 8), channel multiplier 2, weights by the rule.
    Inference as shipped (the 512-channel convs by Winograd: max |diff| 5.4e-5 on images spanning
    +-18) and by direct convolutions (3.2e-5)."""
    monkeypatch.setattr(ModulatedConv2d, "winograd", winograd)
    rows = read_keys("stylegan2", "Generator")
    g = Generator(256, 512, 8, channel_multiplier=2)
    sd = g.state_dict()
    assert [r.key for r in rows] == list(sd)
    assert all(tuple(sd[r.key].shape) == r.shape for r in rows)
    assert sum(p.numel() for p in g.parameters()) == 30_034_338
    assert sum(p.numel() for p in g.style.parameters()) == 2_101_248
    g.load_state_dict(official_state_dict("stylegan2", "Generator", keep=sd))
    g.eval()
    inp, out = arrays("stylegan2", "inputs"), arrays("stylegan2", "outputs")
    z, wplus, struct = (torch.from_numpy(inp[k]) for k in ("z", "wplus", "struct"))
    ref = {k: torch.from_numpy(v) for k, v in out.items()}
    with torch.no_grad():
        w = g.style(z)
        assert (w - ref["w_mapping"]).abs().max() < 1e-4
        # the three official calls as one batch: W+, W+ with the structure code, z broadcast
        latent = torch.cat([wplus, wplus, w[:, None].expand(-1, g.n_latent, -1)])
        const = torch.cat([g.input(wplus), struct, g.input(wplus)])
        img, feats = g.synthesis(latent, const, g.stored_noise(), return_features=True)
    assert (img[:2] - ref["img_wplus"]).abs().max() < 1e-4
    assert (img[2:4] - ref["img_struct"]).abs().max() < 1e-4
    assert (img[4:] - ref["img_z"]).abs().max() < 1e-4
    f64, f32, f16 = (f[:2] for f in feats)
    assert (f16 - ref["feat16_wplus"]).abs().max() < 1e-4
    # stored as sums over H x W: the same 1e-4 per element, summed
    assert (f32.sum((2, 3)) - ref["feat32_wplus_sum_hw"]).abs().max() < 1e-4 * 32 * 32
    assert (f64.sum((2, 3)) - ref["feat64_wplus_sum_hw"]).abs().max() < 1e-4 * 64 * 64
    # and the public call returns the latent it was given
    with torch.no_grad():
        img1, lat = g([wplus[:1]], input_is_latent=True, randomize_noise=False, return_latents=True)
    assert torch.equal(lat, wplus[:1]) and (img1 - ref["img_wplus"][:1]).abs().max() < 1e-4


# --- rosinality checkpoints ---------------------------------------------------------------------------

def tiny_rosinality(tmp_path, name="ck.pt", drop=(), add=None, latent_avg=True, **kw):
    import argparse

    torch.manual_seed(0)
    g = Generator(32, 16, 2, channel_multiplier=kw.get("cm", 1 / 64), channel_max=16)
    d = Discriminator(32, channel_multiplier=kw.get("cm", 1 / 64), channel_max=16)
    sd = {k: v for k, v in g.state_dict().items() if k not in drop}
    sd |= add or {}
    obj = {"g_ema": sd, "g": dict(sd), "d": d.state_dict(), "args": argparse.Namespace(size=32, r1=10.0)}
    if latent_avg:
        obj["latent_avg"] = g.mean_latent(64)[0]
    torch.save(obj, tmp_path / name)
    return tmp_path / name, g


def test_load_rosinality_round_trip(tmp_path):
    from genfer.models.stylegan2.rosinality import load_rosinality

    path, g = tiny_rosinality(tmp_path)
    ck = load_rosinality(path)
    assert (ck.spec.size, ck.spec.style_dim, ck.spec.n_mlp) == (32, 16, 2)
    assert ck.g_ema.channels == g.channels and ck.d is not None and ck.latent_avg_samples == 0
    w = torch.randn(2, g.n_latent, 16)
    g.eval()
    with torch.no_grad():
        a = g([w], input_is_latent=True, randomize_noise=False)[0]
        b = ck.g_ema([w], input_is_latent=True, randomize_noise=False)[0]
    assert torch.equal(a, b)
    assert load_rosinality(path, size=32, channel_multiplier=1 / 64).spec.size == 32


def test_load_rosinality_names_what_is_wrong(tmp_path):
    from genfer.models.stylegan2.rosinality import StyleGAN2CheckpointError, load_rosinality

    path, _ = tiny_rosinality(tmp_path, "a.pt", drop=("conv1.noise.weight",), add={"extra.weight": torch.zeros(1)})
    with pytest.raises(StyleGAN2CheckpointError, match=r"missing keys: conv1\.noise\.weight.*unexpected keys: "
                                                       r"extra\.weight"):
        load_rosinality(path)
    path, _ = tiny_rosinality(tmp_path, "b.pt")
    with pytest.raises(StyleGAN2CheckpointError, match="size 64 was asked, the checkpoint is 32 px"):
        load_rosinality(path, size=64)
    with pytest.raises(StyleGAN2CheckpointError, match="multiplier 0.25 was asked, the checkpoint.s is 0.015625"):
        load_rosinality(path, channel_multiplier=0.25)
    with pytest.raises(StyleGAN2CheckpointError, match="style dim 512 was asked"):
        load_rosinality(path, style_dim=512)
    (tmp_path / "c.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(StyleGAN2CheckpointError, match="c.pt: cannot be loaded with weights_only=True"):
        load_rosinality(tmp_path / "c.pt")
    torch.save({"state_dict": {}}, tmp_path / "d.pt")
    with pytest.raises(StyleGAN2CheckpointError, match="no g_ema, g or d"):
        load_rosinality(tmp_path / "d.pt")


def test_load_rosinality_refuses_code(tmp_path):
    from genfer.models.stylegan2.rosinality import StyleGAN2CheckpointError, load_rosinality

    torch.save({"g_ema": {}, "args": torch.nn.Identity()}, tmp_path / "e.pt")  # a pickled module: code
    with pytest.raises(StyleGAN2CheckpointError, match="weights_only"):
        load_rosinality(tmp_path / "e.pt")


def test_missing_latent_avg_is_the_mean_of_mapped_z(tmp_path):
    from genfer.models.stylegan2.rosinality import load_rosinality, mean_w

    path, g = tiny_rosinality(tmp_path, latent_avg=False)
    ck = load_rosinality(path, mean_samples=500)
    assert ck.latent_avg_samples == 500 and ck.latent_avg.shape == (16,)
    assert torch.allclose(ck.latent_avg, mean_w(g, 500), atol=1e-6)


# --- the method -----------------------------------------------------------------------------------------

def test_phases_follow_the_lazy_intervals():
    from genfer.core.config import make_config
    from genfer.models.stylegan2 import StyleGAN2

    m = StyleGAN2(make_config("stylegan2", "tiny").model)
    assert m.phases(0) == ["D", "D:r1", "G", "G:pl"]
    assert m.phases(4) == ["D", "G", "G:pl"] and m.phases(5) == ["D", "G"]
    assert sum("D:r1" in m.phases(s) for s in range(32)) == 2 and sum("G:pl" in m.phases(s) for s in range(32)) == 8
    assert m.lazy_intervals() == {"G": 4, "D": 16}
    off = StyleGAN2(make_config("stylegan2", "tiny", ["model.r1=0", "model.g_reg_every=0"]).model)
    assert off.phases(0) == ["D", "G"] and off.lazy_intervals() == {}


def test_engine_applies_the_lazy_regularisation_correction(tiny_cfg):
    from genfer.engine.trainer import Trainer

    t = Trainer(tiny_cfg("stylegan2", "optim.lr=0.002", "optim.betas=[0.0,0.99]"))
    g, d = t.opts["G"].param_groups[0], t.opts["D"].param_groups[0]
    assert math.isclose(g["lr"], 0.002 * 4 / 5) and math.isclose(d["lr"], 0.002 * 16 / 17)
    assert g["betas"] == (0.0, 0.99 ** (4 / 5)) and d["betas"] == (0.0, 0.99 ** (16 / 17))


def test_path_length_penalty_tracks_its_mean_and_trains_g():
    from genfer.core.config import make_config
    from genfer.models.stylegan2 import StyleGAN2

    torch.manual_seed(0)
    m = StyleGAN2(make_config("stylegan2", "tiny").model)
    batch = {"image": torch.rand(4, 3, 32, 32) * 2 - 1}
    out = m.training_step(batch, "G:pl", {})
    first = float(m.mean_path_length)
    assert first > 0 and math.isclose(first, 0.01 * float(out.terms["path_length"]), rel_tol=1e-5)
    out.loss.backward()
    assert m.G.style[1].weight.grad is not None and m.D.final_linear[1].weight.grad is None
    m.training_step(batch, "G:pl", {})
    assert float(m.mean_path_length) > first


def test_sampling_is_seeded_and_truncation_pulls_to_the_mean():
    from genfer.core.config import make_config
    from genfer.models.stylegan2 import StyleGAN2

    torch.manual_seed(0)
    m = StyleGAN2(make_config("stylegan2", "tiny").model)
    a, b = m.sample(3, seed=5), m.sample(3, seed=5)
    assert a.shape == (3, 3, 32, 32) and torch.equal(a, b) and a.min() >= 0 and a.max() <= 1
    assert int(m.latent_avg_samples) == 0
    t0 = m.sample(3, truncation=0.0 + 1e-6, seed=5)
    assert int(m.latent_avg_samples) == 10_000  # computed once, kept
    assert (t0 - t0[:1]).abs().max() < 1e-3  # every sample is the mean face
