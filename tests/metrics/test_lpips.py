import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from genfer.metrics.lpips import CHANNELS, LPIPS, find_heads, load_lpips, read_heads
from genfer.metrics.paired import lpips_metric
from genfer.metrics.weights import MissingWeightsError

sys.path.insert(0, str(Path(__file__).parent))
from metrics_helpers import kaiming_init, smooth_images


@pytest.fixture(scope="module")
def lpips_wheel() -> Path:
    """The lpips wheel, fetched once with `pip download --no-deps` into a cache folder."""
    base = os.environ.get("GENFER_TEST_CACHE") or str(Path.home() / ".cache" / "genfer" / "test-downloads")
    d = Path(base) / "lpips"
    wheels = sorted(d.glob("lpips-0.1.4-*.whl"))
    if not wheels:
        d.mkdir(parents=True, exist_ok=True)
        try:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check"]
            subprocess.run([*cmd, "lpips==0.1.4", "-d", str(d)], check=True, capture_output=True, timeout=180)
        except (subprocess.SubprocessError, OSError) as e:
            pytest.skip(f"cannot fetch the lpips wheel with pip download: {e}")
        wheels = sorted(d.glob("lpips-0.1.4-*.whl"))
        if not wheels:
            pytest.skip("pip download produced no lpips wheel")
    return wheels[-1]


@pytest.fixture(scope="module", params=["alex", "vgg"])
def random_lpips(request):
    m = kaiming_init(LPIPS(request.param), seed=1)
    with torch.no_grad():  # non-negative heads, like the trained ones
        for i in range(5):
            getattr(m, f"lin{i}").model[1].weight.abs_()
    return m


def test_identical_is_zero_symmetric_and_grows_with_distortion(random_lpips):
    x = smooth_images(4, 64, seed=2)
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(3))
    y = (x + 0.1 * noise).clamp(0, 1)
    with torch.no_grad():
        assert torch.allclose(random_lpips(x, x, (0, 1)), torch.zeros(4), atol=1e-7)
        assert torch.allclose(random_lpips(x, y, (0, 1)), random_lpips(y, x, (0, 1)), rtol=1e-5)
        d = [random_lpips(x, (x + s * noise).clamp(0, 1), (0, 1)).mean().item() for s in (0.02, 0.1, 0.3)]
    assert d[0] > 0 and d[0] < d[1] < d[2], d


def test_input_range_is_explicit(random_lpips):
    x, y = smooth_images(2, 48, seed=4), smooth_images(2, 48, seed=5)
    with torch.no_grad():
        a = random_lpips(x, y, (0, 1))
        b = random_lpips(x * 2 - 1, y * 2 - 1, (-1, 1))
        c = random_lpips(x * 255, y * 255, (0, 255))
    assert torch.allclose(a, b, atol=1e-6) and torch.allclose(a, c, atol=1e-5)


def test_torchvision_backbone_keys_load():
    src = kaiming_init(LPIPS("alex"), seed=6)
    # torchvision's file: features.N.* plus classifier keys that LPIPS ignores
    sd = {f"features.{k}": v for k, v in src.features.state_dict().items()}
    sd["classifier.1.weight"] = torch.zeros(4096, 9216)
    dst = LPIPS("alex")
    dst.load_backbone(sd)
    for k, v in src.features.state_dict().items():
        assert torch.equal(dst.features.state_dict()[k], v)
    assert "features.0.weight" in sd and tuple(sd["features.10.weight"].shape) == (256, 256, 3, 3)
    with pytest.raises(KeyError):
        LPIPS("vgg").load_backbone(sd)


def test_heads_load_from_the_wheel(lpips_wheel, tmp_path, monkeypatch):
    for net in ("alex", "vgg"):
        heads = read_heads(net, lpips_wheel)
        assert {k: tuple(v.shape) for k, v in heads.items()} == {
            f"lin{i}.model.1.weight": (1, c, 1, 1) for i, c in enumerate(CHANNELS[net])
        }
        assert all((v >= 0).all() for v in heads.values())  # v0.1 heads are clamped non-negative
        m = LPIPS(net)
        m.load_heads(heads)
        assert torch.equal(m.lin0.model[1].weight, heads["lin0.model.1.weight"])
    # end to end: a backbone file in torchvision's layout + the wheel in the genfer cache
    monkeypatch.setenv("GENFER_CACHE", str(tmp_path))
    monkeypatch.delenv("GENFER_LPIPS_ALEX", raising=False)
    (tmp_path / "lpips").mkdir()
    (tmp_path / "lpips" / lpips_wheel.name).write_bytes(lpips_wheel.read_bytes())
    assert find_heads("alex") == tmp_path / "lpips" / lpips_wheel.name
    src = kaiming_init(LPIPS("alex"), seed=8)
    bb = tmp_path / "alexnet-owt-7be5be79.pth"
    torch.save({f"features.{k}": v for k, v in src.features.state_dict().items()}, bb)
    m = load_lpips("alex", backbone=bb, check_hash=False)
    assert m.weights_id["heads"].startswith("lpips-0.1.4")
    metric = lpips_metric("alex", model=m, device="cpu")
    x = smooth_images(2, 64, seed=9)
    metric.update(x, x.flip(-1))
    r = metric.compute()
    assert r["metric"] == "lpips_alex" and r["num_pairs"] == 2 and r["mean"] > 0 and r["version"] == "0.1"


def test_missing_weights_say_where_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setenv("GENFER_CACHE", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("GENFER_LPIPS_VGG", raising=False)
    with pytest.raises(MissingWeightsError, match="vgg16-397923af.pth"):
        load_lpips("vgg")
    with pytest.raises(MissingWeightsError, match="pip download --no-deps lpips"):
        find_heads("vgg")
