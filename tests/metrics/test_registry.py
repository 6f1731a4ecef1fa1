import pytest
import torch

import genfer.metrics  # noqa: F401  (registers the protocols)
from genfer.core.registry import METRICS

EXPECTED = {"accuracy", "fid", "kid", "is", "lpips_alex", "lpips_vgg", "psnr", "ssim", "l2", "acd", "id_sim", "ed"}


def test_all_protocols_registered():
    assert set(METRICS.names()) >= EXPECTED
    for name in EXPECTED:
        p = METRICS.get(name)
        assert p.name == name and p.kind in ("recognition", "distribution", "paired", "embedding")


@pytest.mark.parametrize("name", ["psnr", "ssim", "l2"])
def test_paired_protocols_build_and_compute(name):
    m = METRICS.get(name).build()
    a = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    m.update(a, (a + 0.05).clamp(0, 1))
    r = m.compute()
    assert r["metric"] == name and r["num_pairs"] == 2
    assert METRICS.get(name).higher_is_better == (name != "l2")


def test_embedding_protocols_name_their_embedder():
    m = METRICS.get("ed").build(embedder_name="openface2-au17-intensity")
    m.update_embeddings([torch.zeros(17)], [torch.ones(17)])
    assert m.compute()["embedder"] == "openface2-au17-intensity"


def test_every_folder_metric_runs_through_its_protocol():
    """``genfer metrics`` looks protocols up; each non-recognition protocol has a folder runner."""
    for name in METRICS.names():
        p = METRICS.get(name)
        assert (p.folders is None) == (p.kind == "recognition"), name


def test_folder_run_passes_the_protocol_options(tmp_path):
    import numpy as np
    from PIL import Image

    for d, v in (("p", 0), ("g", 255)):
        (tmp_path / d).mkdir()
        Image.fromarray(np.full((8, 8, 3), v, np.uint8)).save(tmp_path / d / "a.png")
    r = METRICS.get("l2").folders(pred=tmp_path / "p", gt=tmp_path / "g", compare_range=[0.0, 1.0], progress=False)
    assert r["compare_range"] == [0.0, 1.0] and r["mean"] == pytest.approx(1.0)  # black vs white on [0, 1]
    r = METRICS.get("l2").folders(pred=tmp_path / "p", gt=tmp_path / "g", progress=False)
    assert r["mean"] == pytest.approx(4.0)  # the protocol's default range [-1, 1]
    from genfer.metrics.folder_metrics import paired

    with pytest.raises(KeyError, match="not a paired"):
        paired("acd", tmp_path / "p", tmp_path / "g")


def test_id_similarity_is_the_cosine_of_identity_embeddings():
    p = METRICS.get("id_sim")
    assert p.kind == "embedding" and p.higher_is_better
    m = p.build(embedder_name="toy")
    a = torch.tensor([1.0, 0.0])
    m.update_embeddings([a, a, None], [a, torch.tensor([0.0, 2.0]), a])  # cos 1, cos 0, one without a face
    r = m.compute()
    assert r["metric"] == "id_sim" and r["mean"] == pytest.approx(0.5) and r["std"] == pytest.approx(0.5)
    assert r["num_pairs"] == 2 and r["num_no_face"] == 1 and r["distance"] == "cosine"
