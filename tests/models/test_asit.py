"""ASIT on its tiny preset: the losses, the critic's key net, codes, and the errors on bad input."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from genfer.core.config import make_config
from genfer.core.errors import GenferError
from genfer.losses.distribution import distribution_alignment
from genfer.models.asit import ASIT
from genfer.models.stylegan2.networks import Generator


def _method(*overrides: str) -> ASIT:
    torch.manual_seed(0)
    m = ASIT(make_config("asit", "tiny", list(overrides)).model)
    m.load_pretrained()
    return m


def _batch(b: int = 4) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {"image": torch.randint(0, 256, (b, 3, 64, 64), dtype=torch.uint8, generator=g)}


def test_adversarial_term_reaches_the_encoder_unless_faithful():
    for faithful in (False, True):
        m = _method("model.dist_lambda=0", "model.l2_lambda=0", "model.adv_lambda=1", f"model.faithful={faithful}")
        out = m.training_step(_batch(), "E", {})
        if faithful:  # the release computes it under no_grad: no term, no gradient
            assert "adv" not in out.terms and not out.loss.requires_grad
        else:
            out.loss.backward()
            assert out.terms["adv"] > 0
            assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in m.encoder.parameters())
            assert all(p.grad is None for p in m.critic.parameters())


def test_key_net_moves_in_the_critic_phase_only():
    m = _method()
    with torch.no_grad():
        for p in m.critic.model_q.parameters():
            p.add_(1.0)
    k0 = [p.clone() for p in m.critic.model_k.parameters()]
    x = m.prepare(_batch())["image"]
    m.critic(x, x)
    m.evaluate([_batch()])
    assert all(torch.equal(a, b) for a, b in zip(k0, m.critic.model_k.parameters()))
    m.training_step(_batch(), "D", {})
    moved = [(b - a).abs().max() for a, b in zip(k0, m.critic.model_k.parameters())]
    assert all(d == pytest.approx(1e-3, rel=1e-2) for d in moved)  # 0.001 of the +1 offset


def test_distribution_alignment_any_batch_size_and_the_release_indexing():
    torch.manual_seed(0)
    src = [torch.randn(5, 4, 8, 8) for _ in range(3)]
    tgt = [torch.randn(5, 4, 8, 8, requires_grad=True) for _ in range(3)]
    loss = distribution_alignment(src, tgt, generator=torch.Generator().manual_seed(1))
    loss.backward()
    assert loss > 0 and any(t.grad is not None and t.grad.abs().sum() > 0 for t in tgt)
    assert distribution_alignment([s[:1] for s in src], [t[:1] for t in tgt]) == 0
    # batch 2: one partner per anchor -> softmax of one value -> 0; the release's table is [3, 2] with zeros
    two = [t[:2] for t in tgt]
    assert distribution_alignment([s[:2] for s in src], two) == 0
    g = torch.Generator().manual_seed(3)
    rel = distribution_alignment([s[:2] for s in src], two, generator=g, faithful=True)
    assert torch.isfinite(rel) and rel >= 0
    same = distribution_alignment([t.detach()[:2] for t in tgt], two, generator=torch.Generator().manual_seed(3),
                                  faithful=True)
    assert same.abs() < 1e-6  # identical source and target distributions
    with pytest.raises(ValueError, match="batch of 2"):
        distribution_alignment([s[:1] for s in src], [t[:1] for t in tgt], faithful=True)


def test_invert_and_generate_with_and_without_the_structure_code():
    m = _method()
    w, s = m.invert(_batch(2)["image"])
    assert w.shape == (2, 10, 32) and s.shape == (2, 32, 4, 4)
    a, b = m.generate((w, s)), m.generate(w)
    assert a.shape == (2, 3, 64, 64) and a.min() >= 0 and a.max() <= 1
    assert not torch.allclose(a, b)
    assert torch.allclose(m.reconstruct(_batch(2)["image"]), a)
    # the engine evaluates prepared batches (to_input: [-1, 1]); uint8 batches give the same figure
    assert m.evaluate([m.prepare(_batch(2))])["mse"] == pytest.approx(m.evaluate([_batch(2)])["mse"], rel=1e-5)
    with pytest.raises(GenferError, match="takes 64x64 faces"):
        m.invert(torch.zeros(1, 3, 32, 32))


def test_decoder_files_latent_avg_and_mismatches(tmp_path):
    small = Generator(32, 32, 2, 0.25, channel_max=32)
    torch.save({"g_ema": small.state_dict()}, tmp_path / "other.pt")
    with pytest.raises(GenferError, match="does not match"):
        _method(f"model.decoder={tmp_path / 'other.pt'}")
    m0 = _method()
    torch.save({"g_ema": m0.decoder.state_dict()}, tmp_path / "g.pt")  # no latent_avg: computed and recorded
    m = _method(f"model.decoder={tmp_path / 'g.pt'}")
    assert m.latent_avg_source.startswith("computed from 256")
    asit_ckpt = {"state_dict": {f"decoder.{k}": v for k, v in m0.decoder.state_dict().items()},
                 "opts": {"output_size": 64}, "latent_avg": torch.ones(10, 32)}
    torch.save(asit_ckpt, tmp_path / "asit.pt")
    m = _method(f"model.decoder={tmp_path / 'asit.pt'}")
    assert torch.equal(m.latent_avg, torch.ones(32)) and m.latent_avg_source.startswith("from")


def test_missing_identity_weights_name_the_offline_alternative(monkeypatch):
    monkeypatch.delenv("GENFER_IR_SE50", raising=False)
    with pytest.raises(GenferError, match="face_api"):
        _method("model.id_lambda=0.1", "model.id_weights=/nonexistent/model_ir_se50.pth")


def test_d_phase_trains_the_query_net_on_real_and_reconstructed_faces():
    m = _method()
    out = m.training_step(_batch(), "D", {})
    out.loss.backward()
    assert set(out.terms) == {"d_real", "d_fake"}
    assert any(p.grad is not None for p in m.critic.model_q.parameters())
    assert all(p.grad is None for p in m.encoder.parameters())
    assert F.mse_loss(torch.zeros(1), torch.ones(1)) == 1  # LSGAN targets are +-1 on a cosine in [-1, 1]


def test_distribution_term_trains_the_encoders_auxiliary_maps():
    m = _method("model.l2_lambda=0", "model.adv_lambda=0", "model.dist_lambda=1")
    out = m.training_step(_batch(), "E", {})
    out.loss.backward()
    assert out.terms["dist"] > 0  # the target: the encoder's convs maps (anchors pick 3 random layers)
    assert any(c.weight.grad is not None and c.weight.grad.abs().sum() > 0 for c in m.encoder.convs)


def test_synthface_preset_fits_the_synthface_stylegan2():
    """The two reduced presets are one pair: ASIT's decoder settings build stylegan2/synthface64's generator."""
    a = make_config("asit", "synthface").model
    s = make_config("stylegan2", "synthface64").model
    assert (a.image_size, a.style_dim, a.dec_n_mlp, a.dec_channel_multiplier, a.dec_channel_max) == (
        s.image_size, s.style_dim, s.n_mlp, s.channel_multiplier, s.channel_max)
    g = Generator(s.image_size, s.style_dim, s.n_mlp, s.channel_multiplier, channel_max=s.channel_max)
    assert (g.n_latent, g.channels[4]) == (a.n_styles, a.struct_channels)


def test_ifer_synthface_preset_takes_every_encoder_weight_of_the_asit_one():
    """``genfer train ifer --config synthface model.init_from=<asit synthface run>`` loads the whole encoder."""
    a, f = make_config("asit", "synthface").model, make_config("ifer", "synthface").model
    assert a.encoder_kwargs() == f.encoder_kwargs()


def test_recompute_keeps_less_and_gives_the_same_gradients():
    """``model.recompute``: the encoder keeps only its blocks' and heads' inputs, and the backward's
    second forward replays stochastic depth, so the gradients equal those of the kept activations."""
    from genfer.models.asit.networks import ASITEncoder

    cfg = make_config("asit", "tiny", []).model
    torch.manual_seed(0)
    nets = [ASITEncoder(**{**cfg.encoder_kwargs(), "recompute": r}).train() for r in (False, True)]
    nets[1].load_state_dict(nets[0].state_dict())
    x = torch.randn(2, 3, 64, 64)
    grads, kept = [], []
    for net in nets:
        saved = []
        torch.manual_seed(1)  # the same drop-path draws
        with torch.autograd.graph.saved_tensors_hooks(lambda t, s=saved: s.append(t.numel()) or t, lambda t: t):
            codes, structure = net(x)
        (codes.square().sum() + structure.square().sum()).backward()
        grads.append([p.grad for p in net.parameters()])
        kept.append(sum(saved))
    assert kept[1] < kept[0] / 4
    assert sum(g is not None for g in grads[0]) > 100  # the unused feature convs get none, in both
    for a, b in zip(*grads, strict=True):
        assert (a is None and b is None) or torch.allclose(a, b, rtol=1e-5, atol=1e-6)
