"""SAGAN self-attention: identity at init (gamma = 0), shapes, and attention over all positions."""

from __future__ import annotations

import torch

from genfer.models.layers.attention import SelfAttention2d


def test_starts_as_the_identity_and_keeps_the_shape():
    torch.manual_seed(0)
    att = SelfAttention2d(16)
    x = torch.randn(2, 16, 5, 3)
    y = att(x)
    assert y.shape == x.shape and float(att.gamma.detach()) == 0.0
    torch.testing.assert_close(y, x)
    assert att.query.out_channels == 2 and SelfAttention2d(4).query.out_channels == 1  # C // 8, at least 1


def test_output_equals_a_direct_softmax_attention_and_mixes_positions():
    torch.manual_seed(0)
    att = SelfAttention2d(8)
    with torch.no_grad():
        att.gamma.fill_(0.5)
    x = torch.randn(1, 8, 3, 4)
    q = att.query(x).flatten(2)[0]  # [k, HW]
    k = att.key(x).flatten(2)[0]
    v = att.value(x).flatten(2)[0]  # [C, HW]
    w = torch.softmax(q.t() @ k, dim=-1)  # [HW query, HW key]
    want = x + 0.5 * (v @ w.t()).view(1, 8, 3, 4)
    torch.testing.assert_close(att(x), want)
    x2 = x.clone()
    x2[..., 0, 0] += 1.0  # one position changes: every output position sees it
    diff = (att(x2) - att(x)).abs().sum(1)[0]
    assert bool((diff > 0).all())
