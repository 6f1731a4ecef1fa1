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


@pytest.mark.parametrize("gemm", [True, False])
def test_upconv_forward_shared_equals_separate_calls(gemm):
    """Branches that share chunks (an encoder map decoded under two conditions) give each branch's
    output and every gradient of separate calls, also when only one branch is used."""
    torch.manual_seed(0)
    up = UpConv(10, 5, 1, gemm=gemm).double()

    def leaf(c):
        return torch.randn(2, c, 3, 3, dtype=torch.float64, requires_grad=True)

    own1, own2, skip = leaf(4), leaf(4), leaf(3)
    cond1, cond2 = torch.randn(2, 3, 3, 3, dtype=torch.float64), torch.randn(2, 3, 3, 3, dtype=torch.float64)
    branches = [[own1, skip, cond1], [own2, skip, cond2]]
    leaves = (up.weight, own1, own2, skip)
    ys = up.forward_shared(branches)
    refs = [up(torch.cat(b, 1)) for b in branches]
    for y, ref in zip(ys, refs):
        torch.testing.assert_close(y, ref)
    gs = [torch.randn_like(r) for r in refs]
    for a, b in zip(torch.autograd.grad(ys, leaves, gs), torch.autograd.grad(refs, leaves, gs)):
        torch.testing.assert_close(a, b)
    got = torch.autograd.grad(up.forward_shared(branches)[0].sum(), leaves, allow_unused=True)
    want = torch.autograd.grad(up(torch.cat(branches[0], 1)).sum(), leaves, allow_unused=True)
    assert got[2] is None and want[2] is None  # the unused branch's own input gets no gradient
    for a, b in zip(got[:2] + got[3:], want[:2] + want[3:]):
        torch.testing.assert_close(a, b)


def test_upconv_forward_shared_under_bf16_autocast():
    torch.manual_seed(0)
    up = UpConv(8, 4, 0, gemm=True)
    z, c1, c2 = torch.randn(2, 6, 3, 3, requires_grad=True), torch.randn(2, 2, 3, 3), torch.randn(2, 2, 3, 3)
    with torch.autocast("cpu", torch.bfloat16):
        ys = up.forward_shared([[z, c1], [z, c2]])
        refs = [up(torch.cat((z, c), 1)) for c in (c1, c2)]
    for y, ref in zip(ys, refs):
        assert y.dtype == torch.bfloat16
        torch.testing.assert_close(y.float(), ref.float(), atol=2e-2, rtol=2e-2)
    sum(y.float().sum() for y in ys).backward()
    assert up.weight.grad.dtype == torch.float32 and up.weight.grad.is_contiguous()
    assert z.grad.dtype == torch.float32 and torch.isfinite(z.grad).all()
