"""genfer.apps.photos: every face of photos, folders and videos, with fakes for the detector and the net."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from photo_fakes import FakeRecognizer, TwoFaceDetector, two_tone

from genfer.apps.photos import (
    DetectorUnavailableError,
    PhotoSettings,
    Problem,
    expand_inputs,
    face_crops,
    looks_like_crop,
    recognize_photos,
)
from genfer.core.imaging import save_image


@pytest.fixture
def photos(tmp_path):
    """A folder: a two-face photo, a flat photo (no face), a nested one, a broken file, non-images."""
    d = tmp_path / "in"
    (d / "sub").mkdir(parents=True)
    save_image(two_tone(), d / "a.png")
    save_image(torch.full((3, 60, 90), 128, dtype=torch.uint8), d / "b_flat.png")
    save_image(two_tone(45, 99), d / "sub" / "c.jpg")
    (d / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (d / "notes.txt").write_text("not an image")
    save_image(two_tone(), d / ".hidden.png")
    return d


def test_folder_rows_problems_and_class_order(photos):
    rec, det = FakeRecognizer(), TwoFaceDetector()
    problems: list[Problem] = []
    rows = list(recognize_photos([photos], rec, det, problems=problems))
    assert [(Path(r.file).name, r.face) for r in rows] == [
        ("a.png", 0), ("a.png", 1), ("b_flat.png", None), ("c.jpg", 0), ("c.jpg", 1)]
    assert [Path(p.file).name for p in problems] == ["broken.jpg"] and "corrupt" in problems[0].reason
    a0, a1 = rows[0], rows[1]
    # bright left face -> happiness, dark right face -> anger; columns in canonical order
    assert a0.expression == "happiness" and a1.expression == "anger"
    assert list(a0.probabilities) == ["neutral", "happiness", "anger"]
    assert sum(a0.probabilities.values()) == pytest.approx(1, abs=1e-6)
    assert a0.box == pytest.approx((0, 0, 30, 30)) and a0.score == pytest.approx(0.99)
    assert len(a0.landmarks) == 5
    assert rows[2].expression is None and rows[2].probabilities == {}
    # every face cut by the recogniser's own rule: 16x16 grey
    assert set(rec.seen) == {(2, 1, 16, 16)} and det.flips == [True, True, True]


def test_records_are_flat_and_complete(photos):
    files = [photos / "a.png", photos / "b_flat.png"]
    rows = list(recognize_photos(files, FakeRecognizer(), TwoFaceDetector()))
    classes = ["neutral", "happiness", "anger"]
    r = rows[0].to_record(classes)
    assert list(r) == ["image", "face", "box", "score", "expression", *classes]
    assert r["box"] == [0, 0, 30, 30] and r["expression"] == "happiness"
    none = rows[2].to_record(classes, video=True)
    assert none["face"] is None and none["frame"] is None and none["anger"] is None


def test_face_crops_follow_the_crop_rule():
    img = torch.zeros(3, 40, 40, dtype=torch.uint8)
    img[0, 10:20, 20:30] = 255  # a red square
    from genfer.data.preprocess.align import CropPreset
    from genfer.data.preprocess.detections import FaceDetections

    d = FaceDetections(torch.tensor([[20.0, 10.0, 30.0, 20.0]]), torch.zeros(1, 5, 2), torch.ones(1))
    rgb = face_crops(img, d, CropPreset("t", "box", 8, 3))
    assert rgb.shape == (1, 3, 8, 8) and bool((rgb[0, 0] == 255).all()) and int(rgb[0, 1:].max()) == 0
    grey = face_crops(img, d, CropPreset("t", "box", 8, 1))
    assert grey.shape == (1, 1, 8, 8) and bool((grey == round(0.299 * 255)).all())  # ITU-R 601 luma
    whole = face_crops(img, None, CropPreset("t", "box", 20, 1))
    assert whole.shape == (1, 1, 20, 20)


def test_crops_skip_detection_and_the_detector_is_built_lazily(tmp_path):
    crop = tmp_path / "crop.png"
    save_image(two_tone(24, 24), crop)  # square and <= 2 x the fake's 16 px input
    assert looks_like_crop((24, 24), FakeRecognizer.crop)
    assert not looks_like_crop((24, 40), FakeRecognizer.crop)  # not square
    assert not looks_like_crop((40, 40), FakeRecognizer.crop)  # > 2 x 16 px
    built = []

    def build():
        built.append(1)
        return TwoFaceDetector()

    rows = list(recognize_photos([crop], FakeRecognizer(), build))
    assert len(rows) == 1 and rows[0].face == 0 and rows[0].box is None and rows[0].score is None
    assert not built
    rows = list(recognize_photos([crop], FakeRecognizer(), build, PhotoSettings(aligned="no")))
    assert len(rows) == 2 and built == [1]
    big = tmp_path / "big.png"
    save_image(two_tone(), big)
    det = TwoFaceDetector()
    rows = list(recognize_photos([big], FakeRecognizer(), det, PhotoSettings(aligned="yes")))
    assert len(rows) == 1 and det.calls == 0

    def broken():
        raise FileNotFoundError("weights not fetched")

    with pytest.raises(DetectorUnavailableError, match="weights not fetched"):
        list(recognize_photos([big], FakeRecognizer(), broken))


def test_min_score_and_missing_inputs(photos, tmp_path):
    problems: list[Problem] = []
    rows = list(recognize_photos([photos / "a.png", tmp_path / "nope.jpg", photos / "sub"], FakeRecognizer(),
                                 TwoFaceDetector(), PhotoSettings(min_score=0.95), problems=problems))
    assert [(Path(r.file).name, r.face) for r in rows] == [("a.png", 0), ("c.jpg", 0)]  # 0.9 faces dropped
    reasons = {Path(p.file).name: p.reason for p in problems}
    assert reasons["nope.jpg"] == "file not found"
    files, bad = expand_inputs([tmp_path / "empty"])
    assert files == [] and "not found" in bad[0].reason
    (tmp_path / "empty").mkdir()
    assert "no image" in expand_inputs([tmp_path / "empty"])[1][0].reason


def test_annotate_file_and_folder(photos, tmp_path):
    one = tmp_path / "one.jpg"
    list(recognize_photos([photos / "a.png"], FakeRecognizer(), TwoFaceDetector(), annotate=one))
    with Image.open(one) as im:
        assert im.size == (90, 60)
        assert im.getpixel((45, 55))[1] < 50  # away from the boxes the photo is unchanged (black)
        assert im.getpixel((45, 0))[1] > 200  # the left face's label (green) runs along the top edge
    out = tmp_path / "ann"
    list(recognize_photos([photos], FakeRecognizer(), TwoFaceDetector(), annotate=out))
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.*"))
    assert written == ["a.png", "b_flat.png", "sub/c.jpg"]


def test_settings_are_checked():
    with pytest.raises(ValueError, match="aligned"):
        PhotoSettings(aligned="maybe")
    with pytest.raises(ValueError, match="every"):
        PhotoSettings(every=0)


# --- video ---------------------------------------------------------------------------------------------
def _write_video(path: Path, frames: int = 6) -> None:
    av = pytest.importorskip("av", reason="PyAV (pip install av) is not installed")
    import numpy as np

    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4", rate=10)
        s.width, s.height, s.pix_fmt = 96, 64, "yuv420p"
        for i in range(frames):
            arr = np.full((64, 96, 3), 100, np.uint8)
            arr[:, :32] = 255 if i % 4 < 2 else 0  # the left face turns dark in frames 2, 3
            for pkt in s.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)


def test_video_frames_every_n(tmp_path):
    video = tmp_path / "clip.mp4"
    _write_video(video)
    rows = list(recognize_photos([video], FakeRecognizer(), TwoFaceDetector(), PhotoSettings(every=2),
                                 annotate=tmp_path / "ann"))
    assert [(r.frame, r.face) for r in rows] == [(0, 0), (0, 1), (2, 0), (2, 1), (4, 0), (4, 1)]
    assert [r.expression for r in rows if r.face == 0] == ["happiness", "anger", "happiness"]
    assert sorted(p.name for p in (tmp_path / "ann").iterdir()) == [
        "clip_f000000.jpg", "clip_f000002.jpg", "clip_f000004.jpg"]


def test_video_without_decoder_is_a_clear_problem(tmp_path, monkeypatch):
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\x00" * 64)
    monkeypatch.setitem(sys.modules, "av", None)  # import av -> ImportError
    problems: list[Problem] = []
    rows = list(recognize_photos([video], FakeRecognizer(), TwoFaceDetector(), problems=problems))
    assert rows == [] and "pip install av" in problems[0].reason


def test_undecodable_video_is_a_problem(tmp_path):
    pytest.importorskip("av", reason="PyAV (pip install av) is not installed")
    video = tmp_path / "junk.mp4"
    video.write_bytes(b"not a video at all" * 10)
    problems: list[Problem] = []
    assert list(recognize_photos([video], FakeRecognizer(), TwoFaceDetector(), problems=problems)) == []
    assert Path(problems[0].file).name == "junk.mp4" and "video" in problems[0].reason
