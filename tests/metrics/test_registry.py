import pytest
import torch

import genfer.metrics  # noqa: F401  (registers the protocols)
from genfer.core.registry import METRICS

EXPECTED = {"accuracy", "fid", "kid", "is", "lpips_alex", "lpips_vgg", "psnr", "ssim", "l2", "acd", "ed"}


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
