"""Winograd F(4 x 4, 3 x 3): the function of a padded 3 x 3 convolution, and when it is used."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from genfer.models.layers import winograd
from genfer.models.layers.stylegan2 import ModulatedConv2d


@pytest.mark.parametrize("cin,cout,h,w,scaled,channels_last", [(3, 5, 4, 4, False, False), (6, 4, 8, 12, True, False),
                                                               (5, 7, 16, 8, True, True)])
def test_winograd_is_the_padded_conv_exactly_in_float64(cin, cout, h, w, scaled, channels_last):
    """In float64 the transforms' rounding vanishes: what is left is the algorithm, which must be exact."""
    torch.manual_seed(0)
    x = torch.randn(2, cin, h, w, dtype=torch.float64)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    wt = torch.randn(cout, cin, 3, 3, dtype=torch.float64)
    s, d = (torch.rand(2, cin, dtype=torch.float64) + 0.5, torch.rand(2, cout, dtype=torch.float64)) if scaled else (
        None, None)
    ref = F.conv2d(x if s is None else x * s[:, :, None, None], wt, padding=1)
    if d is not None:
        ref = ref * d[:, :, None, None]
    out = winograd.winograd_conv3x3(x, winograd.winograd_weight(wt), s, d)
    assert out.shape == ref.shape and out.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(out, ref, atol=1e-10)


def test_winograd_float32_error_is_small_against_the_output_scale():
    torch.manual_seed(0)
    x, wt = torch.randn(2, 256, 16, 16), torch.randn(64, 256, 3, 3) / 48
    ref = F.conv2d(x.double(), wt.double(), padding=1)
    err = (winograd.winograd_conv3x3(x, winograd.winograd_weight(wt)).double() - ref).abs().max()
    direct = (F.conv2d(x, wt, padding=1).double() - ref).abs().max()
    assert err < 3e-5 * ref.abs().max()  # ~1e-5 of the scale: the F(4, 3) transforms' rounding
    assert err > direct  # and larger than the direct conv's, which is why it is for inference only


def test_supported_only_where_it_pays():
    x = torch.zeros(1, 256, 8, 8)
    assert winograd.supported(x, 3)
    assert not winograd.supported(x, 1)  # not a 3 x 3 conv
    assert not winograd.supported(x.bfloat16(), 3)  # the transforms' error would swamp bf16
    assert not winograd.supported(x.double(), 3)
    assert not winograd.supported(torch.zeros(1, 128, 8, 8), 3)  # too few channels: the products run slowly
    assert not winograd.supported(torch.zeros(1, 256, 6, 8), 3)  # not whole tiles


def _direct(m: ModulatedConv2d, x, s):
    m.winograd = False
    try:
        return m(x, s)
    finally:
        del m.winograd


def test_modulated_conv_inference_takes_winograd_and_follows_the_weight(monkeypatch):
    """No graph, float32 CPU: the plain 3 x 3 modulated conv goes through Winograd (its channels-last
    output shows it), gives the direct result within the rounding, and a changed weight is seen."""
    torch.manual_seed(0)
    m = ModulatedConv2d(256, 32, 3, 16)
    x, s = torch.randn(2, 256, 8, 8), torch.randn(2, 16)
    calls = []
    real = winograd.winograd_conv3x3
    monkeypatch.setattr(winograd, "winograd_conv3x3", lambda *a: calls.append(1) or real(*a))
    with torch.no_grad():
        out = m(x, s)
        assert calls and out.is_contiguous(memory_format=torch.channels_last)
        ref = _direct(m, x, s)
        assert (out - ref).abs().max() < 1e-5 * ref.abs().max() * 10
        m.weight.mul_(-2)  # an optimizer or EMA step: the cached transform must not be reused
        out2, ref2 = m(x, s), _direct(m, x, s)
    assert (out2 - ref2).abs().max() < 1e-4 * ref2.abs().max()
    assert (out2 - out).abs().max() > 0.1  # demodulation keeps the scale; the sign flip does not


def test_modulated_conv_keeps_the_direct_path_for_graphs_and_autocast(monkeypatch):
    torch.manual_seed(0)
    m = ModulatedConv2d(256, 8, 3, 16)
    x, s = torch.randn(1, 256, 8, 8), torch.randn(1, 16)
    monkeypatch.setattr(winograd, "winograd_conv3x3", lambda *a: pytest.fail("Winograd used"))
    m(x, s).sum().backward()  # training: a graph
    assert m.weight.grad is not None
    with torch.no_grad(), torch.autocast("cpu", torch.bfloat16):
        assert m(x, s).dtype == torch.bfloat16
    m.winograd = False
    with torch.no_grad():
        m(x, s)
