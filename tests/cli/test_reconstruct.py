"""``genfer reconstruct``: per-face reconstruction, mask, colour map and M x; folders and class folders."""

from __future__ import annotations

import io
from contextlib import redirect_stdout
from pathlib import Path

import pytest
import torch

from genfer.cli.main import main
from genfer.core.imaging import save_image

TINY = ["--config", "tiny", "train.device=cpu", "train.progress=false", "train.tensorboard=false"]


def _run(argv: list[str]) -> tuple[int, str]:
    buf = io.StringIO()
    with redirect_stdout(buf):
        rc = main(argv)
    return rc, buf.getvalue()


@pytest.fixture(scope="module")
def cdan_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    rc, text = _run(["train", "cdan", *TINY, "--out", str(out), "--name", "cdan", "train.max_steps=1"])
    assert rc == 0 and "run directory" in text
    return out / "cdan"


def _faces(root: Path) -> None:
    from genfer.data.synthface import SynthFace

    ds = SynthFace(1, 3, size=56, channels=3, seed=1)
    save_image(ds.images[0], root / "flat.png")
    save_image(ds.images[1], root / "happy" / "h1.png")
    save_image(ds.images[2], root / "sad" / "s1.jpg")


def test_reconstruct_writes_four_parts_per_face_keeping_class_folders(cdan_run, tmp_path):
    src = tmp_path / "in"
    _faces(src)
    out = tmp_path / "out"
    rc, text = _run(["reconstruct", "--checkpoint", str(cdan_run), str(src), "-o", str(out), "--aligned"])
    assert rc == 0 and "3 face(s), 12 file(s)" in text
    for stem in ("flat", "happy/h1", "sad/s1"):
        for part in ("rec", "mask", "color", "masked"):
            assert (out / f"{stem}_{part}.png").is_file(), (stem, part)
    from genfer.data.io import read_image

    mask = read_image(out / "flat_mask.png", channels=3)
    assert mask.shape == (3, 56, 56) and torch.equal(mask[0], mask[1])  # grey
    rc, _ = _run(["reconstruct", "-c", str(cdan_run), str(src), "-o", str(tmp_path / "parts"), "--aligned",
                  "--by-part"])
    assert rc == 0 and (tmp_path / "parts" / "rec" / "happy" / "h1.png").is_file()
    assert (tmp_path / "parts" / "masked" / "sad" / "s1.png").is_file()


def test_reconstruct_in_bf16_writes_what_fp32_writes_within_rounding(cdan_run, tmp_path):
    from genfer.data.io import read_image

    src = tmp_path / "in"
    _faces(src)
    for prec in ("fp32", "bf16"):
        rc, text = _run(["reconstruct", "-c", str(cdan_run), str(src), "-o", str(tmp_path / prec), "--aligned",
                         "--precision", prec])
        assert rc == 0 and "3 face(s), 12 file(s)" in text
    a, b = (read_image(tmp_path / p / "happy" / "h1_rec.png", channels=3).float() for p in ("fp32", "bf16"))
    assert 0 < (a - b).abs().mean() < 8  # of 255: bf16 rounding (2.3 here, untrained), not another picture


def test_reconstruct_names_a_missing_input_and_a_bad_checkpoint(cdan_run, tmp_path, capsys):
    src = tmp_path / "in"
    _faces(src)
    rc, text = _run(["reconstruct", "-c", str(cdan_run), str(src / "flat.png"), str(tmp_path / "nope.png"),
                     "-o", str(tmp_path / "o"), "--aligned"])
    assert rc == 0 and "nope.png" in text and "1 face(s)" in text
    rc = main(["reconstruct", "-c", str(tmp_path / "CDAN.pth"), str(src), "-o", str(tmp_path / "o2")])
    assert rc != 0 and "CDAN.pth" in capsys.readouterr().err
    (tmp_path / "CDAN.pth").write_bytes(b"not a checkpoint")
    rc = main(["reconstruct", "-c", str(tmp_path / "CDAN.pth"), str(src), "-o", str(tmp_path / "o2")])
    assert rc == 1 and "not a readable weights-only" in capsys.readouterr().err
    torch.save({"encoder.conv_in.weight": torch.zeros(128, 3, 3, 3)}, tmp_path / "CDAN.pth")
    rc = main(["reconstruct", "-c", str(tmp_path / "CDAN.pth"), str(src), "-o", str(tmp_path / "o2")])
    err = capsys.readouterr().err
    assert rc == 1 and "key(s) of the CDAN model are missing: encoder.conv_in.bias" in err


def test_eval_of_a_cdan_run_reports_parsing_figures(cdan_run, tmp_path):
    import json

    rc, text = _run(["eval", "--checkpoint", str(cdan_run), "--out", str(tmp_path / "ev")])
    assert rc == 0 and "parsing AUC" in text
    m = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert set(m["auc"]) == {"overall", "AU01", "AU04", "AU06", "AU12", "AU15", "AU25"}
    assert all(0 <= v <= 1 for v in m["auc"].values())
    assert m["psnr"] > 0 and 0 <= m["au_mae_masked"] <= 5 and "settings" in m
    assert all(v == 0 for v in m["pr_released"].values() if v == v)
    assert (tmp_path / "ev" / "masks.png").is_file()
    assert {"fid", "is", "acd", "ed"} <= set(m)  # numbers, or why not (no weights here)
    assert (tmp_path / "ev" / "rec" / "00000.png").is_file() and (tmp_path / "ev" / "real" / "00000.png").is_file()
