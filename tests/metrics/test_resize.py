import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from genfer.metrics.resize import inception_input, tf1_bilinear


def test_clean_mode_is_pil_bicubic_on_float_per_channel():
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(1, 3, 20, 24, generator=g) * 255).round().to(torch.uint8)
    out = inception_input(x, "clean", size=31)
    for c in range(3):
        ref = Image.fromarray(x[0, c].numpy().astype(np.float32), mode="F").resize((31, 31), Image.Resampling.BICUBIC)
        ref = np.asarray(ref).clip(0, 255)
        np.testing.assert_allclose(out[0, c].numpy(), (ref - 128) / 128, atol=1e-6)


def test_same_size_is_not_resized():
    x = torch.rand(2, 3, 9, 9)
    assert torch.allclose(inception_input(x, "clean", size=9), (x * 255 - 128) / 128)
    assert torch.allclose(inception_input(x, "legacy_pytorch", size=9), 2 * x - 1)


def test_tf1_bilinear_has_no_half_pixel_offset():
    x = torch.tensor([[[[0.0, 10.0]]]])
    out = tf1_bilinear(x, 4)  # rows 1 -> 4 repeat the single row
    assert out[0, 0, 0].tolist() == [0.0, 5.0, 10.0, 10.0]
    assert torch.allclose(out[0, 0, 3], out[0, 0, 0])


def test_legacy_pytorch_is_torch_bilinear():
    x = torch.rand(2, 3, 17, 13)
    ref = F.interpolate(x, size=(29, 29), mode="bilinear", align_corners=False) * 2 - 1
    assert torch.allclose(inception_input(x, "legacy_pytorch", size=29), ref)


def test_unknown_mode_rejected():
    with pytest.raises(ValueError, match="clean"):
        inception_input(torch.rand(1, 3, 8, 8), "bicubic")
