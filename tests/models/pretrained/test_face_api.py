"""face-api.js ports (descriptor, expression, 68 landmarks) against the original tfjs runtime.

The fixture (face crops and face-api's outputs in Node with tfjs 4.22 wasm) was made by
tools/references/faceapi_node_reference.js through tools/references/faceapi_fixtures.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from genfer.models.pretrained import tfjs
from genfer.models.pretrained.face_api.input import pad_to_square, to_batch_tensor

FIXTURES = Path(__file__).parents[2] / "fixtures" / "pretrained" / "faceapi"
TOL = 1e-4


# --- tfjs reader and ops, no weights needed ---------------------------------------------------------
def _manifest(tmp_path: Path, weights: list[dict], shards: list[bytes]) -> Path:
    for i, blob in enumerate(shards):
        (tmp_path / f"m.bin{i}").write_bytes(blob)
    groups = [{"paths": [f"m.bin{i}" for i in range(len(shards))], "weights": weights}]
    p = tmp_path / "m-weights_manifest.json"
    p.write_text(json.dumps(groups))
    return p


def test_read_manifest_decodes_every_storage_across_shards(tmp_path):
    f32 = np.arange(6, dtype="<f4") - 2.5
    q8 = np.array([0, 1, 255, 7], dtype="u1")
    q16 = np.array([0, 65535, 300], dtype="<u2")
    f16 = np.array([0.5, -3.25], dtype="<f2")
    blob = f32.tobytes() + q8.tobytes() + q16.tobytes() + f16.tobytes()
    weights = [
        {"name": "a/filters", "shape": [1, 2, 3, 1], "dtype": "float32"},
        {"name": "b", "shape": [4], "dtype": "float32",
         "quantization": {"dtype": "uint8", "scale": 0.1, "min": -1}},
        {"name": "c", "shape": [3], "dtype": "float32",
         "quantization": {"dtype": "uint16", "scale": 2e-3, "min": 1}},
        {"name": "d", "shape": [2], "dtype": "float32", "quantization": {"dtype": "float16"}},
    ]
    got = tfjs.read_manifest(_manifest(tmp_path, weights, [blob[:10], blob[10:]]))  # split mid-tensor
    assert list(got) == ["a/filters", "b", "c", "d"]
    assert got["a/filters"].shape == (1, 2, 3, 1)
    assert torch.equal(got["a/filters"].flatten(), torch.from_numpy(f32))
    assert torch.equal(got["b"], torch.from_numpy((q8 * 0.1 - 1).astype(np.float32)))
    assert torch.equal(got["c"], torch.from_numpy((q16 * 2e-3 + 1).astype(np.float32)))
    assert got["d"].tolist() == [0.5, -3.25] and got["d"].dtype == torch.float32


def test_read_manifest_rejects_wrong_sizes_and_bad_quantisation(tmp_path):
    spec = [{"name": "a", "shape": [4], "dtype": "float32"}]
    with pytest.raises(tfjs.TfjsWeightsError, match="shards end"):
        tfjs.read_manifest(_manifest(tmp_path, spec, [b"\0" * 12]))
    with pytest.raises(tfjs.TfjsWeightsError, match="uses 16"):
        tfjs.read_manifest(_manifest(tmp_path, spec, [b"\0" * 20]))
    bad = [{"name": "a", "shape": [4], "dtype": "float32", "quantization": {"dtype": "uint8", "scale": 1}}]
    with pytest.raises(tfjs.TfjsWeightsError, match="without scale and min"):
        tfjs.read_manifest(_manifest(tmp_path, bad, [b"\0" * 4]))


def test_kernel_layouts_match_tf_convolution_semantics():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 4, 5, 5, generator=g)
    hwio = torch.randn(3, 3, 4, 6, generator=g)
    out = F.conv2d(x, tfjs.conv_kernel(hwio))
    # TF: out[i, j, o] = sum_{dy, dx, c} x[i + dy, j + dx, c] * w[dy, dx, c, o]
    want = torch.einsum("cyx,yxco->o", x[0, :, 1:4, 2:5], hwio)
    torch.testing.assert_close(out[0, :, 1, 2], want)
    hwcm = torch.randn(3, 3, 4, 2, generator=g)  # depthwise, multiplier 2: out channel c * 2 + m
    out = F.conv2d(x, tfjs.depthwise_kernel(hwcm), groups=4)
    want = torch.einsum("cyx,yxcm->cm", x[0, :, 0:3, 0:3], hwcm).reshape(-1)
    torch.testing.assert_close(out[0, :, 0, 0], want)


def test_tf_same_padding_puts_the_odd_pixel_after():
    assert tfjs.tf_same_pad(112, 3, 2) == (0, 1)
    assert tfjs.tf_same_pad(7, 3, 1) == (1, 1)
    assert tfjs.tf_same_pad(113, 3, 2) == (1, 1)
    assert tfjs.tf_same_pad(8, 1, 2) == (0, 0)
    assert tfjs.pad_same(torch.ones(1, 1, 4, 4), 3, 2).shape == (1, 1, 5, 5)


def _resize_loops(img: np.ndarray, h: int, w: int) -> np.ndarray:
    """tfjs' ResizeBilinear kernel (alignCorners=false, halfPixelCenters=false), written out."""
    ih, iw = img.shape
    out = np.zeros((h, w))
    for r in range(h):
        sr = r * ih / h
        r0, r1 = int(np.floor(sr)), min(ih - 1, int(np.ceil(sr)))
        for c in range(w):
            sc = c * iw / w
            c0, c1 = int(np.floor(sc)), min(iw - 1, int(np.ceil(sc)))
            top = img[r0, c0] + (img[r0, c1] - img[r0, c0]) * (sc - c0)
            bot = img[r1, c0] + (img[r1, c1] - img[r1, c0]) * (sc - c0)
            out[r, c] = top + (bot - top) * (sr - r0)
    return out


@pytest.mark.parametrize("src,dst", [((5, 7), (3, 4)), ((3, 2), (7, 5)), ((150, 121), (112, 112))])
def test_tf_resize_bilinear_is_tfjs_sampling_not_half_pixel(src, dst):
    img = np.random.default_rng(1).uniform(0, 255, src)
    got = tfjs.tf_resize_bilinear(torch.tensor(img, dtype=torch.float64)[None, None], dst)[0, 0].numpy()
    np.testing.assert_allclose(got, _resize_loops(img, *dst), atol=1e-9)
    half_pixel = F.interpolate(torch.tensor(img)[None, None], dst, mode="bilinear", align_corners=False)
    assert not np.allclose(got, half_pixel[0, 0].numpy(), atol=1e-3)


def test_pad_to_square_centres_with_js_rounding():
    tall = torch.ones(3, 7, 4)  # diff 3: Math.round(1.5) = 2 columns after, 1 before
    sq = pad_to_square(tall)
    assert sq.shape == (3, 7, 7)
    assert sq[:, :, 0].sum() == 0 and sq[:, :, 1].all() and sq[:, :, 4].all() and sq[:, :, 5:].sum() == 0
    wide = pad_to_square(torch.ones(3, 2, 6))
    assert wide.shape == (3, 6, 6) and wide[:, :2].sum() == 0 and wide[:, 2:4].all()
    assert wide[:, 4:].sum() == 0
    mixed = [torch.zeros(3, 9, 5, dtype=torch.uint8), torch.full((3, 4, 4), 255.0) / 255]
    batch, dims = to_batch_tensor(mixed, 8)
    assert batch.shape == (2, 3, 8, 8) and dims == [(9, 5), (4, 4)] and batch[1].eq(255).all()


def test_missing_weights_name_the_fetch_command(tmp_path):
    from genfer.metrics.embedding import EmbedderUnavailableError, build_embedder
    from genfer.models.pretrained import face_api

    with pytest.raises(FileNotFoundError, match="genfer weights fetch faceapi"):
        face_api.build_embedder(cache=str(tmp_path))
    with pytest.raises(FileNotFoundError, match="genfer weights fetch faceapi"):
        face_api.landmarks68(torch.zeros(1, 3, 8, 8), weights=tmp_path)
    with pytest.raises(EmbedderUnavailableError, match="genfer weights fetch faceapi"):
        build_embedder("face_api", cache=str(tmp_path))


# --- against the original runtime -------------------------------------------------------------------
@pytest.fixture(scope="module")
def model_dir() -> Path:
    """face-api's model folder, fetched once with npm into the test cache (skips if that fails)."""
    from genfer.core.weights import WeightsError, fetch

    cache = os.environ.get("GENFER_TEST_CACHE") or str(Path.home() / ".cache" / "genfer" / "test-downloads")
    try:
        files = fetch("faceapi", cache=cache)
    except WeightsError as e:
        pytest.skip(f"cannot fetch the face-api npm package: {e}")
    return next(iter(files.values())).parent


@pytest.fixture(scope="module")
def ref() -> dict[str, np.ndarray]:
    with np.load(FIXTURES / "reference.npz") as z:
        return dict(z)


@pytest.fixture(scope="module")
def crops(ref) -> list[torch.Tensor]:
    return [torch.from_numpy(ref[f"crop{i}"]).permute(2, 0, 1).contiguous() for i in range(len(ref["names"]))]


@pytest.fixture(scope="module")
def embedder(model_dir):
    from genfer.metrics.embedding import build_embedder

    return build_embedder("face_api", weights=model_dir)


def test_fixture_records_the_original_runtime():
    meta = json.loads((FIXTURES / "reference.json").read_text())
    assert meta["versions"]["faceapi"] == "1.7.15" and meta["versions"]["tfjs"] == "4.22.0"
    assert meta["backend"] == "wasm"
    from genfer.models.pretrained.face_api import FACEAPI_LABELS

    assert tuple(meta["expression_labels"]) == FACEAPI_LABELS


def test_descriptors_match_faceapi(embedder, crops, ref):
    assert embedder.name == "face_api-recognition-128d" and embedder.distance == "l2"
    got = embedder(crops).numpy()  # crops of six different sizes in one call
    assert got.shape == (len(crops), 128)
    assert np.abs(got - ref["descriptors"]).max() <= TOL
    one = embedder(crops[3][None]).numpy()  # a [1, 3, H, W] batch takes the batched path
    assert np.abs(one[0] - ref["descriptors"][3]).max() <= TOL


def test_descriptor_distances_same_and_different_people(embedder, crops):
    d = embedder(crops)
    twice = embedder([crops[0], crops[0]])
    assert (twice[0] - twice[1]).norm() == 0  # same crop: distance 0
    dist = torch.cdist(d, d)
    mirrored = (embedder([c.flip(-1) for c in crops]) - d).norm(dim=1)  # same person, mirrored photo
    others = dist[~torch.eye(len(crops), dtype=torch.bool)]
    assert mirrored.max() < 0.6 < others.mean()
    assert others.min() > mirrored.max()
    # face-api's 0.6 threshold is not a hard margin: two pairs of these six women sit at 0.57
    assert (others > 0.6).float().mean() > 0.8


def test_descriptor_is_differentiable_in_float_input(embedder, crops):
    x = (crops[5][None].float() / 255).requires_grad_(True)
    d = embedder(x)
    assert np.abs(d.detach().numpy() - embedder(crops[5][None]).numpy()).max() < 1e-5
    d.norm().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_expressions_match_faceapi_and_follow_the_recognizer_contract(model_dir, crops, ref):
    from genfer.core.registry import PRETRAINED
    from genfer.data.labels import BASIC7
    from genfer.models.pretrained.base import ExpressionRecognizer
    from genfer.models.pretrained.face_api import FaceApiExpression

    assert "faceapi" in PRETRAINED
    rec = FaceApiExpression(weights=model_dir)
    assert isinstance(rec, ExpressionRecognizer)
    assert rec.classes == ("neutral", "happiness", "sadness", "anger", "fear", "disgust", "surprise")
    assert set(rec.classes) == set(BASIC7)
    assert (rec.crop.align, rec.crop.size, rec.crop.channels) == ("box", 112, 3)
    probs = rec(crops)
    assert np.abs(probs.numpy() - ref["expressions"]).max() <= TOL
    square = torch.stack([F.interpolate(c[None].float(), (112, 112))[0].to(torch.uint8) for c in crops])
    p = rec(square)  # the contract's input: uint8 crops at crop.size
    assert p.shape == (len(crops), 7) and torch.allclose(p.sum(1), torch.ones(len(crops)))


def test_landmarks_match_faceapi(model_dir, crops, ref):
    from genfer.models.pretrained.face_api import landmarks68

    got = landmarks68(crops, weights=model_dir).double()
    sizes = torch.tensor([[c.shape[2], c.shape[1]] for c in crops], dtype=torch.float64)[:, None]
    assert got.shape == (len(crops), 68, 2)
    assert (got / sizes - torch.from_numpy(ref["landmarks_relative"])).abs().max() <= TOL
    assert (got - torch.from_numpy(ref["landmarks"])).abs().max() <= 1e-3  # pixels
    # iBUG order: the jaw runs from the subject's right (image left) to left; the nose tip is central
    assert (got[:, 16, 0] > got[:, 0, 0]).all() and (got[:, 30, 0] > got[:, 0, 0]).all()
