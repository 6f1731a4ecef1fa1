"""timm's training augmentations on batches: each op's defining property, and reproducibility by seed."""

from __future__ import annotations

import math

import pytest
import torch

from genfer.data import augment_batch as A


def _g(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _imgs(b: int = 6, size: int = 32) -> torch.Tensor:
    return torch.rand(b, 3, size, size, generator=_g(9))


def test_rand_augment_is_seeded_keeps_range_and_changes_images():
    x = _imgs()
    a, b = A.rand_augment(x, generator=_g(1)), A.rand_augment(x, generator=_g(1))
    assert torch.equal(a, b) and a.shape == x.shape
    assert a.min() >= 0 and a.max() <= 1
    assert (a - x).abs().flatten(1).amax(1).gt(1e-3).sum() >= 3  # p=0.5 per op, 2 ops: most images change
    assert not torch.equal(a, A.rand_augment(x, generator=_g(2)))


@pytest.mark.parametrize("op", A.RAND_OPS)
def test_every_rand_augment_op_keeps_shape_and_range(op):
    x = _imgs(3)
    y = A._apply_op(op, x, torch.full((3,), 0.9), torch.tensor([1.0, -1.0, 1.0]))
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1 + 1e-6
    if op != "SolarizeAdd":  # adds only below 128/255, may leave a bright image alone
        assert not torch.allclose(y, x)


def test_equalize_flattens_the_histogram_and_invert_autocontrast():
    x = torch.rand(1, 1, 64, 64) ** 4  # dark, skewed
    e = A.equalize(x)
    assert e.mean() > 0.4 and x.mean() < 0.3
    assert torch.allclose(A._apply_op("Invert", x, torch.zeros(1), torch.ones(1)), 1 - x)
    ac = A.autocontrast(x * 0.5 + 0.2)
    assert ac.min() == pytest.approx(0) and ac.max() == pytest.approx(1)


def test_random_resized_crop_takes_a_box_of_the_image():
    x = torch.arange(32.0).view(1, 1, 1, 32).expand(4, 3, 32, 32).contiguous()  # value = column
    y = A.random_resized_crop(x, size=16, generator=_g(3))
    assert y.shape == (4, 3, 16, 16)
    rows = y[:, 0, 0]  # columns increase left to right inside the box: a crop, not a flip
    assert (rows[:, 1:] >= rows[:, :-1] - 1e-4).all()
    assert torch.equal(y, A.random_resized_crop(x, size=16, generator=_g(3)))
    full = A.random_resized_crop(x, scale=(1.0, 1.0), ratio=(1.0, 1.0), generator=_g(0))
    assert torch.allclose(full, x, atol=1e-4)  # the whole image at the same size


def test_hflip_and_color_jitter():
    x = _imgs(64)
    y = A.hflip(x, generator=_g(4))
    flipped = (y == x.flip(-1)).flatten(1).all(1)
    assert 20 < int(flipped.sum()) < 44 and ((y == x).flatten(1).all(1) | flipped).all()
    j = A.color_jitter(x, 0.4, generator=_g(5))
    assert j.shape == x.shape and j.min() >= 0 and j.max() <= 1 and not torch.allclose(j, x)
    assert torch.allclose(A.color_jitter(x, 0.0, generator=_g(5)), x, atol=1e-6)


def test_random_erasing_fills_one_box_with_noise_in_about_a_quarter_of_images():
    x = torch.zeros(400, 3, 16, 16)
    y = A.random_erasing(x, p=0.25, generator=_g(6))
    erased = (y != 0).flatten(1).any(1)
    assert 70 < int(erased.sum()) < 130
    frac = (y[erased] != 0).float().mean((1, 2, 3))
    assert (frac >= 0.02 * 0.5).all() and (frac <= 1 / 3 * 1.5).all()


def test_mixup_cutmix_targets_are_smoothed_and_mixed_consistently():
    x = torch.stack([torch.full((3, 8, 8), float(i)) for i in range(4)])
    y = torch.tensor([0, 1, 2, 3])
    t = A.smooth_one_hot(y, 4, 0.1)
    assert torch.allclose(t.sum(1), torch.ones(4)) and t[0, 0] == pytest.approx(0.925)
    seen = set()
    for seed in range(12):
        xm, tm = A.mixup_cutmix(x, y, 4, generator=_g(seed))
        assert torch.allclose(tm.sum(1), torch.ones(4))
        lam = float(tm[0, 0] - 0.025) / 0.9  # image 0 is mixed with image 3 (the reversed batch)
        assert xm[0].mean().item() == pytest.approx(3 * (1 - lam), abs=1e-4)  # pixels mix as the targets
        cut = bool(((xm[0] == 0) | (xm[0] == 3)).all())
        seen.add("cutmix" if cut else "mixup")
    assert seen == {"cutmix", "mixup"}
    xs, ts = A.mixup_cutmix(x, y, 4, prob=0.0, generator=_g(0))
    assert torch.equal(xs, x) and torch.allclose(ts, t)


def test_soft_target_cross_entropy_equals_cross_entropy_on_one_hots():
    logits = torch.randn(5, 7, generator=_g(7))
    y = torch.randint(0, 7, (5,), generator=_g(8))
    hard = torch.nn.functional.cross_entropy(logits, y)
    assert A.soft_target_cross_entropy(logits, A.smooth_one_hot(y, 7, 0.0)) == pytest.approx(float(hard), rel=1e-6)
    smoothed = torch.nn.functional.cross_entropy(logits, y, label_smoothing=0.1)
    assert A.soft_target_cross_entropy(logits, A.smooth_one_hot(y, 7, 0.1)) == pytest.approx(float(smoothed),
                                                                                               rel=1e-5)
    assert math.isfinite(float(A.soft_target_cross_entropy(logits, A.smooth_one_hot(y, 7))))
