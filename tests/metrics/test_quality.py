import numpy as np
import pytest
import torch
from skimage import data
from skimage.color import rgb2ycbcr
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from genfer.metrics.paired import l2_metric, psnr_metric, ssim_metric
from genfer.metrics.quality import mse, psnr, ssim


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(a).permute(2, 0, 1)[None]


def _sk_ssim(a, b, data_range, channel_axis=-1):
    return structural_similarity(
        a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=data_range,
        channel_axis=channel_axis,
    )


@pytest.fixture(scope="module")
def astronaut_pair():
    a = data.astronaut()[100:260, 150:310]
    noise = np.random.default_rng(0).normal(0, 12, a.shape)
    b = np.clip(a.astype(np.float64) + noise, 0, 255).astype(np.uint8)
    return a, b


def test_real_image_uint8_matches_skimage(astronaut_pair):
    a, b = astronaut_pair
    assert float(psnr(_t(a), _t(b))) == pytest.approx(peak_signal_noise_ratio(a, b, data_range=255), abs=1e-4)
    assert float(ssim(_t(a), _t(b))) == pytest.approx(_sk_ssim(a, b, 255), abs=1e-4)


def test_real_image_float_and_y_channel_match_skimage(astronaut_pair):
    a, b = (x.astype(np.float64) / 255 for x in astronaut_pair)
    assert float(ssim(_t(a), _t(b), (0, 1))) == pytest.approx(_sk_ssim(a, b, 1.0), abs=1e-4)
    ya, yb = rgb2ycbcr(a)[..., 0], rgb2ycbcr(b)[..., 0]  # studio-range Y in 16..235
    ours_p = float(psnr(_t(a), _t(b), (0, 1), channel="y_studio", data_range=1.0))
    assert ours_p == pytest.approx(peak_signal_noise_ratio(ya / 255, yb / 255, data_range=1.0), abs=1e-4)
    ours_s = float(ssim(_t(a), _t(b), (0, 1), channel="y_studio"))
    assert ours_s == pytest.approx(_sk_ssim(ya / 255, yb / 255, 1.0, None), abs=1e-4)
    # full-range luma (OpenCV YCrCb's Y) on 0..255
    la = a @ np.array([0.299, 0.587, 0.114]) * 255
    lb = b @ np.array([0.299, 0.587, 0.114]) * 255
    ours_y = float(psnr(_t(a * 255), _t(b * 255), (0, 255), channel="y"))
    assert ours_y == pytest.approx(peak_signal_noise_ratio(la, lb, data_range=255), abs=1e-4)


@pytest.mark.parametrize("shape", [(24, 31, 3), (40, 40, 1)])
def test_random_images_match_skimage(shape):
    rng = np.random.default_rng(sum(shape))
    a = rng.random(shape)
    b = np.clip(a + rng.normal(0, 0.2, shape), 0, 1)
    assert float(ssim(_t(a), _t(b))) == pytest.approx(_sk_ssim(a, b, 1.0), abs=1e-4)
    assert float(psnr(_t(a), _t(b))) == pytest.approx(peak_signal_noise_ratio(a, b, data_range=1.0), abs=1e-4)
    assert float(mse(_t(a), _t(b))) == pytest.approx(((a - b) ** 2).mean(), rel=1e-10)


def test_batch_is_per_image():
    rng = np.random.default_rng(3)
    imgs = [rng.random((20, 20, 3)) for _ in range(4)]
    x = torch.cat([_t(i) for i in imgs[:2]])
    y = torch.cat([_t(i) for i in imgs[2:]])
    per = ssim(x, y)
    assert per.shape == (2,)
    assert float(per[1]) == pytest.approx(_sk_ssim(imgs[1], imgs[3], 1.0), abs=1e-4)


def test_accumulating_metrics_record_settings_and_count_identical():
    rng = np.random.default_rng(4)
    a = torch.from_numpy(rng.random((3, 3, 16, 16)))
    b = (a + 0.05 * torch.from_numpy(rng.standard_normal((3, 3, 16, 16)))).clamp(0, 1)
    m = psnr_metric(channel="y")
    m.update(a, b)
    m.update(a[:1], a[:1])  # identical: PSNR inf, counted, not averaged
    r = m.compute()
    assert r["num_pairs"] == 3 and r["num_nonfinite"] == 1
    assert r["mean"] == pytest.approx(float(psnr(a, b, channel="y").mean()))
    assert (r["channel"], r["data_range"], r["value_range"]) == ("y", 1.0, [0.0, 1.0])
    s = ssim_metric()
    s.update(a, b)
    assert s.compute()["window"] == "gaussian 11x11, sigma 1.5"
    l2 = l2_metric()
    l2.update(a, b)
    assert l2.compute()["mean"] == pytest.approx(float(((a * 2 - 1) - (b * 2 - 1)).pow(2).mean()), rel=1e-9)
    with pytest.raises(ValueError, match="smaller"):
        ssim(a[..., :8, :8], b[..., :8, :8])
