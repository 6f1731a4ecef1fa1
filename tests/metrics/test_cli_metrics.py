import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from genfer.cli.main import main
from genfer.metrics.inception import FIDInceptionV3

sys.path.insert(0, str(Path(__file__).parent))
from metrics_helpers import kaiming_init


def _folder(path: Path, seed: int, names=("a", "b", "c"), size=24) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for n in names:
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path / f"{n}.png")
    return path


def test_psnr_and_ssim_json_with_settings_and_unmatched(tmp_path, capsys):
    pred = _folder(tmp_path / "pred", 0, names=("a", "b", "c", "x"))
    gt = _folder(tmp_path / "gt", 1)
    out = tmp_path / "res" / "psnr.json"
    assert main(["metrics", "psnr", str(pred), str(gt), "--channel", "y", "--quiet", "--out", str(out)]) == 0
    r = json.loads(out.read_text())
    assert json.loads(capsys.readouterr().out) == r
    assert r["metric"] == "psnr" and r["channel"] == "y" and r["num_pairs"] == 3
    assert r["unmatched_pred"] == ["x"] and "genfer_version" in r
    assert main(["metrics", "ssim", str(pred), str(gt), "--quiet", "--window", "7", "--sigma", "1.0"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["window"] == "gaussian 7x7, sigma 1.0"


def test_fid_with_weights_file_and_missing_weights_message(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GENFER_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("GENFER_FID_INCEPTION", raising=False)
    real = _folder(tmp_path / "real", 2, size=16)
    fake = _folder(tmp_path / "fake", 3, size=16)
    assert main(["metrics", "fid", str(real), str(fake), "--quiet"]) == 1
    assert "pytorch-fid" in capsys.readouterr().err
    w = tmp_path / "random-inception.pth"
    torch.save(kaiming_init(FIDInceptionV3()).state_dict(), w)
    args = ["metrics", "fid", str(real), str(fake), "--weights", str(w), "--no-check-hash", "--device", "cpu",
            "--mode", "legacy_tensorflow", "--quiet"]
    assert main(args) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["fid"] > 0 and (r["num_real"], r["num_fake"]) == (3, 3)
    assert (r["resize_mode"], r["resolution"], r["precision"]) == ("legacy_tensorflow", 299, "fp32")
    assert len(r["weights_sha256"]) == 64 and Path(r["reference_cache"]).is_file()


def test_ed_from_openface_csvs(tmp_path, capsys):
    from genfer.data.aus import AU_NAMES

    header = ", ".join(["face", "confidence", *[f"{n}_r" for n in AU_NAMES]])
    for d, v in (("p", 1.0), ("g", 2.0)):
        (tmp_path / d).mkdir()
        (tmp_path / d / "img1.csv").write_text(header + "\n" + ", ".join(["0", "0.9", *[str(v)] * 17]) + "\n")
    assert main(["metrics", "ed", str(tmp_path / "p"), str(tmp_path / "g"), "--quiet"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["mean"] == pytest.approx(17**0.5) and r["embedder"] == "openface2-au17-intensity"


def test_acd_without_identity_weights_fails_clearly(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GENFER_CACHE", str(tmp_path / "empty-cache"))  # weights never fetched here
    pred, gt = _folder(tmp_path / "p", 4), _folder(tmp_path / "g", 5)
    assert main(["metrics", "acd", str(pred), str(gt), "--embedder", "face_api", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "face-api" in err and "genfer weights fetch faceapi" in err
