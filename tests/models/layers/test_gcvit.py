"""GC ViT trunk: shapes, windows, the release's batch coupling under ``faithful`` and its fix."""

from __future__ import annotations

import pytest
import torch

from genfer.models.layers.gcvit import GCViT, ReduceSize, sine_table, window_partition, window_reverse


def _tiny(**kw) -> GCViT:
    torch.manual_seed(0)
    # layer_scale None: with the release's 1e-5 the blocks start as the identity and hide the coupling
    args = dict(dim=8, depths=(2, 2, 2, 2), num_heads=(1, 2, 2, 4), windows=(4, 4, 2, 2), resolution=64,
                drop_path_rate=0.1, layer_scale=None)
    return GCViT(**{**args, **kw}).eval()


def test_shapes_of_the_level_maps():
    outs = _tiny()(torch.randn(2, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(2, 8, 16, 16), (2, 16, 8, 8), (2, 32, 4, 4), (2, 64, 2, 2),
                                              (2, 64, 2, 2)]


def test_window_partition_round_trip_and_order():
    x = torch.randn(2, 8, 8, 3)
    w = window_partition(x, 4)
    assert w.shape == (8, 16, 3)
    assert torch.equal(w[4], x[1, :4, :4].reshape(16, 3))  # image-major: window 4 is image 1's first
    assert torch.equal(window_reverse(w, 4, 8, 8), x)


def test_fixed_codes_do_not_depend_on_batch_mates_faithful_ones_do():
    torch.manual_seed(1)
    x, other = torch.randn(2, 3, 64, 64), torch.randn(1, 3, 64, 64)
    net = _tiny()
    with torch.no_grad():
        alone = net(x[:1])[-1]
        paired = net(x)[-1][:1]
        swapped = net(torch.cat([x[:1], other]))[-1][:1]
        assert (alone - paired).abs().max() < 1e-5
        assert (paired - swapped).abs().max() < 1e-5
        net.faithful = True
        coupled = net(x)[-1][:1]
        coupled_other = net(torch.cat([x[:1], other]))[-1][:1]
    assert (coupled - coupled_other).abs().max() > 1e-3


def test_rejects_other_sizes_naming_the_rule():
    with pytest.raises(ValueError, match=r"takes \[B, C, 64, 64\]"):
        _tiny()(torch.randn(1, 3, 56, 56))
    with pytest.raises(ValueError, match="window 3 must divide"):
        _tiny(windows=(3, 4, 2, 2))


def test_reduce_size_position_grid_follows_the_sine_table():
    rs = ReduceSize(4)
    g = rs.grid(3, 5, torch.zeros(1))
    t = sine_table(5, 4)
    assert g.shape == (3, 5, 8)
    assert torch.equal(g[2, 4, :4], t[4]) and torch.equal(g[2, 4, 4:], t[2])
    one = torch.tensor([1.0, 1e-4])  # position 1 times f = (1, 1e4^-1)
    assert torch.allclose(t[0], torch.cat([one.sin(), one.cos()]))


def test_drop_path_only_in_training():
    net = _tiny(drop_path_rate=0.9)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        a, b = net(x)[-1], net(x)[-1]
        assert torch.equal(a, b)
        net.train()
        torch.manual_seed(3)
        c = net(x)[-1]
    assert not torch.allclose(a, c)
