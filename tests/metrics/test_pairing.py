import numpy as np
import pytest
import torch
from PIL import Image

from genfer.metrics.folders import paired_folders
from genfer.metrics.images import load_image, pair_by_name
from genfer.metrics.paired import psnr_metric
from genfer.metrics.quality import psnr


def _save(path, arr):
    Image.fromarray(arr).save(path)


def test_pairing_by_name_not_listing_order(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    for n in ("10", "2", "1"):
        (a / f"{n}.png").touch()
    for n in ("1", "2", "3"):
        (b / f"{n}.jpg").touch()
    (a / "notes.txt").touch()
    p = pair_by_name(a, b)
    assert [(k, x.name, y.name) for k, x, y in p.pairs] == [("1", "1.png", "1.jpg"), ("2", "2.png", "2.jpg")]
    assert p.only_a == ["10"] and p.only_b == ["3"]
    (a / "1.jpg").touch()
    with pytest.raises(ValueError, match="same name"):
        pair_by_name(a, b)


def test_paired_folders_psnr_matches_functional(tmp_path):
    rng = np.random.default_rng(0)
    pred, gt = tmp_path / "pred", tmp_path / "gt"
    pred.mkdir()
    gt.mkdir()
    imgs = {}
    for name in ("c", "a", "b"):
        g = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
        p = np.clip(g.astype(int) + rng.integers(-20, 21, g.shape), 0, 255).astype(np.uint8)
        _save(gt / f"{name}.png", g)
        _save(pred / f"{name}.png", p)
        imgs[name] = (p, g)
    _save(pred / "extra.png", imgs["a"][0])
    r = paired_folders(psnr_metric(), pred, gt, batch_size=2, progress=False)
    vals = [float(psnr(load_image(pred / f"{n}.png")[None], load_image(gt / f"{n}.png")[None])) for n in "abc"]
    assert r["mean"] == pytest.approx(float(np.mean(vals)), abs=1e-9)
    assert r["num_matched"] == 3 and r["unmatched_pred"] == ["extra"] and r["pairing"].startswith("by file name")
    assert r["channel"] == "rgb" and r["data_range"] == 1.0


def test_load_image_rgb_uint8(tmp_path):
    Image.fromarray(np.full((5, 7), 9, dtype=np.uint8), mode="L").save(tmp_path / "g.png")
    t = load_image(tmp_path / "g.png")
    assert t.shape == (3, 5, 7) and t.dtype == torch.uint8 and int(t.max()) == 9
