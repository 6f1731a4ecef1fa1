"""IR-SE50: TreB1eN's key names and shapes (so model_ir_se50.pth loads), output, crop, missing weights."""

from __future__ import annotations

import pytest
import torch

from genfer.core.errors import GenferError
from genfer.models.pretrained.ir_se50 import IRSE50, asit_crop, load_ir_se50


def test_key_names_and_shapes_are_treb1ens():
    sd = IRSE50().state_dict()
    assert sd["input_layer.0.weight"].shape == (64, 3, 3, 3)
    assert sd["input_layer.2.weight"].shape == (64,)  # PReLU
    assert not any(k.startswith("body.0.shortcut_layer") for k in sd)  # same width: a strided max-pool
    assert sd["body.3.shortcut_layer.0.weight"].shape == (128, 64, 1, 1)
    assert sd["body.23.res_layer.5.fc1.weight"].shape == (32, 512, 1, 1)
    assert sd["output_layer.3.weight"].shape == (512, 512 * 7 * 7)
    assert "output_layer.4.running_var" in sd and len([k for k in sd if k.startswith("body.")]) > 0
    assert max(int(k.split(".")[1]) for k in sd if k.startswith("body.")) == 23  # 3 + 4 + 14 + 3 units


def test_embeddings_are_unit_vectors_and_the_crop_is_112():
    torch.manual_seed(0)
    net = IRSE50().eval()
    x = torch.rand(2, 3, 256, 256) * 2 - 1
    c = asit_crop(x)
    assert c.shape == (2, 3, 112, 112)
    outside = x.clone()
    outside[:, :, :35] = 9.0
    outside[:, :, :, 220:] = 9.0
    assert torch.equal(asit_crop(outside), c)  # only rows 35:223, columns 32:220 count
    with torch.no_grad():
        e = net(c)
    assert e.shape == (2, 512) and torch.allclose(e.norm(dim=1), torch.ones(2), atol=1e-5)


def test_missing_weights_name_the_source_and_the_offline_alternative(monkeypatch, tmp_path):
    monkeypatch.delenv("GENFER_IR_SE50", raising=False)
    with pytest.raises(GenferError, match="model_ir_se50.pth.*face_api"):
        load_ir_se50(tmp_path / "nope.pth")
    torch.save({"x": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(GenferError, match="not an IR-SE50 state dict"):
        load_ir_se50(tmp_path / "bad.pth")
    good = IRSE50().state_dict()
    torch.save({f"module.{k}": v for k, v in good.items()}, tmp_path / "ok.pth")  # DataParallel prefix
    assert isinstance(load_ir_se50(tmp_path / "ok.pth"), IRSE50)
