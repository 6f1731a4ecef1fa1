"""Norms: the fused instance-norm + ReLU and group-norm + SiLU match PyTorch's ops, values and
gradients; the format-keeping InstanceNorm2d is nn.InstanceNorm2d's function under its parameter names."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from genfer.models.layers.norms import (
    InstanceNorm2d,
    _GroupNormSiLU,
    _instance_norm_channels_last,
    _InstanceNormReLU,
    group_norm_silu,
    instance_norm_relu,
)


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("channels_last", [False, True])
def test_instance_norm_relu_gradcheck(affine, channels_last):
    torch.manual_seed(0)
    x = torch.randn(2, 3, 5, 4, dtype=torch.double)
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    x.requires_grad_()
    w = (torch.rand(3, dtype=torch.double) + 0.5).requires_grad_() if affine else None
    b = torch.randn(3, dtype=torch.double).requires_grad_() if affine else None
    assert torch.autograd.gradcheck(_InstanceNormReLU.apply, (x, w, b, 1e-3))


@pytest.mark.parametrize("channels_last", [False, True])
def test_instance_norm_relu_under_bf16_autocast(channels_last):
    """bf16 activations with fp32 parameters (autocast): gradients in each one's dtype, within bf16 rounding."""
    torch.manual_seed(0)
    x0 = torch.randn(2, 4, 8, 8) * 2 + 1
    if channels_last:
        x0 = x0.contiguous(memory_format=torch.channels_last)
    w0, b0, gy = torch.rand(4) + 0.5, torch.randn(4), torch.randn(2, 4, 8, 8)
    grads = []
    for dtype in (torch.float64, torch.bfloat16):
        x = x0.to(dtype).requires_grad_()
        w, b = (t.to(torch.float64 if dtype == torch.float64 else torch.float32).requires_grad_() for t in (w0, b0))
        with torch.autocast("cpu", torch.bfloat16, enabled=dtype == torch.bfloat16):
            y = instance_norm_relu(x, w, b, 1e-3)
        y.backward(gy.to(y.dtype))
        grads.append((x.grad, w.grad, b.grad))
    (rx, rw, rb), (gx, gw, gb) = grads
    assert gx.dtype == torch.bfloat16 and gw.dtype == gb.dtype == torch.float32
    for got, ref in ((gx, rx), (gw, rw), (gb, rb)):
        assert (got.double() - ref).norm() / ref.norm() < 0.1


def test_instance_norm_relu_matches_torch_ops():
    torch.manual_seed(0)
    x = torch.randn(4, 6, 8, 8).to(memory_format=torch.channels_last).requires_grad_()
    w = torch.rand(6).requires_grad_()
    b = torch.randn(6).requires_grad_()
    ref = F.relu(F.instance_norm(x, weight=w, bias=b, eps=1e-3))
    out = instance_norm_relu(x, w, b, 1e-3)
    assert torch.allclose(out, ref, atol=1e-5)
    g = torch.randn_like(ref)
    grads_ref = torch.autograd.grad(ref, (x, w, b), g)
    grads = torch.autograd.grad(out, (x, w, b), g)
    assert all(torch.allclose(a, r, atol=1e-4) for a, r in zip(grads, grads_ref))
    with torch.no_grad():  # the no-graph path gives the same values
        assert torch.allclose(instance_norm_relu(x, w, b, 1e-3), ref, atol=1e-5)


@pytest.mark.parametrize("affine", [True, False])
def test_instance_norm_keeps_the_memory_format_and_nn_names(affine):
    torch.manual_seed(0)
    y = torch.randn(2, 5, 8, 8).to(memory_format=torch.channels_last)
    norm = InstanceNorm2d(5, eps=1e-3, affine=affine)
    assert set(norm.state_dict()) == set(torch.nn.InstanceNorm2d(5, affine=affine).state_dict())
    assert repr(norm) == f"InstanceNorm2d(5, eps=0.001, affine={affine})"
    if affine:
        with torch.no_grad():
            norm.weight.uniform_(0.5, 1.5)
            norm.bias.normal_()
    out = norm(y)
    assert out.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(out, F.instance_norm(y, weight=norm.weight, bias=norm.bias, eps=1e-3), atol=1e-5,
                               rtol=1e-5)


@pytest.mark.parametrize("channels_last", [False, True])
def test_instance_norm_is_twice_differentiable(channels_last):
    """The AU critic's gradient penalty differentiates through its instance norms twice."""
    torch.manual_seed(0)
    norm = InstanceNorm2d(3, eps=1e-3, affine=True).double()
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
        norm.bias.normal_()
    x = torch.randn(2, 3, 5, 4, dtype=torch.double)
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    x.requires_grad_()
    assert torch.autograd.gradcheck(norm, (x,))
    assert torch.autograd.gradgradcheck(norm, (x,))
    if channels_last:  # the broadcast-op path bf16 takes, checked in float64
        def f(x):
            return _instance_norm_channels_last(x, norm.weight, norm.bias, norm.eps)
        torch.testing.assert_close(f(x), F.group_norm(x, 3, norm.weight, norm.bias, norm.eps))
        assert torch.autograd.gradcheck(f, (x,))
        assert torch.autograd.gradgradcheck(f, (x,))


@pytest.mark.parametrize("channels_last", [False, True])
def test_group_norm_silu_gradcheck(channels_last):
    torch.manual_seed(0)
    x = torch.randn(2, 6, 5, 4, dtype=torch.double)
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    x.requires_grad_()
    w = (torch.rand(6, dtype=torch.double) + 0.5).requires_grad_()
    b = torch.randn(6, dtype=torch.double).requires_grad_()
    assert torch.autograd.gradcheck(_GroupNormSiLU.apply, (x, w, b, 3, 1e-6))


@pytest.mark.parametrize("channels_last", [False, True])
def test_group_norm_silu_matches_the_modules_and_keeps_one_activation_fewer(channels_last):
    torch.manual_seed(0)
    norm = torch.nn.GroupNorm(4, 8, eps=1e-6)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
        norm.bias.normal_()
    x = torch.randn(3, 8, 6, 6)
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    x.requires_grad_()

    def saved_numel(fn):
        sizes = []
        with torch.autograd.graph.saved_tensors_hooks(lambda t: sizes.append(t.numel()) or t, lambda t: t):
            out = fn()
        return out, sum(sizes)

    ref, ref_saved = saved_numel(lambda: F.silu(norm(x)))
    out, saved = saved_numel(lambda: group_norm_silu(x, norm))
    torch.testing.assert_close(out, ref)
    assert out.is_contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    assert saved < ref_saved - x.numel() // 2  # the norm's output is not kept
    g = torch.randn_like(ref)
    for a, r in zip(torch.autograd.grad(out, (x, norm.weight, norm.bias), g),
                    torch.autograd.grad(ref, (x, norm.weight, norm.bias), g)):
        torch.testing.assert_close(a, r, atol=1e-5, rtol=1e-5)
    with torch.no_grad():  # the in-place inference path gives the same values
        torch.testing.assert_close(group_norm_silu(x, norm), ref)
