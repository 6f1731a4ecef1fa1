import itertools
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import linalg

from genfer.metrics.distribution import fid_folders, is_folder, kid_folders, load_reference_stats
from genfer.metrics.extractor import InceptionExtractor
from genfer.metrics.fid import (
    FID,
    KID,
    InceptionScore,
    fid_from_features,
    frechet_distance,
    inception_score_from_logits,
    kid_from_features,
    mean_cov,
    sqrtm_psd,
    trace_sqrt_product,
)
from genfer.metrics.inception import FIDInceptionV3, fold_batchnorm, load_fid_inception
from genfer.metrics.weights import MissingWeightsError, WeightsHashError

sys.path.insert(0, str(Path(__file__).parent))
from metrics_helpers import kaiming_init, smooth_images


def _psd(d, rank, seed):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(d, rank, generator=g, dtype=torch.float64)
    return a @ a.T


@pytest.mark.parametrize("d,rank", [(8, 8), (30, 30), (30, 10)])
def test_sqrtm_matches_scipy(d, rank):
    a = _psd(d, rank, d + rank)
    ours = sqrtm_psd(a)
    ref = np.real(linalg.sqrtm(a.numpy()))
    np.testing.assert_allclose(ours.numpy(), ref, atol=1e-6 * float(a.abs().max()))
    assert torch.allclose(ours @ ours, a, atol=1e-8 * float(a.abs().max()))


def test_trace_term_matches_scipy_sqrtm_of_product():
    s1, s2 = _psd(20, 20, 1), _psd(20, 12, 2)
    ref = np.trace(np.real(linalg.sqrtm(s1.numpy() @ s2.numpy())))
    assert trace_sqrt_product(s1, s2) == pytest.approx(ref, rel=1e-7)


def test_frechet_distance_matches_reference_formula():
    g = torch.Generator().manual_seed(3)
    a = torch.randn(200, 16, generator=g, dtype=torch.float64)
    b = torch.randn(150, 16, generator=g, dtype=torch.float64) * 1.3 + 0.2
    mu1, s1 = a.mean(0).numpy(), np.cov(a.numpy(), rowvar=False)
    mu2, s2 = b.mean(0).numpy(), np.cov(b.numpy(), rowvar=False)
    ref = ((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(np.real(linalg.sqrtm(s1 @ s2)))
    assert fid_from_features(a, b) == pytest.approx(ref, rel=1e-8)
    # fewer samples than dimensions: the low-rank path equals the dense eigendecomposition path
    a_few, b_few = a[:9], b[:12]
    dense = frechet_distance(*mean_cov(a_few), *mean_cov(b_few))
    assert fid_from_features(a_few, b_few) == pytest.approx(dense, rel=1e-8)
    mu, cov = mean_cov(a)
    assert frechet_distance(mu, cov, mu, cov) == pytest.approx(0.0, abs=1e-9)


def test_accumulating_fid_equals_functional_and_uses_float64():
    g = torch.Generator().manual_seed(4)
    real, fake = torch.randn(40, 8, generator=g), torch.randn(30, 8, generator=g) + 0.5
    m = FID(dim=8)
    for i in range(0, 40, 7):
        m.update_features(real[i : i + 7], real=True)
    for i in range(0, 30, 9):
        m.update_features(fake[i : i + 9], real=False)
    assert m.local_state()["real_outer"].dtype == torch.float64
    r = m.compute()
    assert r["fid"] == pytest.approx(fid_from_features(real, fake), rel=1e-9)
    assert (r["num_real"], r["num_fake"]) == (40, 30)
    m2 = FID(dim=8)
    m2.set_real_stats(*mean_cov(real), 40)
    m2.update_features(fake, real=False)
    assert m2.compute()["fid"] == pytest.approx(r["fid"], rel=1e-9)


def test_kid_zero_for_same_distribution_and_positive_otherwise():
    g = torch.Generator().manual_seed(5)
    a, b = torch.randn(300, 16, generator=g), torch.randn(300, 16, generator=g)
    same = kid_from_features(a, b, subsets=20, subset_size=100)
    shifted = kid_from_features(a, b + 1.0, subsets=20, subset_size=100)
    assert abs(same["kid_mean"]) < 3 * same["kid_std"] + 1e-3
    assert shifted["kid_mean"] > 10 * abs(same["kid_mean"]) and shifted["kid_mean"] > 0
    assert same["subset_size"] == 100 and kid_from_features(a[:50], b, 3, 1000)["subset_size"] == 50


def test_kid_matches_explicit_unbiased_mmd():
    g = torch.Generator().manual_seed(6)
    x, y = torch.randn(10, 4, generator=g, dtype=torch.float64), torch.randn(10, 4, generator=g, dtype=torch.float64)
    r = kid_from_features(x, y, subsets=1, subset_size=10)  # subset = whole set, order irrelevant

    def k(a, b):
        return (a @ b / 4 + 1) ** 3

    m = 10
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    assert r["kid_mean"] == pytest.approx(float(xx + yy - 2 * xy), rel=1e-9)


def test_inception_score_bounds():
    uniform = torch.zeros(40, 1008)
    assert inception_score_from_logits(uniform, splits=4)["is_mean"] == pytest.approx(1.0)
    # confident and evenly spread over 10 classes within every split -> IS = 10
    confident = torch.full((40, 1008), -50.0)
    confident[torch.arange(40), torch.arange(40) % 10] = 50.0
    r = inception_score_from_logits(confident, splits=4, seed=None)
    assert r["is_mean"] == pytest.approx(10.0, rel=1e-6) and r["is_std"] < 1e-6
    m = InceptionScore(splits=4, seed=None)
    m.update_logits(confident[:25])
    m.update_logits(confident[25:])
    assert m.compute()["is_mean"] == pytest.approx(10.0, rel=1e-6)


@pytest.fixture(scope="module")
def random_extractor():
    return InceptionExtractor(
        model=kaiming_init(FIDInceptionV3()), mode="legacy_pytorch", resolution=75, device="cpu", batch_size=16
    )


def test_fid_of_set_with_itself_is_zero_and_grows_with_noise(random_extractor):
    x = smooth_images(16, 48)
    f0 = random_extractor(x)["pool"]
    assert fid_from_features(f0, random_extractor(x.clone())["pool"]) == pytest.approx(0.0, abs=1e-6)
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
    fids = [fid_from_features(f0, random_extractor((x + s * noise).clamp(0, 1))["pool"]) for s in (0.05, 0.15, 0.4)]
    assert all(a < b for a, b in itertools.pairwise(fids)), fids
    assert fids[0] > 0


def test_extractor_inputs_uint8_float_and_lists_agree(random_extractor):
    x = (smooth_images(3, 40) * 255).round().to(torch.uint8)
    a = random_extractor(x)["pool"]
    b = random_extractor(x.float() / 255)["pool"]
    c = random_extractor(list(x))["pool"]
    assert torch.allclose(a, b, atol=1e-5) and torch.allclose(a, c, atol=1e-6)
    out = random_extractor(x)
    assert out["logits_unbiased"].shape == (3, 1008)
    s = random_extractor.settings()
    assert (s["resize_mode"], s["resolution"], s["precision"]) == ("legacy_pytorch", 75, "fp32")
    bf16 = InceptionExtractor(model=random_extractor.model, mode="legacy_pytorch", resolution=75, device="cpu",
                              precision="bf16")
    c = bf16(x)["pool"]
    assert c.dtype == torch.float32 and bf16.settings()["precision"] == "bf16"
    assert (c - a).norm() / a.norm() < 0.05


def test_reference_key_layout_roundtrip(tmp_path):
    model = kaiming_init(FIDInceptionV3(), seed=7)
    sd = model.state_dict()
    expected = {
        "Conv2d_1a_3x3.conv.weight": (32, 3, 3, 3),
        "Conv2d_4a_3x3.bn.running_var": (192,),
        "Mixed_5b.branch_pool.conv.weight": (32, 192, 1, 1),
        "Mixed_6a.branch3x3.conv.weight": (384, 288, 3, 3),
        "Mixed_6e.branch7x7dbl_5.conv.weight": (192, 192, 1, 7),
        "Mixed_7a.branch7x7x3_4.conv.weight": (192, 192, 3, 3),
        "Mixed_7c.branch3x3dbl_3b.conv.weight": (384, 384, 3, 1),
        "Mixed_7c.branch_pool.conv.weight": (192, 2048, 1, 1),
        "fc.weight": (1008, 2048),
        "fc.bias": (1008,),
    }
    for k, shape in expected.items():
        assert tuple(sd[k].shape) == shape, k
    assert len([k for k in sd if not k.endswith("num_batches_tracked")]) == 94 * 5 + 2
    # save as the reference files are laid out: plain tensors, no BN counters, optional wrapper prefix
    ref = {k: v.clone() for k, v in sd.items() if not k.endswith("num_batches_tracked")}
    path = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    torch.save(ref, path)
    loaded, digest = load_fid_inception(path, check_hash=False)
    assert len(digest) == 64
    x = torch.rand(2, 3, 75, 75) * 2 - 1
    with torch.no_grad():
        a, b = model(x), loaded(x)
    assert torch.equal(a["pool"], b["pool"]) and torch.equal(a["logits_unbiased"], b["logits_unbiased"])
    torch.save({f"module.{k}": v for k, v in ref.items()}, tmp_path / "wrapped.pth")
    wrapped, _ = load_fid_inception(tmp_path / "wrapped.pth", check_hash=False)
    with torch.no_grad():
        assert torch.equal(wrapped(x)["pool"], a["pool"])
    with pytest.raises(WeightsHashError):
        load_fid_inception(path)  # random weights cannot have the published digest
    del ref["fc.bias"]
    torch.save(ref, tmp_path / "broken.pth")
    with pytest.raises(KeyError, match="missing"):
        load_fid_inception(tmp_path / "broken.pth", check_hash=False)


def test_batchnorm_folding_keeps_features():
    model = kaiming_init(FIDInceptionV3(), seed=9)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
    folded = fold_batchnorm(model)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())  # original untouched
    x = torch.rand(2, 3, 75, 75, generator=g) * 2 - 1
    with torch.no_grad():
        a, b = model.pool_features(x), folded.pool_features(x)
    diff = float((a - b).abs().max())
    assert diff <= 1e-4 * float(a.abs().max()), diff  # float rounding through ~90 layers differs by CPU


def test_missing_weights_message_says_where_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setenv("GENFER_CACHE", str(tmp_path))
    monkeypatch.delenv("GENFER_FID_INCEPTION", raising=False)
    with pytest.raises(MissingWeightsError) as e:
        load_fid_inception()
    msg = str(e.value)
    assert "pt_inception-2015-12-05-6726825d.pth" in msg and "pytorch-fid" in msg and str(tmp_path) in msg


def _write_images(folder: Path, images: torch.Tensor, names=None):
    folder.mkdir(parents=True, exist_ok=True)
    for i, im in enumerate(images):
        arr = (im.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        Image.fromarray(arr).save(folder / f"{(names or [f'{j:03d}' for j in range(len(images))])[i]}.png")


def test_folder_fid_kid_is_with_reference_cache(tmp_path, monkeypatch, random_extractor):
    monkeypatch.setenv("GENFER_CACHE", str(tmp_path / "cache"))
    x = smooth_images(12, 48, seed=3)
    _write_images(tmp_path / "real", x)
    _write_images(tmp_path / "same", x)
    _write_images(tmp_path / "fake", (x + 0.3 * torch.rand(x.shape)).clamp(0, 1))
    r = fid_folders(tmp_path / "real", tmp_path / "same", random_extractor, progress=False)
    json.dumps(r)
    assert r["fid"] == pytest.approx(0.0, abs=1e-6)
    assert (r["num_real"], r["num_fake"], r["resize_mode"], r["resolution"]) == (12, 12, "legacy_pytorch", 75)
    cache = Path(r["reference_cache"])
    assert cache.is_file() and cache.parent == tmp_path / "cache" / "fid_stats"
    r2 = fid_folders(tmp_path / "real", tmp_path / "fake", random_extractor, progress=False)
    assert r2["reference_cache"] == r["reference_cache"] and r2["fid"] > 0
    # a changed reference folder gets a new cache entry
    _write_images(tmp_path / "real", x[:1], names=["extra"])
    r3 = fid_folders(tmp_path / "real", tmp_path / "fake", random_extractor, progress=False)
    assert r3["reference_cache"] != r["reference_cache"] and r3["num_real"] == 13
    k = kid_folders(tmp_path / "real", tmp_path / "fake", random_extractor, subsets=5, subset_size=8, progress=False)
    assert k["subset_size"] == 8 and k["kid_mean"] > 0
    s = is_folder(tmp_path / "fake", random_extractor, splits=2, progress=False)
    assert s["num_images"] == 12 and s["is_mean"] >= 1.0


def test_fid_against_npz_reference_stats(tmp_path, random_extractor):
    x = smooth_images(10, 48, seed=4)
    _write_images(tmp_path / "real", x)
    feats = random_extractor((x * 255).round().to(torch.uint8))["pool"]  # what the PNGs hold
    mu, sigma = mean_cov(feats)
    np.savez(tmp_path / "ref.npz", mu=mu.numpy(), sigma=sigma.numpy())
    mu2, sigma2, n = load_reference_stats(tmp_path / "ref.npz")
    assert n is None and torch.allclose(mu2, mu) and torch.allclose(sigma2, sigma)
    r = fid_folders(tmp_path / "ref.npz", tmp_path / "real", random_extractor, progress=False)
    assert r["fid"] == pytest.approx(0.0, abs=1e-6)


def test_kid_metric_class_matches_functional():
    g = torch.Generator().manual_seed(8)
    a, b = torch.randn(30, 6, generator=g), torch.randn(20, 6, generator=g) + 0.3
    m = KID(subsets=4, subset_size=10, dim=6)
    m.update_features(a[:13], real=True)
    m.update_features(a[13:], real=True)
    m.update_features(b, real=False)
    assert m.compute()["kid_mean"] == pytest.approx(kid_from_features(a, b, 4, 10)["kid_mean"], rel=1e-6)
