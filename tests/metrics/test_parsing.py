"""Parsing metrics: ROC AUC, mask AUC, HOG layout, the released PR and its bug."""

from __future__ import annotations

import math

import torch

from genfer.metrics.parsing import binary_auc, changed_pixels, hog, mask_auc, parsing_pr


def _brute_auc(s, y):
    pos, neg = s[y], s[~y]
    wins = (pos[:, None] > neg[None, :]).double() + 0.5 * (pos[:, None] == neg[None, :]).double()
    return float(wins.mean())


def test_binary_auc_equals_the_pairwise_definition_with_ties():
    g = torch.Generator().manual_seed(0)
    s = torch.randint(0, 5, (200,), generator=g).float()  # many ties
    y = torch.rand(200, generator=g) < 0.3
    assert math.isclose(binary_auc(s, y), _brute_auc(s, y), rel_tol=1e-12)
    assert binary_auc(torch.arange(4.0), torch.tensor([0, 0, 1, 1]).bool()) == 1.0
    assert math.isnan(binary_auc(torch.rand(3), torch.zeros(3, dtype=torch.bool)))


def test_mask_auc_and_changed_pixels():
    a = torch.zeros(1, 3, 8, 8, dtype=torch.uint8)
    b = a.clone()
    b[..., 2:4, 2:4] = 50
    t = changed_pixels(a, b)
    assert t.shape == (1, 1, 8, 8) and int(t.sum()) == 4
    m = t.float() * 0.9 + 0.05
    assert mask_auc(m, t) == 1.0 and mask_auc(1 - m, t) == 0.0


def test_hog_layout_and_block_normalisation():
    x = torch.rand(2, 3, 32, 32)
    d = hog(x)
    assert d.shape == (2, 3 * 3 * 2 * 2 * 8)
    blocks = d.reshape(2, 9, 32)
    torch.testing.assert_close(blocks.abs().sum(-1), torch.ones(2, 9), atol=1e-3, rtol=0)


def test_parsing_pr_fixed_and_released_bug():
    torch.manual_seed(0)
    x = torch.rand(8, 3, 32, 32)
    x[:4, :, :, :16] = 0  # the active group looks different
    aus = torch.tensor([[1.0, 0.0]] * 4 + [[0.0, 0.0]] * 4)
    pr = parsing_pr(x, aus)
    assert pr[0] > 0.01 and math.isnan(pr[1])
    assert parsing_pr(x, aus, released_bug=True)[0] == 0.0
