"""GANimation mask blending: mask 1 keeps the input, 0 takes the colour image."""

from __future__ import annotations

import torch

from genfer.models.layers.mask_blend import colour_and_mask, mask_blend


def test_mask_one_returns_the_input_and_zero_the_colour():
    g = torch.Generator().manual_seed(0)
    x, colour = torch.rand(2, 3, 4, 4, generator=g), torch.rand(2, 3, 4, 4, generator=g)
    ones, zeros = torch.ones(2, 1, 4, 4), torch.zeros(2, 1, 4, 4)
    torch.testing.assert_close(mask_blend(x, colour, ones), x)
    torch.testing.assert_close(mask_blend(x, colour, zeros), colour)
    half = mask_blend(x, colour, ones * 0.5)
    torch.testing.assert_close(half, (x + colour) / 2)
    left = torch.zeros(1, 1, 4, 4)
    left[..., :2] = 1  # a spatial mask selects per pixel, the same for every channel
    out = mask_blend(x[:1], colour[:1], left)
    torch.testing.assert_close(out[..., :2], x[:1, :, :, :2])
    torch.testing.assert_close(out[..., 2:], colour[:1, :, :, 2:])


def test_colour_and_mask_split_the_last_channel():
    z = torch.randn(2, 4, 3, 3) * 5
    colour, mask = colour_and_mask(z)
    assert colour.shape == (2, 3, 3, 3) and mask.shape == (2, 1, 3, 3)
    torch.testing.assert_close(colour, torch.tanh(z[:, :3]))
    torch.testing.assert_close(mask, torch.sigmoid(z[:, 3:]))
