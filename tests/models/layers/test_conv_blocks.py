"""Shared conv blocks: Conv -> IN -> ReLU and the plain residual block."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from genfer.models.layers.conv_blocks import ConvNormReLU, PlainResBlock


def test_conv_norm_relu_is_the_three_ops_and_keeps_the_memory_format():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 8, 8).to(memory_format=torch.channels_last)
    block = ConvNormReLU(3, 5, 3)
    with torch.no_grad():
        block.norm.weight.uniform_(0.5, 1.5)
        block.norm.bias.normal_()
    y = block(x)
    assert y.shape == (2, 5, 8, 8) and y.is_contiguous(memory_format=torch.channels_last)
    n = block.norm
    ref = F.relu(F.instance_norm(block.conv(x), weight=n.weight, bias=n.bias, eps=n.eps))
    torch.testing.assert_close(y, ref, atol=1e-5, rtol=1e-5)
    assert block.conv.bias is None and n.eps == 1e-3


def test_plain_res_block_adds_the_relu_branch():
    torch.manual_seed(0)
    block = PlainResBlock(4)
    x = torch.randn(2, 4, 6, 6)
    torch.testing.assert_close(block(x), x + F.relu(block.conv(x)))
    with torch.no_grad():
        block.conv.weight.zero_()
        block.conv.bias.fill_(-1.0)  # the branch is ReLU(-1) = 0: the block is the identity
    torch.testing.assert_close(block(x), x)
