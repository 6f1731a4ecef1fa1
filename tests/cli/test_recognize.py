"""``genfer recognize`` on photos: table / JSON / CSV rows per face, problems, crops, annotation."""

from __future__ import annotations

import csv
import io
import json
import sys
from contextlib import redirect_stdout
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parents[1]))
from photo_fakes import FAKE, TwoFaceDetector, register_fake, two_tone

from genfer.cli.main import main
from genfer.core.imaging import save_image


@pytest.fixture
def fake(monkeypatch):
    """The fake recogniser registered, and the detector loader swapped for the fake detector."""
    import genfer.apps.photos

    register_fake()
    built: list[tuple] = []

    def load_detector(name="mtcnn", device="cpu", min_face_size=40.0, fast=False):
        built.append((name, min_face_size, fast))
        return TwoFaceDetector()

    monkeypatch.setattr(genfer.apps.photos, "load_detector", load_detector)
    return built


@pytest.fixture
def photos(tmp_path):
    d = tmp_path / "photos"
    save_image(two_tone(), d / "group.png")
    save_image(torch.full((3, 60, 90), 7, dtype=torch.uint8), d / "nobody.png")
    return d


def _run(argv: list[str]) -> tuple[int, str]:
    buf = io.StringIO()
    with redirect_stdout(buf):
        rc = main(argv)
    return rc, buf.getvalue()


def test_json_rows_per_face_and_no_face(fake, photos):
    rc, out = _run(["recognize", str(photos), "--model", FAKE, "--json", "--min-face-size", "25"])
    rows = json.loads(out)
    assert rc == 0 and fake == [("mtcnn", 25.0, False)]
    assert [(Path(r["image"]).name, r["face"]) for r in rows] == [("group.png", 0), ("group.png", 1),
                                                                  ("nobody.png", None)]
    assert rows[0]["expression"] == "happiness" and rows[1]["expression"] == "anger"
    assert rows[0]["box"] == [0, 0, 30, 30] and rows[0]["score"] == pytest.approx(0.99)
    assert rows[0]["neutral"] + rows[0]["happiness"] + rows[0]["anger"] == pytest.approx(1, abs=1e-5)
    assert rows[2]["expression"] is None


def test_table_and_csv(fake, photos):
    rc, out = _run(["recognize", str(photos / "group.png"), str(photos / "nobody.png"), "-m", FAKE])
    lines = out.splitlines()
    assert rc == 0 and lines[0].split()[:5] == ["image", "face", "box", "score", "expression"]
    assert lines[0].split()[5:] == ["neutral", "happiness", "anger"]  # canonical order
    assert "happiness" in lines[1] and "0 0 30 30" in lines[1] and "0.990" in lines[1]
    assert "no face found" in lines[3]
    rc, out = _run(["recognize", str(photos), "-m", FAKE, "--csv", "--min-score", "0.95"])
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rc == 0 and [r["face"] for r in rows] == ["0", ""]  # the 0.9 face is below --min-score
    assert float(rows[0]["x2"]) == 30 and rows[0]["expression"] == "happiness"


def test_unreadable_file_is_reported_and_the_rest_still_printed(fake, photos, capsys):
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    rc = main(["recognize", str(photos), "-m", FAKE, "--json"])
    captured = capsys.readouterr()
    assert rc == 1 and "broken.jpg" in captured.err and "corrupt" in captured.err
    assert len(json.loads(captured.out)) == 3


def test_aligned_crops_fast_and_annotate(fake, photos, tmp_path):
    rc, out = _run(["recognize", str(photos / "group.png"), "-m", FAKE, "--aligned", "--json"])
    rows = json.loads(out)
    assert rc == 0 and fake == [] and len(rows) == 1 and rows[0]["box"] is None
    ann = tmp_path / "ann.png"
    rc, _ = _run(["recognize", str(photos / "group.png"), "-m", FAKE, "--fast", "--annotate", str(ann)])
    assert rc == 0 and fake == [("mtcnn", 40.0, True)] and ann.stat().st_size > 0
    rc, _ = _run(["recognize", str(photos), "-m", FAKE, "--annotate", str(tmp_path / "folder")])
    assert sorted(p.name for p in (tmp_path / "folder").iterdir()) == ["group.png", "nobody.png"]


def test_unknown_model_is_a_clear_error(photos, capsys):
    rc = main(["recognize", str(photos), "--model", "no-such-model"])
    assert rc == 1 and "no-such-model" in capsys.readouterr().err


def test_a_trained_run_crops_by_its_method_preset(fake, photos, tmp_path):
    from genfer.apps.photos import RunRecognizer
    from genfer.data.preprocess.align import PRESETS

    tiny = ["--config", "tiny", "train.device=cpu", "train.progress=false", "train.tensorboard=false",
            "train.max_steps=1"]
    rc, _ = _run(["train", "tdgan", *tiny, "--out", str(tmp_path / "runs"), "--name", "r"])
    assert rc == 0
    run = tmp_path / "runs" / "r"
    rec = RunRecognizer(run)
    assert rec.crop.align == PRESETS["tdgan"].align == "box"
    assert (rec.crop.size, rec.crop.channels) == (rec.cfg.model.image_size, rec.cfg.model.channels)
    rc, out = _run(["recognize", str(photos / "group.png"), "--checkpoint", str(run), "--json"])
    rows = json.loads(out)
    assert rc == 0 and [r["face"] for r in rows] == [0, 1] and len(fake) == 1
    assert all(sum(r[c] for c in ("neutral", "happiness", "sadness", "surprise", "fear", "disgust", "anger"))
               == pytest.approx(1, abs=1e-4) for r in rows)


def test_video_rows_carry_the_frame(fake, tmp_path):
    av = pytest.importorskip("av", reason="PyAV (pip install av) is not installed")
    import numpy as np

    video = tmp_path / "clip.mp4"
    with av.open(str(video), "w") as c:
        s = c.add_stream("mpeg4", rate=10)
        s.width, s.height, s.pix_fmt = 96, 64, "yuv420p"
        for i in range(5):
            arr = np.full((64, 96, 3), 90, np.uint8)
            arr[:, :32] = 255
            if i == 0:
                arr[:] = 0  # a flat frame: no face
            for pkt in s.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    rc, out = _run(["recognize", str(video), "-m", FAKE, "--every", "2", "--csv"])
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rc == 0 and [(r["frame"], r["face"]) for r in rows] == [("0", ""), ("2", "0"), ("2", "1"),
                                                                   ("4", "0"), ("4", "1")]
    rc, out = _run(["recognize", str(video), "-m", FAKE, "--every", "4"])
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["image", "frame", "face"] and "no face found" in lines[1]
