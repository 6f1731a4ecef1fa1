"""4x4 stride-2 convolutions: the fast CPU paths compute nn's function, including the gradients."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from genfer.models.layers.conv4s2 import UNFOLD_MAX_PIXELS, DownConv, UpConv


@pytest.mark.parametrize(("c_in", "c_out", "side", "pad", "gemm"), [(6, 5, 3, 1, True), (3, 2, 5, 0, False)])
def test_upconv_equals_conv_transpose(c_in, c_out, side, pad, gemm):
    torch.manual_seed(0)
    up = UpConv(c_in, c_out, pad, bias=True, gemm=gemm).double()
    ref = nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, output_padding=pad).double()
    ref.load_state_dict(up.state_dict())
    x = torch.randn(2, c_in, side, side, dtype=torch.float64, requires_grad=True)
    y, y_ref = up(x), ref(x)
    assert y.shape == (2, c_out, 2 * side + pad, 2 * side + pad)
    torch.testing.assert_close(y, y_ref)
    g = torch.randn_like(y_ref)
    for a, b in zip(torch.autograd.grad(y, (x, up.weight), g), torch.autograd.grad(y_ref, (x, ref.weight), g)):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("side", [4, 7, 2 * int(UNFOLD_MAX_PIXELS**0.5) + 2])  # the unfold path, then the kernel
def test_downconv_equals_conv_and_its_double_backward(side):
    torch.manual_seed(0)
    conv = DownConv(3, 4).double()
    ref = nn.Conv2d(3, 4, 4, 2, 1, bias=False).double()
    ref.load_state_dict(conv.state_dict())
    x = torch.randn(2, 3, side, side, dtype=torch.float64, requires_grad=True)
    assert conv(x).shape == (2, 4, side // 2, side // 2)
    torch.testing.assert_close(conv(x), ref(x))

    def penalty(mod):  # a gradient penalty differentiates the input gradient w.r.t. the weight
        (gx,) = torch.autograd.grad(mod(x).square().sum(), x, create_graph=True)
        return torch.autograd.grad(gx.square().sum(), mod.weight)[0]

    torch.testing.assert_close(penalty(conv), penalty(ref))
