"""Convolutions whose CPU bias gradient is a sum: the library layer's function and gradients."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from genfer.models.layers.sum_bias import SumBiasConv2d, SumBiasConvTranspose2d

CASES = {  # ours, the library's, constructor arguments, input shape
    "conv": (SumBiasConv2d, nn.Conv2d, (6, 5, 3, 2, 1), {}, (3, 6, 10, 10)),
    "conv_transpose": (SumBiasConvTranspose2d, nn.ConvTranspose2d, (6, 5, 3, 2, 1), {"output_padding": 1},
                       (3, 6, 5, 5)),
}


def _run(m: nn.Module, x: torch.Tensor, autocast: bool) -> tuple[torch.Tensor, list[torch.Tensor | None]]:
    m.zero_grad(set_to_none=True)
    x = x.detach().requires_grad_(x.requires_grad)
    with torch.autocast("cpu", enabled=autocast):
        y = m(x)
    (y.float() * torch.linspace(-1, 1, y.numel()).view(y.shape)).sum().backward()
    return y, [x.grad, m.weight.grad, m.bias.grad]


@pytest.mark.parametrize("autocast", [False, True])
@pytest.mark.parametrize("input_grad", [True, False])
@pytest.mark.parametrize("case", sorted(CASES))
def test_function_and_gradients_equal_the_library_layer(case, input_grad, autocast):
    ours_cls, lib_cls, args, kwargs, shape = CASES[case]
    torch.manual_seed(0)
    ours = ours_cls(*args, **kwargs)
    lib = lib_cls(*args, **kwargs)
    lib.load_state_dict(ours.state_dict())  # same keys
    x = torch.randn(shape).contiguous(memory_format=torch.channels_last).requires_grad_(input_grad)
    y, grads = _run(ours, x, autocast)
    y_ref, grads_ref = _run(lib, x, autocast)
    assert y.grad_fn.name() == "_ConvSumBiasBackward"
    assert y.dtype == y_ref.dtype and y.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(y, y_ref, rtol=0, atol=0)
    for g, g_ref in zip(grads, grads_ref, strict=True):
        assert (g is None) == (g_ref is None)
        if g is not None:  # the bias gradient sums in another order; bf16 rounds it
            assert g.dtype == g_ref.dtype == torch.float32
            torch.testing.assert_close(g, g_ref, rtol=1e-2 if autocast else 1e-5, atol=1e-2 if autocast else 1e-4)


@pytest.mark.parametrize("case", sorted(CASES))
def test_library_path_where_switched_off_without_a_graph_or_a_bias(case):
    ours_cls, _, args, kwargs, shape = CASES[case]
    x = torch.randn(shape, requires_grad=True)
    m = ours_cls(*args, **kwargs)
    m.sum_bias = False
    assert "ConvSumBias" not in m(x).grad_fn.name()
    m.sum_bias = True
    with torch.no_grad():
        assert m(x).grad_fn is None
    assert "ConvSumBias" not in ours_cls(*args, bias=False, **kwargs)(x).grad_fn.name()
