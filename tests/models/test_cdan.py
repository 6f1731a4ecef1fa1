"""CDAN: released parameter counts, the official-forward fixture, the converter, sizes, losses."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from official import arrays, official_state_dict, read_keys

from genfer.core.config import make_config
from genfer.core.errors import GenferError
from genfer.models.cdan import CDAN, CDANConfig, convert
from genfer.models.cdan.method import cdan_tv
from genfer.models.cdan.networks import SEA, count

USES = {  # the "its forward uses" column
    "encoder": 28_559_232,
    "colour_decoder": 34_035_459,
    "mask_decoder": 27_614_435,
    "quant_conv": 65_792,
    "post_quant_conv": 65_792,
    "feature_dis": 44_717_120,
    "au_dis": 44_710_976,
}


def test_parameter_counts_equal_the_releases_forward_used_parameters():
    with torch.device("meta"):
        m = CDAN()
    assert {name: count(getattr(m, name)) for name in USES} == USES
    instantiated = 28_559_232 + 40_326_915 + 36_531_302 + 2 * 65_792
    assert instantiated - sum(USES[k] for k in ("encoder", "colour_decoder", "mask_decoder", "quant_conv",
                                                "post_quant_conv")) == 15_208_323


def _tiny_cfg(**kw) -> CDANConfig:
    return make_config("cdan", "tiny", [f"model.{k}={v}" for k, v in kw.items()]).model


def test_official_forward_matches_the_fixture():
    torch.manual_seed(0)
    conv = convert(official_state_dict("cdan"))
    assert len(conv.unused) == 11 and len(conv.lpips) == 31  # 13 VGG convs + 5 heads (+ 2 kept buffers)
    dropped = {r.key for r in read_keys("cdan") if not r.used and not r.key.startswith("perceptual_loss.")}
    assert set(conv.unused) == dropped
    m = CDAN()
    m.load_state_dict(conv.state_dict)
    m.eval()
    x = torch.from_numpy(arrays("cdan", "inputs")["x"])
    ref = arrays("cdan", "outputs")
    with torch.no_grad():
        out = m.parse(x)
        h = m.quant_conv(m.encoder(x))
        got = {
            "h_quant": h, **out,
            "feature_dis_x": m.feature_dis(x), "AU_dis_x": m.au_dis(x),
            "feature_dis_xrec": m.feature_dis(out["xrec"]), "AU_dis_mask_input": m.au_dis(out["mask_input"]),
        }
    for k, v in ref.items():
        assert got[k].shape == v.shape, k
        torch.testing.assert_close(got[k], torch.from_numpy(v), atol=1e-4, rtol=0, msg=k)


def test_a_release_lacking_keys_lists_them():
    sd = official_state_dict("cdan")
    for k in ("decoder2.attn.conv1.weight", "AU_dis.aus_top.weight", "encoder.conv_in.bias"):
        del sd[k]
    with pytest.raises(GenferError) as e:
        convert(sd, source="CDAN.pth")
    msg = str(e.value)
    assert "3 key(s)" in msg
    for k in ("decoder2.attn.conv1.weight", "AU_dis.aus_top.weight", "encoder.conv_in.bias"):
        assert k in msg


def test_sizes_whose_bottleneck_is_a_multiple_of_7_work_others_are_rejected():
    for size in (56, 112):
        m = CDAN(_tiny_cfg(image_size=size)).eval()
        out = m.parse_images(torch.randint(0, 256, (2, 3, size, size), dtype=torch.uint8))
        assert out["xrec"].shape == (2, 3, size, size) and out["mask_map"].shape == (2, 1, size, size)
    for size in (64, 96, 120):
        with pytest.raises(ValueError, match="multiple of 56"):
            _tiny_cfg(image_size=size)


def test_sea_fills_each_patch_with_its_pooled_values():
    sea = SEA()
    with torch.no_grad():
        sea.conv1.weight.zero_()
        sea.conv1.weight[0, 0, 3, 3] = 1.0  # pass the patch-mean map through
    x = torch.rand(1, 4, 14, 14)
    y = sea(x)
    gate = y / x
    patch_mean = x.mean(1)[0, :7, :7].mean()
    torch.testing.assert_close(gate[0, 0, :7, :7], torch.sigmoid(patch_mean).expand(7, 7))
    with pytest.raises(ValueError, match="multiple"):
        sea(torch.rand(1, 4, 12, 12))


def test_losses_follow_the_released_formulas():
    torch.manual_seed(0)
    m = CDAN(_tiny_cfg()).train()
    x = torch.randint(0, 256, (2, 3, 56, 56), dtype=torch.uint8)
    aus = torch.rand(2, 17) * 5
    batch = m.prepare({"image": x, "aus": aus})
    cache: dict = {}
    d = m.training_step(batch, "D", cache)
    g = m.training_step(batch, "G", cache)
    out = cache["out"]
    xf = x.float() / 255
    au = aus[:, [0, 2, 4, 8, 10, 14]] / 5
    with torch.no_grad():
        real, fake = m.feature_dis(xf), m.feature_dis(out["xrec"])
        d_ref = 0.1 * 0.5 * (F.relu(1 - real).mean() + F.relu(1 + fake).mean()) + F.mse_loss(m.au_dis(xf), au)
        mi = out["mask_input"]
        tv = (((mi[:, :, 1:] - mi[:, :, :-1]) ** 2).mean() + ((mi[..., 1:] - mi[..., :-1]) ** 2).mean()) / 2
        g_ref = (0.3 * F.l1_loss(out["xrec"], xf) + 0.3 * F.relu(1 - fake).mean()
                 + F.mse_loss(m.au_dis(mi), au) + 2e-5 * tv + 0.1 * mi.mean())
    torch.testing.assert_close(d.loss.detach(), d_ref)
    torch.testing.assert_close(g.loss.detach(), g_ref)
    torch.testing.assert_close(cdan_tv(mi.detach()), tv)


def test_au_fill_mean_shows_a_the_image_mean_where_the_mask_drops_the_face():
    x = torch.rand(2, 3, 56, 56)
    m = torch.zeros(2, 1, 56, 56)
    m[..., :28] = 1  # keeps the left half
    out = {"mask_input": m * x, "mask_map": m}
    assert torch.equal(CDAN(_tiny_cfg()).au_input(x, out), m * x)  # the release: black where M is 0
    seen = CDAN(_tiny_cfg(au_fill="mean")).au_input(x, out)
    torch.testing.assert_close(seen[..., :28], x[..., :28])
    torch.testing.assert_close(seen[..., 28:], x.mean((2, 3), keepdim=True).expand(-1, -1, 56, 28))
    with pytest.raises(ValueError, match="au_fill"):
        CDANConfig(au_fill="grey")


def test_schedule_and_the_faithful_switch():
    m = CDAN(_tiny_cfg())
    assert [m.phases(s) for s in range(3)] == [["D", "G"], ["D"], ["D", "G"]]
    assert set(m.groups()) == {"D", "G"}
    f = CDAN(_tiny_cfg(faithful=True))
    assert [f.phases(s) for s in range(3)] == [["G"], [], ["G"]]
    assert set(f.groups()) == {"G"}
    assert not any(p.requires_grad for p in f.feature_dis.parameters())
    batch = f.prepare({"image": torch.randint(0, 256, (2, 3, 56, 56), dtype=torch.uint8), "aus": torch.rand(2, 17)})
    f.training_step(batch, "G", {}).loss.backward()
    assert all(p.grad is None for p in f.au_dis.parameters())
    assert f.encoder.conv_in.weight.grad is not None


def test_au_warmup_trains_a_alone_on_real_faces_before_the_released_schedule():
    torch.manual_seed(0)
    m = CDAN(_tiny_cfg(au_warmup_steps=2)).train()
    assert [m.phases(s) for s in range(4)] == [["D:au"], ["D:au"], ["D", "G"], ["D"]]
    x = torch.randint(0, 256, (2, 3, 56, 56), dtype=torch.uint8)
    aus = torch.rand(2, 17) * 5
    cache: dict = {}
    out = m.training_step(m.prepare({"image": x, "aus": aus}), "D:au", cache)
    out.loss.backward()
    with torch.no_grad():
        ref = F.mse_loss(m.au_dis(x.float() / 255), aus[:, [0, 2, 4, 8, 10, 14]] / 5)
    torch.testing.assert_close(out.loss.detach(), ref)
    assert "out" not in cache  # no generator forward
    assert all(p.grad is not None for p in m.au_dis.parameters())
    assert all(p.grad is None for mod in (m.feature_dis, *m.generator()) for p in mod.parameters())
    with pytest.raises(ValueError, match="faithful"):
        CDANConfig(au_warmup_steps=5, faithful=True)


def test_an_iteration_without_g_builds_no_generator_graph():
    m = CDAN(_tiny_cfg()).train()  # g_every 2
    batch = m.prepare({"image": torch.randint(0, 256, (2, 3, 56, 56), dtype=torch.uint8), "aus": torch.rand(2, 17)})
    graphs = {}
    for step in (0, 1):
        cache = {"step": step}
        m.training_step(batch, "D", cache).loss.backward()
        graphs[step] = cache["out"]["xrec"].requires_grad
    assert graphs == {0: True, 1: False}


def test_lpips_weight_without_weights_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("GENFER_CACHE", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("GENFER_LPIPS_VGG", str(tmp_path / "none.pth"))
    m = CDAN(_tiny_cfg(lpips_weight=1.0))
    m.load_pretrained()  # inference needs no LPIPS: no error here
    batch = m.prepare({"image": torch.randint(0, 256, (2, 3, 56, 56), dtype=torch.uint8), "aus": torch.rand(2, 17)})
    with pytest.raises(FileNotFoundError, match="lpips_weight=0"):
        m.training_step(batch, "G", {})


def test_lpips_from_a_released_checkpoint(tmp_path):
    from genfer.models.cdan import lpips_from_release

    sd = official_state_dict("cdan")
    net = lpips_from_release(sd)
    assert torch.equal(net.features[28].weight, sd["perceptual_loss.net.slice5.28.weight"])
    assert torch.equal(net.lin4.model[1].weight, sd["perceptual_loss.lin4.model.1.weight"])
    x = torch.rand(1, 3, 32, 32)
    assert float(net(x, x, (0, 1))) == 0.0
