"""JESRL: the released networks (parameter counts, the official forward), its losses and schedule,
the synthesis, and the clear errors on bad input."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
from official import arrays, official_state_dict
from safetensors.torch import load_file

from genfer.core.config import make_config
from genfer.core.errors import GenferError
from genfer.data.batches import RecogniserBatches
from genfer.data.tensors import TensorSet
from genfer.engine import checkpoint as ck
from genfer.engine.trainer import Trainer, train
from genfer.models.jesrl import JESRL
from genfer.models.jesrl.config import JESRLConfig
from genfer.models.jesrl.method import bce_logits_noisy, forward_g
from genfer.models.jesrl.networks import (
    Discriminator,
    Encoder,
    LabelDecoder,
    Normalization,
    VGGFx,
    chunk_bounds,
    swap_labels,
    swap_latents,
)
from genfer.models.layers.vgg import perceptual_slice, vgg19_bn_features


def _count(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_parameter_counts_equal_the_release():
    enc, dec = Encoder(), LabelDecoder()
    d1, d2 = Discriminator(6, 256), Discriminator(6, 128)
    counts = [_count(m) for m in (enc, dec, d1, d2)]
    assert counts == [3_910_794, 6_822_539, 1_685_513, 1_587_209]
    assert sum(counts) == 14_006_055
    assert _count(perceptual_slice(vgg19_bn_features())) == 3_509_568
    assert _count(vgg19_bn_features()) == 20_035_392


def test_vgg_fx_parameter_count_and_keys_equal_the_release():
    rec = VGGFx(6)
    assert _count(rec) == 140_130_632
    sd = rec.state_dict()
    assert len(sd) == 122
    assert sd["fx_linear.0.weight"].shape == (512, 1024, 1, 1) and sd["classifier.0.weight"].shape == (4096, 25088)


def test_chunks_and_label_swap_follow_the_release():
    assert chunk_bounds(512, 6) == [0, 85, 171, 256, 341, 427, 512]
    za, zb = torch.zeros(2, 512, 1, 1), torch.ones(2, 512, 1, 1)
    i, j = torch.tensor([2, 2]), torch.tensor([5, 0])
    zc, zd = swap_latents(za, zb, i, j, 6)
    assert zc[0, 171:256].eq(1).all() and zc[0, 427:].eq(1).all() and zc[0, :171].eq(0).all()
    assert zc[1, :85].eq(1).all() and zc[1, 85:171].eq(0).all()
    assert torch.equal(zd, 1 - zc)
    ya, yb = torch.eye(6)[i], torch.eye(6)[j]
    yc, yd = swap_labels(ya, yb, i, j)
    assert torch.equal(yc, yb) and torch.equal(yd, ya)  # i != j: the labels trade places
    tiled = LabelDecoder(label_length=6, label_copy=20).tile(torch.eye(6)[[1]])
    assert tiled.shape == (1, 120) and tiled[0, 1::6].eq(1).all() and tiled.sum() == 20


@pytest.fixture(scope="module")
def official():
    """The official networks' outputs under the fixture weights, computed by genfer."""
    torch.manual_seed(0)
    nets = {"Enc": Encoder(), "Dec": LabelDecoder(), "D1": Discriminator(6, 256), "D2": Discriminator(6, 128),
            "VGG_fx": VGGFx(6)}
    for name, net in nets.items():
        net.load_state_dict(official_state_dict("jesrl", name), strict=True)
        net.eval()
    x, want = arrays("jesrl", "inputs"), arrays("jesrl", "outputs")
    a, b = torch.from_numpy(x["A"]), torch.from_numpy(x["B"])
    i = torch.full((2,), int(x["attribute_id"]), dtype=torch.long)
    j = torch.from_numpy(x["attribute_y_B"]).long()
    y_a, y_b = torch.from_numpy(x["y_A"]), torch.from_numpy(x["y_B"])
    # the fixture was computed on torch's reference (non-oneDNN) convolution path; oneDNN rounds
    # the deep VGG features differently by ~2e-6, which would blur the 1e-6 tolerance
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's note on TF32 when the oneDNN flags change
        torch.backends.mkldnn.enabled = False
        g = forward_g(nets["Enc"], nets["Dec"], a, b, i, j, 6, alpha5=True)
        y_c, y_d = swap_labels(y_a, y_b, i, j)
        got = {k: g[k] for k in ("z_A", "z_B", "z_C", "z_D", "R_A", "R_C", "R_D", "label_A_tiled", "label_C_tiled")}
        got.update(y_C=y_c, y_D=y_d)
        for d in ("d1", "d2"):
            net = nets[d.upper()]
            got[f"{d}_A"], got[f"{d}_B"] = net(a, y_a), net(b, y_b)
            got[f"{d}_C"], got[f"{d}_D"] = net(g["C"], y_c), net(g["D"], y_d)
            got[f"{d}_C_5"], got[f"{d}_D_5"] = net(g["C_5"], y_c), net(g["D_5"], y_d)
        got["vgg_features_A"] = nets["VGG_fx"].features(a)
        got["vgg_logits_A"] = nets["VGG_fx"](a, torch.from_numpy(x["vgg_fx_in"]))
        fx_in = torch.cat((g["z_A"], g["z_A"]), 1)
        torch.backends.mkldnn.enabled = True
    return got, want, x, fx_in


def test_official_forward_matches(official):
    got, want, _, _ = official
    assert set(want) <= set(got)
    for k, ref in want.items():
        atol = 1e-5 if k.startswith("R_") else 1e-6
        np.testing.assert_allclose(got[k].numpy(), ref, rtol=0, atol=atol, err_msg=k)


def test_official_fixture_is_discriminative(official):
    """The tolerance means something: the swap changes R and the images change the features by far more."""
    got, want, x, fx_in = official
    assert float((got["R_C"] - got["R_A"]).abs().max()) > 100 * 1e-5
    assert float(np.abs(want["vgg_features_A"][0] - want["vgg_features_A"][1]).max()) > 1e-3
    np.testing.assert_allclose(fx_in.numpy(), x["vgg_fx_in"], rtol=0, atol=1e-6)


def test_bce_on_logits_equals_bce_on_probabilities_for_noisy_targets():
    logits = torch.randn(50, 1)
    t = torch.randn(50, 1) * 0.2 + 1  # some targets above 1, as N(1, 0.2) gives
    p = torch.sigmoid(logits)
    ref = -(t * p.log() + (1 - t) * (1 - p).log())
    torch.testing.assert_close(bce_logits_noisy(logits, t), ref, rtol=1e-5, atol=1e-5)


def _tiny(*over: str) -> tuple[JESRL, object]:
    cfg = make_config("jesrl", "tiny", list(over))
    torch.manual_seed(0)
    return JESRL(cfg.model), cfg


def _pair_batch(m: JESRL, b: int = 4) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    s = m.cfg.image_size
    img = lambda: torch.randint(0, 256, (b, 3, s, s), dtype=torch.uint8, generator=g)  # noqa: E731
    batch = {"x_a": img(), "x_b": img(), "y_a": torch.tensor([0, 1, 2, 3]), "y_b": torch.tensor([1, 1, 0, 6])}
    return m.prepare(batch)


def test_tv_term_has_a_gradient_unless_faithful():
    for faithful, expect in ((False, True), (True, False)):
        m, _ = _tiny(f"model.faithful={str(faithful).lower()}", "model.lambda_vgg=0")
        batch = _pair_batch(m)
        g = m._gan_forward(batch, {})
        cd = torch.cat((g["C"], g["D"]))
        from genfer.losses.tv import total_variation_l1

        tv = total_variation_l1(cd.detach() if faithful else cd)
        assert tv.requires_grad is expect


@pytest.mark.parametrize("channels_last", [True, False])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])  # fp32 channels-last: the batched dot
@pytest.mark.parametrize("activation", [None, "relu", "leaky_relu"])
def test_normalization_gradients_equal_autograd_of_the_released_formula(channels_last, dtype, activation):
    """The fused norm (+ activation) functions keep less for the backward (the leaky ReLU's recovers
    the normalised map from its output); the gradients are the release's graph's."""
    torch.manual_seed(0)
    x = torch.randn(2, 5, 3, 4, dtype=dtype)
    x[0, :, 1, 2] = 0  # a pixel whose norm is clamped at eps
    g = torch.randn(2, 5, 3, 4, dtype=dtype)
    if channels_last:
        x, g = (t.contiguous(memory_format=torch.channels_last) for t in (x, g))
    norm = Normalization(activation).to(dtype)
    with torch.no_grad():
        norm.alpha.fill_(1.7)
        norm.beta.fill_(-0.3)
    ref = [t.detach().clone().requires_grad_() for t in (x, norm.alpha, norm.beta)]
    x.requires_grad_()
    out = norm(x)
    out_ref = torch.nn.functional.normalize(ref[0], dim=1) * ref[1] + ref[2]  # the release's graph
    if activation is not None:
        out_ref = torch.relu(out_ref) if activation == "relu" else torch.nn.functional.leaky_relu(out_ref, 0.2)
    torch.testing.assert_close(out, out_ref)
    got = torch.autograd.grad(out, (x, norm.alpha, norm.beta), g)
    want = torch.autograd.grad(out_ref, ref, g)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("channels_last", [True, False])
def test_decoder_and_discriminators_keep_the_input_layout(channels_last):
    # the decoder's input (a cat with broadcast label maps, at a 1-pixel side) comes out NCHW; it
    # must follow the skips, or the decoder and D run NCHW whatever the setting
    m, _ = _tiny(f"model.channels_last={str(channels_last).lower()}")
    seen: dict[str, bool] = {}

    def record(name):
        def hook(_mod, inp, _out):
            x = inp[0]
            if x.shape[-1] > 2:  # at a 1-2 px side either layout may come out, at no cost
                seen[name] = x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
        return hook

    for name, mod in m.named_modules():
        if isinstance(mod, Normalization) and name.split(".")[0] in ("Enc", "Dec", "D1", "D2"):
            mod.register_forward_hook(record(name))
    g = m._gan_forward(_pair_batch(m), {})
    m._step_d(g)
    assert {k.split(".")[0] for k in seen} == {"Enc", "Dec", "D1", "D2"}
    assert set(seen.values()) == {channels_last}, seen


def test_mismatch_negatives_show_d_the_reals_under_wrong_labels():
    for on in (False, True):
        m, _ = _tiny(f"model.mismatch_negatives={str(on).lower()}")
        batch, seen = _pair_batch(m), []
        m.D1.logits = lambda x, y, f=m.D1.logits, s=seen: s.append((x, y)) or f(x, y)
        g = m._gan_forward(batch, {})
        m._step_d(g)
        x, y = seen[0]
        n = g["A"].shape[0]
        fakes = 4 if m.cfg.alpha5 else 2
        assert x.shape[0] == (2 + fakes + 2 * on) * n
        if on:  # the last 2n rows: A and B again, each under a one-hot label other than its own
            assert torch.equal(x[-2 * n:], torch.cat((g["A"], g["B"])))
            own = torch.cat((g["y_A"], g["y_B"]))
            wrong = y[-2 * n:]
            assert torch.all(wrong.sum(1) == 1) and not torch.any((wrong * own).sum(1) > 0)


def test_projection_discriminator_adds_the_label_embeddings_inner_product():
    torch.manual_seed(0)
    plain = Discriminator(3, 16, 3, (4, 8))
    assert plain.embed is None and not any(k.startswith("embed") for k in plain.state_dict())  # release keys
    d = Discriminator(3, 16, 3, (4, 8), projection=True)
    d.load_state_dict(plain.state_dict(), strict=False)
    x, y = torch.randn(2, 3, 16, 16), torch.eye(3)[[0, 2]]
    h = d.conv(torch.cat((x, y[:, :, None, None].expand(-1, -1, 16, 16)), 1)).flatten(1)
    want = plain.logits(x, y) + (h * (y @ d.embed.weight.t())).sum(1, keepdim=True)
    torch.testing.assert_close(d.logits(x, y), want)
    d.logits(x, y).sum().backward()
    assert d.embed.weight.grad.abs().sum() > 0
    m, _ = _tiny("model.d_projection=true")
    assert m.D1.embed is not None and m.D2.embed is not None


def test_cls_term_is_the_perceptual_nets_cross_entropy_on_the_swaps():
    off, _ = _tiny("model.lambda_vgg=0")
    assert "cls" not in off.training_step(_pair_batch(off), "G", {}).terms
    m, _ = _tiny("model.lambda_vgg=0", "model.lambda_cls=2")
    batch, cache = _pair_batch(m), {}
    m.train()
    out = m.training_step(batch, "G", cache)
    assert m.P.training  # its train/eval mode is put back
    g = cache["gan"]
    m.P.eval()
    with torch.no_grad():  # C wears B's expression, D wears A's
        logits = m.P(torch.cat((g["C"], g["D"])))
        want = torch.nn.functional.cross_entropy(logits, torch.cat((batch["y_b"], batch["y_a"])))
    assert float(out.terms["cls"]) == pytest.approx(float(want), rel=1e-5)
    out.loss.backward()
    assert any(p.grad is not None for p in m.Dec.parameters())  # G learns from it
    assert all(p.grad is None for p in m.P.parameters())  # P stays fixed


def test_discriminator_is_skipped_while_the_g_loss_is_high():
    m, _ = _tiny()
    assert "D" in m.phases(0)
    m.last_loss_g.fill_(22.0)
    assert m.phases(1) == ["P", "G", "R"]
    out = m.training_step(_pair_batch(m), "G", {})
    assert float(m.last_loss_g) == pytest.approx(float(out.loss.detach()))


def test_stages_alternate_gan_and_recogniser_with_their_optimizers():
    m, _ = _tiny("model.rounds=3", "model.gan_epoch_steps=7", "model.gan_epochs=5")
    st = m.stages()
    assert [s.name for s in st] == ["perceptual", "gan_0", "recogniser_0", "gan_1", "recogniser_1", "gan_2",
                                     "recogniser_2"]
    assert st[1].steps == 35 and st[1].optimizer == "adam" and st[1].options["weight_decay"] == 1e-5
    assert st[2].optimizer == "sgd" and st[2].options["momentum"] == 0.9 and st[2].options["weight_decay"] == 5e-4
    assert st[3].schedule_offset == 35 and st[3].schedule == "steplr" and st[3].options["step_size"] == 300
    faithful, _ = _tiny("model.faithful=true", "model.gan_epoch_steps=7", "model.gan_epochs=5")
    assert faithful.stages()[1].steps == 5  # one iteration per "epoch", as released
    assert st[0].optimizer == "sgd" and st[0].options["momentum"] == 0.9
    adam, _ = _tiny("model.perceptual_optim=adam")
    p = adam.stages()[0]
    assert p.optimizer == "adam" and p.options["weight_decay"] == 0.0 and p.options["betas"] == (0.9, 0.999)
    r = _tiny("model.rec_optim=adam")[0].stages()[2]
    assert r.optimizer == "adam" and r.options["weight_decay"] == 0.0 and r.options["step_size"] == 1800
    for name in ("perceptual_optim", "rec_optim", "perceptual_schedule"):
        with pytest.raises(ValueError, match=name):
            JESRLConfig(**{name: "lbfgs"}, enc_widths=(4, 8, 8, 16, 16), dec_widths=(16, 8, 8, 4), vgg_width=32)
    assert _tiny()[0].stages()[0].schedule == "steplr"
    assert _tiny("model.perceptual_schedule=cosine")[0].stages()[0].schedule == "cosine"


def test_recogniser_stage_adopts_the_averaged_generator(tiny_cfg):
    t = Trainer(tiny_cfg("jesrl", "train.ema=0.5", "train.max_steps=5", "train.name=ema"))
    assert t.method.ema_modules() == ["Enc", "Dec"]
    t.fit(stop_after=2)  # perceptual, gan_0
    shadow = {k: v.clone() for k, v in t.ema.state_dict().items()}
    live = {f"Enc.{k}": v for k, v in t.method.Enc.state_dict().items()}
    assert any(not torch.equal(live[k], shadow[k]) for k in live)  # G moved; its average lags
    t.fit(stop_after=1)  # recogniser_0 begins on the average, and its fx come from it
    for net in ("Enc", "Dec"):
        for k, v in getattr(t.method, net).state_dict().items():
            assert torch.equal(v, shadow[f"{net}.{k}"]), k
    assert all(torch.equal(v, shadow[k]) for k, v in t.ema.state_dict().items())


def test_resuming_inside_a_recogniser_stage_with_ema_equals_a_straight_run(tiny_cfg):
    common = ["train.ema=0.5", "train.max_steps=5", "train.ckpt_every=1", "model.rec_epoch_steps=2"]
    straight = train(tiny_cfg("jesrl", *common, "train.name=straight"))
    t = Trainer(tiny_cfg("jesrl", *common, "train.name=cut"))
    t.fit(stop_after=3)  # perceptual, gan_0, then one of recogniser_0's two steps
    train(tiny_cfg("jesrl", *common, "train.name=cut"), resume=t.run_dir)  # re-enters recogniser_0
    for f in (ck.MODEL_FILE, ck.EMA_FILE):
        a = load_file(str(ck.resolve_checkpoint(straight, "latest") / f))
        b = load_file(str(ck.resolve_checkpoint(t.run_dir, "latest") / f))
        assert all(torch.equal(a[k], b[k]) for k in a), f


def test_vgg_hidden_zero_is_a_global_pool_head_for_both_classifiers():
    m, _ = _tiny("model.vgg_hidden=0")
    c = m.cfg
    assert isinstance(m.P.classifier, torch.nn.Identity) and isinstance(m.R.classifier, torch.nn.Identity)
    assert m.P.new_fc.in_features == m.R.new_fc.in_features == c.latent
    assert not any(k.startswith("P.classifier") or k.startswith("R.classifier") for k in m.state_dict())
    x = torch.rand(3, 3, c.image_size, c.image_size) * 2 - 1
    # logits = new_fc(the trunk's spatial mean)
    m.eval()
    assert torch.allclose(m.P(x), m.P.new_fc(m.P.features(x).mean((2, 3))), atol=1e-6)
    fx = torch.randn(3, 2 * c.latent, c.image_size // 32, c.image_size // 32)
    assert m.R(x, fx).shape == (3, c.num_classes)


def test_evaluate_reports_the_perceptual_nets_accuracy_when_genfer_trains_it():
    x = torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8)
    y = torch.tensor([0, 1, 2, 3, 4, 9])  # 9: outside the classes, skipped
    for steps in (0, 5):
        m, _ = _tiny(f"model.perceptual_steps={steps}", "model.vgg_hidden=0")
        out = m.evaluate([{"image": x, "expression": y}])
        assert ("P_acc" in out) == (steps > 0)
    # P reads every kept image as class 2: one of the five is right
    with torch.no_grad():
        m.P.new_fc.weight.zero_()
        m.P.new_fc.bias.copy_(torch.arange(m.cfg.num_classes) == 2)
    assert m.evaluate([{"image": x, "expression": y}])["P_acc"] == pytest.approx(1 / 5)


def test_curriculum_adds_synthetic_batches_by_recogniser_epoch():
    real = TensorSet(torch.zeros(20, 3, 32, 32, dtype=torch.uint8), torch.arange(20) % 3, torch.arange(20))
    synth = TensorSet(torch.ones(30, 3, 32, 32, dtype=torch.uint8), torch.arange(30) % 3, torch.full((30,), -1))
    fx = torch.randn(30, 32, 1, 1)
    rb = RecogniserBatches(real, synth, fx, 4, 32, 0, start=100, epoch_steps=5, epoch_offset=8,
                           curriculum=((0, 1), (10, 2), (20, 3), (30, 6)))
    cpu = torch.device("cpu")
    assert rb.get(100, cpu)["x_syn"].shape[0] == 4  # epoch 8
    assert rb.get(110, cpu)["x_syn"].shape[0] == 8  # epoch 10
    assert rb.extra(25) == 3 and rb.extra(31) == 6
    b = rb.get(112, cpu)
    assert b["fx_syn"].shape == (8, 32, 1, 1) and torch.equal(rb.get(112, cpu)["x_real"], b["x_real"])


def test_synthesis_pairs_every_face_with_neutrals_of_other_identities(tmp_path):
    m, _ = _tiny("model.synth_neutrals=2")
    y = torch.tensor([0, 1, 2, 0, 3, 0])  # neutral = 0 (the tiny preset's canonical classes)
    ids = torch.tensor([0, 0, 1, 1, 2, 2])
    faces = TensorSet(torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8), y, ids, name="t")
    synth, fx = m.synthesise(faces, tmp_path / "s", seed=0)
    man = json.loads((tmp_path / "s" / "manifest.json").read_text())
    assert man["count"] == 12 and len(synth) == 12 and fx.shape == (12, 32, 1, 1)
    for it in man["items"]:
        assert int(y[it["neutral"]]) == 0 and int(ids[it["neutral"]]) != int(ids[it["face"]])
        assert it["label"] == int(y[it["face"]])
        if it["label"] == 0:  # a neutral face gives its neutral partner unchanged
            k = man["items"].index(it)
            assert torch.equal(synth.images[k], faces.images[it["neutral"]])
    back = m.load_synthesised(tmp_path / "s")
    assert back is not None and torch.equal(back[0].images, synth.images) and torch.equal(back[1], fx)


def test_unknown_swap_expression_is_a_clear_error():
    m, _ = _tiny()
    with pytest.raises(GenferError, match="unknown expression 'smile'.*neutral, happiness"):
        m.class_index("smile")


def test_class_list_that_does_not_match_the_data_is_a_clear_error(tmp_path):
    from genfer.engine.trainer import train

    cfg = make_config("jesrl", "tiny", ["model.classes=[disgust,scream,smile,squint,surprise,neutral]",
                                        f"train.out={tmp_path}"])
    with pytest.raises(GenferError, match="do not match model.classes"):
        train(cfg)


def test_config_rejects_inconsistent_widths():
    with pytest.raises(ValueError, match="dec_widths"):
        JESRLConfig(enc_widths=(4, 8, 8, 16, 16), dec_widths=(16, 8, 8, 8), vgg_width=32)
    with pytest.raises(ValueError, match="vgg_width"):
        JESRLConfig(enc_widths=(4, 8, 8, 16, 16), dec_widths=(16, 8, 8, 4), vgg_width=1)


def test_swap_only_decodes_the_same_c_and_d_as_the_full_forward():
    m, _ = _tiny()
    m.eval()
    b = _pair_batch(m)
    i, j = b["y_a"], b["y_b"]
    with torch.no_grad():
        full = forward_g(m.Enc, m.Dec, b["x_a"], b["x_b"], i, j, 7, alpha5=True)
        only = forward_g(m.Enc, m.Dec, b["x_a"], b["x_b"], i, j, 7, swap_only=True)
    assert set(only) >= {"C", "D", "R_C", "R_D"} and "A1" not in only
    torch.testing.assert_close(only["C"], full["C"], rtol=0, atol=1e-6)
    torch.testing.assert_close(only["D"], full["D"], rtol=0, atol=1e-6)


def test_inference_without_a_graph_computes_what_training_computes():
    # without autograd the norms overwrite their conv's output and the skips are added in place
    m, _ = _tiny()
    b = _pair_batch(m)
    i, j = b["y_a"], b["y_b"]
    with torch.no_grad():
        fast = forward_g(m.Enc, m.Dec, b["x_a"], b["x_b"], i, j, 7, alpha5=True)
        p_fast = m.D1(fast["C"], torch.eye(7)[j])
    graph = forward_g(m.Enc, m.Dec, b["x_a"], b["x_b"], i, j, 7, alpha5=True)
    p_graph = m.D1(graph["C"], torch.eye(7)[j])
    for k in ("C", "D", "A1", "C_5"):
        torch.testing.assert_close(fast[k], graph[k].detach(), rtol=0, atol=1e-6)
    torch.testing.assert_close(p_fast, p_graph.detach(), rtol=0, atol=1e-6)
    x = torch.randn(2, 4, 3, 3)
    y = x.clone()
    with torch.no_grad():  # a Normalization built without overwrite_input leaves its input alone
        Normalization("relu")(y)
    assert torch.equal(y, x)


def test_shared_skips_get_the_summed_gradient_in_their_layout():
    # three decodes of the same two faces share the skips: each skip's gradient is the sum of the
    # three decodes', handed back channels-last (autograd's broadcast reduction returns NCHW)
    torch.manual_seed(0)
    dec = LabelDecoder(latent=8, label_length=3, label_copy=2, widths=(8, 6, 4, 4))
    cl = torch.channels_last
    sizes = ((4, 16), (4, 8), (6, 4), (8, 2))
    skips = [torch.randn(2, c, s, s).contiguous(memory_format=cl).requires_grad_() for c, s in sizes]
    z, lab = torch.randn(6, 8, 1, 1), torch.randn(6, 6)
    w = torch.randn(6, 3, 32, 32)
    (dec(z, z, lab, skips) * w).sum().backward()
    shared = [s.grad for s in skips]
    for s in skips:
        s.grad = None
    (dec(z, z, lab, [s.repeat(3, 1, 1, 1) for s in skips]) * w).sum().backward()
    for g, s in zip(shared, skips, strict=True):
        torch.testing.assert_close(g, s.grad)
        assert g.is_contiguous(memory_format=cl)


def test_distinct_pairs_repair_pairs_that_share_their_expression():
    from genfer.models.jesrl.method import distinct_partners

    g = torch.Generator().manual_seed(0)
    for _ in range(200):
        ya, yb = torch.randint(0, 4, (6,), generator=g), torch.randint(0, 4, (6,), generator=g)
        ia = torch.randint(0, 5, (6,), generator=g)
        ib = (ia + torch.randint(1, 5, (6,), generator=g)) % 5
        p = distinct_partners(ya, yb, ia, ib)
        assert sorted(p.tolist()) == list(range(6)) and bool((ia != ib[p]).all())
        fixable = any(bool(ya[r] != yb[k]) for r in range(6) for k in range(6))
        assert not fixable or int((ya == yb[p]).sum()) <= int((ya == yb).sum())
    # a batch where every re-pairing is possible ends with no shared expression
    ya, yb, ia, ib = (torch.tensor(v) for v in ([0, 1, 2, 3], [1, 1, 0, 6], [0, 1, 2, 3], [4, 5, 6, 7]))
    p = distinct_partners(ya, yb, ia, ib)
    assert not bool((ya == yb[p]).any())
    for on in (False, True):
        m, _ = _tiny(f"model.distinct_pairs={str(on).lower()}")
        batch = _pair_batch(m) | {"id_a": ia, "id_b": ib}
        out = m._gan_forward(batch, {})
        j = out["y_B"].argmax(1)
        assert bool((ya == j).any()) != on
        assert torch.equal(out["B"], batch["x_b"][p] if on else batch["x_b"])


def _multipie_tree(root, missing: bool = False):
    """JESRL's Multi-PIE layout: images.list + align_5p/, 2 faces per class, no identities."""
    from genfer.core.imaging import save_image

    (root / "align_5p").mkdir(parents=True)
    g = torch.Generator().manual_seed(0)
    lines = []
    for split, per in (("train", 2), ("test", 1)):
        for label in range(6):
            for k in range(per):
                name = f"{split}_{label}{k}.png"
                lines.append(f"{name} {label}")
                save_image(torch.rand(3, 32, 32, generator=g), root / "align_5p" / name)
    if missing:
        lines.append("train_99.png 5")
    (root / "images.list").write_text("\n".join(lines) + "\n")


def test_multipie_as_released_trains_with_its_six_native_classes(tmp_path):
    from genfer.engine.trainer import train

    _multipie_tree(tmp_path / "multipie")
    spec = f"multipie:{tmp_path / 'multipie'}?labels=native"
    six = "model.classes=[disgust,scream,smile,squint,surprise,neutral]"
    cfg = make_config("jesrl", "tiny", [six, f"data.expressions={spec}", f"train.out={tmp_path / 'runs'}",
                                        "train.max_steps=3", "model.rounds=1", "train.progress=false"])
    run = train(cfg)
    man = json.loads((run / "synth" / "recogniser_0" / "manifest.json").read_text())
    assert man["classes"][0] == "disgust" and man["count"] == 12  # 12 faces x 1 neutral partner
    # the canonical labels of the same data are not the six classes: a clear error
    bad = make_config("jesrl", "tiny", [six, f"data.expressions=multipie:{tmp_path / 'multipie'}",
                                        f"train.out={tmp_path / 'runs'}", "train.name=bad"])
    with pytest.raises(GenferError, match="do not match model.classes"):
        train(bad)


def test_a_list_naming_a_missing_file_is_a_clear_error(tmp_path):
    from genfer.data.base import DatasetIndexError
    from genfer.data.specs import open_dataset

    _multipie_tree(tmp_path / "mp", missing=True)
    with pytest.raises(DatasetIndexError, match=r"images\.list:19: image .*train_99\.png not found"):
        open_dataset(f"multipie:{tmp_path / 'mp'}?labels=native")


def test_items_without_identity_become_identities_of_their_own():
    from genfer.data.kinds import other_identity, own_identities

    ids = own_identities(torch.tensor([-1, -1, 3, -1, 3]))
    assert ids.tolist() == [4, 5, 3, 6, 3]
    partner = other_identity(ids, torch.arange(5), torch.rand(5))
    assert (ids[partner] != ids).all()


@pytest.mark.parametrize("preset", ["tiny", "released", "synthface"])
def test_presets_cover_their_stages(preset):
    cfg = make_config("jesrl", preset)
    total = sum(s.steps for s in JESRL.stages(_StagesOnly(cfg.model)))
    assert total == cfg.train.max_steps
    if cfg.train.ema > 0:  # the average starts with the GAN, not from the untrained generator
        assert cfg.train.ema_start == cfg.model.perceptual_steps


class _StagesOnly:
    """The bits of a JESRL that ``stages`` reads, without building the networks."""

    def __init__(self, cfg):
        self.cfg = cfg

    def gan_steps(self):
        return JESRL.gan_steps(self)

    def rec_steps(self):
        return JESRL.rec_steps(self)
