"""``genfer invert``: reconstructions and codes of a tiny ASIT run, structure code on or off, bad inputs."""

from __future__ import annotations

import json
from contextlib import redirect_stdout
from io import StringIO

import numpy as np
import torch
from PIL import Image

from genfer.cli.main import main
from genfer.engine.trainer import train


def test_invert_writes_reconstructions_codes_and_pairs(tiny_cfg, tmp_path):
    run = train(tiny_cfg("asit", "train.max_steps=1"))
    faces = tmp_path / "faces"
    faces.mkdir()
    g = torch.Generator().manual_seed(0)
    for name in ("b.png", "a.png", "c.jpg"):
        arr = torch.randint(0, 256, (80, 80, 3), dtype=torch.uint8, generator=g).numpy()
        Image.fromarray(arr).save(faces / name)
    out = StringIO()
    with redirect_stdout(out):
        rc = main(["invert", "-c", str(run), str(faces), "-o", str(tmp_path / "o"), "--couple-outputs"])
    assert rc == 0 and json.loads(out.getvalue())["images"] == 3
    z = np.load(tmp_path / "o" / "codes.npz")
    assert list(z["names"]) == ["a.png", "b.png", "c.jpg"]  # sorted, not listdir order
    assert z["w"].shape == (3, 10, 32) and z["structure"].shape == (3, 32, 4, 4) and bool(z["use_struct"])
    assert Image.open(tmp_path / "o" / "inference_results" / "a.png").size == (64, 64)
    assert Image.open(tmp_path / "o" / "inference_coupled" / "a.png").size == (128, 64)
    with redirect_stdout(StringIO()):
        assert main(["invert", "-c", str(run), str(faces / "a.png"), "-o", str(tmp_path / "k"), "--const"]) == 0
    a = np.asarray(Image.open(tmp_path / "o" / "inference_results" / "a.png"), dtype=np.int16)
    k = np.asarray(Image.open(tmp_path / "k" / "inference_results" / "a.png"), dtype=np.int16)
    assert np.abs(a - k).max() > 0  # the learnt constant instead of the structure code
    assert np.allclose(np.load(tmp_path / "k" / "codes.npz")["w"], z["w"][:1], atol=1e-5)


def test_invert_bad_inputs_are_one_line_errors(tmp_path, capsys):
    torch.save({"state_dict": {"decoder.x": torch.zeros(1)}}, tmp_path / "notasit.pt")
    img = tmp_path / "a.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(img)
    assert main(["invert", "-c", str(tmp_path / "notasit.pt"), str(img), "-o", str(tmp_path / "o")]) == 1
    assert "no encoder.* keys" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["invert", "-c", str(tmp_path / "notasit.pt"), str(tmp_path / "empty"), "-o", str(tmp_path / "o")]) == 2
    assert "no images" in capsys.readouterr().err
