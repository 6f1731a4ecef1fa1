"""genfer convert stylegan2 / generate / project on a tiny rosinality-format checkpoint."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from genfer.cli.main import main
from genfer.models.stylegan2.networks import Discriminator, Generator


@pytest.fixture
def ros_file(tmp_path):
    """A tiny rosinality file: g, g_ema (different weights), d, latent_avg."""
    torch.manual_seed(0)
    g, g_ema = (Generator(32, 16, 2, channel_multiplier=1 / 64, channel_max=16) for _ in range(2))
    d = Discriminator(32, channel_multiplier=1 / 64, channel_max=16)
    path = tmp_path / "tiny.pt"
    torch.save({"g": g.state_dict(), "g_ema": g_ema.state_dict(), "d": d.state_dict(),
                "latent_avg": torch.full((16,), 0.5)}, path)
    return path, g_ema.eval()


def test_convert_then_load_gives_g_ema(ros_file, tmp_path, capsys):
    from genfer.apps.stylegan2 import load_stylegan2
    from genfer.engine.checkpoint import load_method

    path, g_ema = ros_file
    out = tmp_path / "conv"
    assert main(["convert", "stylegan2", str(path), str(out)]) == 0
    assert "32 px" in capsys.readouterr().out
    notes = json.loads((out / "conversion.json").read_text())
    assert notes["g"] == "g" and notes["d"] == "d" and notes["latent_avg"] == "file"
    method, cfg = load_method(out)
    assert cfg.model.image_size == 32 and torch.equal(method.latent_avg, torch.full((16,), 0.5))
    w = torch.randn(2, g_ema.n_latent, 16)
    with torch.no_grad():
        ref = g_ema([w], input_is_latent=True, randomize_noise=False)[0]
        assert torch.equal(method.G([w], input_is_latent=True, randomize_noise=False)[0], ref)
        # the .pt file directly gives the same generator
        direct = load_stylegan2(path)
        assert torch.equal(direct.G([w], input_is_latent=True, randomize_noise=False)[0], ref)


def test_convert_names_a_bad_file(tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    torch.save({"weights": {}}, bad)
    assert main(["convert", "stylegan2", str(bad), str(tmp_path / "o")]) == 1
    assert "bad.pt: not a rosinality checkpoint" in capsys.readouterr().err


def test_generate_grid_and_folder(ros_file, tmp_path):
    path, _ = ros_file
    grid = tmp_path / "grid.png"
    assert main(["generate", "-c", str(path), "--n", "4", "--truncation", "0.7", "--seed", "3", "-o", str(grid)]) == 0
    assert Image.open(grid).size[0] > 32 * 2
    folder = tmp_path / "imgs"
    assert main(["generate", "-c", str(path), "--n", "3", "--seed", "3", "-o", str(folder)]) == 0
    files = sorted(folder.glob("*.png"))
    assert len(files) == 3 and Image.open(files[0]).size == (32, 32)
    again = tmp_path / "imgs2"
    main(["generate", "-c", str(path), "--n", "3", "--seed", "3", "-o", str(again)])
    assert np.array_equal(np.asarray(Image.open(files[1])), np.asarray(Image.open(again / files[1].name)))


def test_project_writes_codes_and_gets_closer(ros_file, tmp_path):
    from genfer.apps.stylegan2 import load_stylegan2

    path, _ = ros_file
    method = load_stylegan2(path)
    target = method.sample(2, seed=11)  # images the generator can make
    files = []
    for i, img in enumerate(target):
        f = tmp_path / f"t{i}.png"
        Image.fromarray((img.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(f)
        files.append(str(f))
    out = tmp_path / "proj"
    args = ["project", "-c", str(path), *files, "-o", str(out), "--distance", "mse", "--noise-regularize", "0"]
    assert main([*args, "--steps", "1"]) == 0
    one = json.loads((out / "results.json").read_text())["mean_distance"]
    assert main([*args, "--steps", "60", "--w-plus"]) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["distance"] == "mse" and res["mean_distance"] < one and res["n"] == 2
    z = np.load(out / "latents.npz")
    assert z["wplus"].shape == (2, method.G.n_latent, 16) and list(z["names"]) == ["t0", "t1"]
    assert z["noise_0"].shape == (2, 1, 4, 4) and (out / "t0.png").is_file()


def test_judge_distance_is_zero_on_equal_images_and_differentiable():
    from genfer.apps.stylegan2 import JudgeDistance
    from genfer.judges import JudgeNet

    dist = JudgeDistance(JudgeNet(3, 7, 8))
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    y = (torch.rand(2, 3, 32, 32) * 2 - 1).requires_grad_(True)
    assert torch.allclose(dist(x, x), torch.zeros(2), atol=1e-6)
    d = dist(y, x)
    assert d.shape == (2,) and (d > 0).all()
    d.sum().backward()
    assert y.grad is not None and y.grad.abs().sum() > 0


def test_project_lpips_without_weights_says_where_to_get_them(ros_file, tmp_path, monkeypatch, capsys):
    path, _ = ros_file
    monkeypatch.setenv("GENFER_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch"))
    monkeypatch.delenv("GENFER_LPIPS_VGG", raising=False)
    img = tmp_path / "x.png"
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(img)
    assert main(["project", "-c", str(path), str(img), "-o", str(tmp_path / "p"), "--steps", "1"]) == 1
    assert "vgg16" in capsys.readouterr().err
