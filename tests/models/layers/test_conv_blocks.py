"""Shared conv blocks: the fused instance-norm + ReLU matches PyTorch's ops, values and gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from genfer.models.layers.conv_blocks import ConvNormReLU, InstanceNorm2d, _InstanceNormReLU, instance_norm_relu


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


def test_blocks_keep_the_memory_format_and_nn_names():
    x = torch.randn(2, 3, 8, 8).to(memory_format=torch.channels_last)
    y = ConvNormReLU(3, 5, 3)(x)
    assert y.shape == (2, 5, 8, 8) and y.is_contiguous(memory_format=torch.channels_last)
    norm = InstanceNorm2d(5, eps=1e-3, affine=True)
    assert set(norm.state_dict()) == set(torch.nn.InstanceNorm2d(5, affine=True).state_dict())
    assert torch.allclose(norm(y), F.instance_norm(y, weight=norm.weight, bias=norm.bias, eps=1e-3), atol=1e-5)
