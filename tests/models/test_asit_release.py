"""ASIT / IFER at the released sizes against the official fixtures (``../shared/fixtures/official/ifer``).

One release-size forward (the IFER classifier, batch 2, ``faithful``), hooked to capture its
encoder's codes and structure code, checks the encoder and the classifier; the inversion critic
is small enough to check on its own. Parameter counts come from the fixture README.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from official import arrays, official_state_dict, read_keys

from genfer.models.asit.networks import InversionCritic
from genfer.models.asit.release import drop_release_only
from genfer.models.ifer.networks import IFERClassifier
from genfer.models.stylegan2.networks import Generator

DEAD_ENCODER_PARAMS = 1_027_048  # the GC ViT's ImageNet norm + head: in every release checkpoint, never used


def _close(got: torch.Tensor, want, atol: float = 1e-4, rtol: float = 1e-5) -> None:
    want = torch.as_tensor(want)
    err = (got - want).abs().max().item()
    assert torch.allclose(got, want, atol=atol, rtol=rtol), f"max |diff| {err}"


@pytest.fixture(scope="module")
def release_forward():
    """The release-size IFER classifier with the fixture's weights, run once on the fixture batch."""
    torch.manual_seed(0)
    sd = drop_release_only(official_state_dict("ifer", "ifer_model"), "feature_model.")
    net = IFERClassifier(7, faithful=True).eval()
    net.load_state_dict(sd, strict=True)
    seen = {}
    net.feature_model.register_forward_hook(lambda m, i, o: seen.update(codes=o[0], structure=o[1]))
    x = torch.from_numpy(arrays("ifer", "inputs")["x"])
    with torch.no_grad():
        logits = net(x)
    return net, seen["codes"], seen["structure"], logits


def test_encoder_matches_the_official_codes_and_structure(release_forward):
    _, codes, structure, _ = release_forward
    out = arrays("ifer", "outputs")
    _close(codes, out["codes"])
    _close(structure, out["structure"])


def test_ifer_classifier_matches_the_official_logits(release_forward):
    _close(release_forward[3], arrays("ifer", "outputs")["ifer_logits"])


def test_parameter_counts_equal_the_readme(release_forward):
    net = release_forward[0]
    enc = net.feature_model
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(enc) + DEAD_ENCODER_PARAMS == 265_832_456
    assert count(enc.styles) == 170_052_640
    assert count(enc) - count(enc.styles) == 94_752_768
    assert count(net) + DEAD_ENCODER_PARAMS == 268_720_655
    assert count(net) - count(enc) == 2_888_199
    dead = sum(torch.Size(r.shape).numel() for r in read_keys("ifer", "ASIT") if r.key.startswith(("encoder.norm.",
                                                                                                     "encoder.head.")))
    assert dead == DEAD_ENCODER_PARAMS


def test_release_checkpoint_keys_load_after_dropping_dead_entries(release_forward):
    rows = [r for r in read_keys("ifer", "ASIT") if r.key.startswith("encoder.")]
    enc = release_forward[0].feature_model
    kept = drop_release_only({r.key: None for r in rows})
    assert {k.removeprefix("encoder.") for k in kept} == set(enc.state_dict())
    shapes = {r.key.removeprefix("encoder."): r.shape for r in rows}
    assert all(tuple(v.shape) == shapes[k] for k, v in enc.state_dict().items())


def test_asit_decodes_the_codes_with_and_without_the_structure_code(release_forward):
    _, codes, structure, _ = release_forward
    dec = Generator(256).eval()
    keep = {f"decoder.{k}": v for k, v in dec.state_dict().items() if k.endswith("kernel")}
    sd = official_state_dict("ifer", "ASIT", keep=keep)
    dec.load_state_dict({k.removeprefix("decoder."): v for k, v in sd.items() if k.startswith("decoder.")})
    inp, out = arrays("ifer", "inputs"), arrays("ifer", "outputs")
    w = codes + torch.from_numpy(inp["latent_avg"])
    _close(w, out["asit_latent"])
    with torch.no_grad():
        img_struct, _ = dec([w], constant=structure, input_is_latent=True, randomize_noise=False)
        img_const, _ = dec([w], input_is_latent=True, randomize_noise=False)
    _close(img_struct, out["asit_img_struct"], 2e-3, 1e-4)
    _close(img_const, out["asit_img_const"], 2e-3, 1e-4)


def test_critic_matches_the_official_discriminator():
    critic = InversionCritic().eval()
    keep = {k: v for k, v in critic.state_dict().items() if k.endswith("kernel")}
    critic.load_state_dict(official_state_dict("ifer", "Discriminator", keep=keep), strict=True)
    assert sum(p.numel() for p in critic.model_q.parameters()) == 22_370_048
    inp, out = arrays("ifer", "inputs"), arrays("ifer", "outputs")
    x, x2 = torch.from_numpy(inp["x"]), torch.from_numpy(inp["x2"])
    with torch.no_grad():
        _close(critic.model_q(x), out["dis_q_emb_x"], 1e-5)
        _close(critic.model_k(x2), out["dis_k_emb_x2_before_update"], 1e-5)
        # the release updates the key net inside each call; genfer's training step calls update_key
        critic.update_key()
        real = critic(x, x)
        assert torch.equal(real, critic(x, x))  # a forward never moves the key net
        critic.update_key()
        fake = critic(x2, x)
    _close(real, out["dis_real_out"], 1e-6)
    _close(fake, out["dis_fake_out"], 1e-6)
    _close(critic.model_k.lin.weight, out["dis_model_k_lin_weight_after_2_calls"], 1e-6)
    assert F.cosine_similarity(critic.model_q(x[:1]), critic.model_q(x[:1])).item() == pytest.approx(1.0)
