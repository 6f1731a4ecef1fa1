"""Capability protocols: every registered method's declared capabilities work on its tiny preset, and
asking for a missing one is a one-line error that names what the method can do."""

from __future__ import annotations

import pytest
import torch

from genfer.core.config import make_config
from genfer.core.registry import METHODS
from genfer.data.aus import NUM_AUS
from genfer.models.capabilities import (
    CAPABILITIES,
    CapabilityError,
    Classifier,
    Editor,
    capabilities,
    provides,
    require,
)

B = 3


def _tiny(name: str):
    torch.manual_seed(0)
    cfg = make_config(name, "tiny")
    method = METHODS.get(name)(cfg.model)
    method.train()  # the capability calls must switch to eval and back themselves
    size, channels = cfg.model.image_size, cfg.model.channels
    x = torch.randint(0, 256, (B, channels, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    return method, x


def _check_images(out: torch.Tensor, x: torch.Tensor) -> None:
    assert out.shape == x.shape and out.is_floating_point()
    assert torch.isfinite(out).all()
    assert float(out.min()) >= 0 and float(out.max()) <= 1


def _check_classify(m, x):
    assert isinstance(m.classes, tuple) and all(isinstance(c, str) for c in m.classes)
    assert len(set(m.classes)) == len(m.classes) > 1
    logits = m.classify(x)
    assert logits.shape == (B, len(m.classes)) and torch.isfinite(logits).all()
    # uint8 and the same images as float in [0, 1] are one input
    assert torch.allclose(m.classify(x.float() / 255), logits, atol=1e-5)


def _check_transfer(m, x):
    _check_images(m.transfer(x, x.flip(0)), x)


def _check_edit(m, x):
    aus = torch.rand(B, NUM_AUS, generator=torch.Generator().manual_seed(2)) * 5
    _check_images(m.edit(x, aus), x)
    _check_images(m.edit(x, aus[0]), x)  # one target for the whole batch


def _check_estimate_aus(m, x):
    aus = m.estimate_aus(x)
    assert aus.shape == (B, NUM_AUS) and float(aus.min()) >= 0 and float(aus.max()) <= 5


def _check_swap(m, x):
    x_ab, x_ba = m.swap(x, x.flip(0))
    _check_images(x_ab, x)
    _check_images(x_ba, x)


def _check_reconstruct(m, x):
    _check_images(m.reconstruct(x), x)


def _check_invert(m, x):
    _check_images(m.generate(m.invert(x)), x)


CHECKS = {
    "classify": _check_classify,
    "transfer": _check_transfer,
    "edit": _check_edit,
    "estimate_aus": _check_estimate_aus,
    "swap": _check_swap,
    "reconstruct": _check_reconstruct,
    "invert": _check_invert,
}


def test_every_capability_has_a_check():
    assert set(CHECKS) == set(CAPABILITIES)


@pytest.mark.parametrize("name", METHODS.names())
def test_declared_capabilities_work_on_a_tiny_batch(name):
    method, x = _tiny(name)
    caps = capabilities(method)
    for cap in caps:
        CHECKS[cap](method, x)
        assert method.training, f"{name}.{cap} left the method in eval mode"


@pytest.mark.parametrize("name", METHODS.names())
def test_the_class_shows_what_its_instances_can_do(name):
    # genfer ls lists capabilities from the class without building the method
    method, _ = _tiny(name)
    assert capabilities(METHODS.get(name)) == capabilities(method)


@pytest.mark.parametrize("name", METHODS.names())
def test_require_passes_what_a_method_has_and_names_it_when_missing(name):
    method, _ = _tiny(name)
    caps = capabilities(method)
    for cap, protocol in CAPABILITIES.items():
        if cap in caps:
            assert require(method, cap, "a test") is method
            assert require(method, protocol, "a test") is method
            continue
        with pytest.raises(CapabilityError) as e:
            require(method, cap, "genfer something", source="runs/x")
        msg = str(e.value)
        assert "\n" not in msg
        assert msg.startswith(f"runs/x is a{'n' if name[0] in 'aeiou' else ''} {name} checkpoint; ")
        assert f"it can: {', '.join(caps) or 'none'}; it cannot {cap} (genfer something needs " in msg


def test_the_two_released_methods():
    tdgan, _ = _tiny("tdgan")
    assert capabilities(tdgan) == ["classify", "transfer", "reconstruct"]
    assert tdgan.classes == ("neutral", "happiness", "sadness", "surprise", "fear", "disgust", "anger")
    au, _ = _tiny("au_cyclegan")
    assert capabilities(au) == ["edit", "estimate_aus", "reconstruct"]
    with pytest.raises(CapabilityError, match=r"^runs/a is an au_cyclegan checkpoint; it can: edit, estimate_aus, "
                       r"reconstruct; it cannot classify \(genfer eval needs a classifier\)$"):
        require(au, Classifier, "genfer eval", source="runs/a")


def test_classes_follow_num_classes():
    cfg = make_config("tdgan", "tiny", ["model.num_classes=8"])
    m = METHODS.get("tdgan")(cfg.model)
    assert m.classes[-1] == "contempt" and m.classify(torch.rand(2, 1, 32, 32)).shape == (2, 8)


def test_protocols_are_structural_and_need_every_member():
    class Recogniser:
        classes = ("a", "b")

        def classify(self, x):
            return torch.zeros(x.shape[0], 2)

    class NoClasses:
        def classify(self, x):
            return x

    assert capabilities(Recogniser()) == ["classify"] and isinstance(Recogniser(), Classifier)
    assert capabilities(NoClasses()) == [] and not provides(NoClasses, "classify")
    with pytest.raises(CapabilityError, match=r"^a NoClasses method; it can: none; it cannot edit "):
        require(NoClasses(), Editor, "genfer edit")
    with pytest.raises(KeyError, match="unknown capability"):
        require(Recogniser(), "fly", "a test")


@pytest.mark.parametrize("name", METHODS.names())
def test_inference_helpers_check_the_capability_they_use(name):
    from genfer.apps.inference import predict_expressions, reconstruct_images, transfer_images

    method, x = _tiny(name)
    caps = capabilities(method)
    calls = {
        "classify": lambda: predict_expressions(method, x, batch_size=2),
        "transfer": lambda: transfer_images(method, x, x.flip(0), batch_size=2),
        "reconstruct": lambda: reconstruct_images(method, x, batch_size=2),
    }
    for cap, call in calls.items():
        if cap not in caps:
            with pytest.raises(CapabilityError, match=f"it cannot {cap} "):
                call()
            continue
        out = call()
        if cap == "classify":
            assert out.shape == (B, len(method.classes))
            assert torch.allclose(out.sum(1), torch.ones(B), atol=1e-5)
        else:
            _check_images(out, x)
