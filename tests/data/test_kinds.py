"""Data kinds: every registered kind builds batches on SynthFace; AUs, unlabelled sets and swap pairs
from generated sources; batches as a function of (seed, step), sharded like one process."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from genfer.core.config import make_config
from genfer.data.kinds import DATA_KINDS, other_identity
from genfer.data.loaders import build_data

CPU = torch.device("cpu")


def _cfg(*overrides: str, method: str = "au_cyclegan"):
    """The tiny AU cycle GAN preset (32 px RGB, SynthFace, batch 4) with data overrides."""
    return make_config(method, "tiny", ["train.progress=false", *overrides])


def _check_batch(batch: dict[str, torch.Tensor], b: int, c: int, s: int) -> None:
    for key, v in batch.items():
        if key == "image" or key.startswith("x_"):
            assert v.dtype == torch.uint8 and v.shape == (b, c, s, s), key
        elif key == "aus" or key.startswith("aus_"):
            assert v.dtype == torch.float32 and v.shape == (b, 17) and bool(torch.isfinite(v).all()), key
        else:  # labels
            assert v.dtype == torch.long and v.shape == (b,), key


@pytest.mark.parametrize("kind", DATA_KINDS.names())
@pytest.mark.parametrize("augment", [False, True])
def test_every_kind_builds_on_tiny_synthface(kind, augment):
    cfg = _cfg(f"data.augment={str(augment).lower()}")
    batches, test = build_data(cfg, kind, progress=False)
    data_kind = DATA_KINDS.get(kind)
    batch = batches.get(1, CPU)
    assert set(data_kind.keys) <= set(batch), f"{kind}: missing {set(data_kind.keys) - set(batch)}"
    _check_batch(batch, 4, 3, 32)
    assert batches.steps_per_epoch >= 1 and len(test) > 0 and test.images.shape[1:] == (3, 32, 32)
    again = build_data(cfg, kind, progress=False)[0].get(1, CPU)
    assert all(torch.equal(batch[k], again[k]) for k in batch)  # a pure function of (seed, step)
    labels = {k: v for k, v in batch.items() if k in ("expression", "y_e", "y_a", "y_b")}
    assert all(bool(((v >= 0) & (v < 7)).all()) for v in labels.values())  # SynthFace is fully labelled


def test_unknown_kind_names_the_known_ones():
    known = "aus, expressions, pairs, swap_pairs, unlabelled"
    with pytest.raises(KeyError, match=f"unknown data kind 'nope'; known: {known}"):
        build_data(_cfg(), "nope", progress=False)


def test_batch_size_must_split_over_ranks():
    with pytest.raises(ValueError, match="not divisible by 3 ranks"):
        build_data(_cfg(), "expressions", rank=0, world=3, progress=False)


# --- aus: OpenFace CSVs, the prepared store ------------------------------------------------------------
@pytest.mark.parametrize("per_image", [False, True])
def test_aus_kind_from_an_openface_csv(tmp_path, build, per_image):
    written = build.openface_folder(tmp_path, per_image=per_image)  # image c: OpenFace failed
    aus = "openface" if per_image else "openface.csv"
    cfg = _cfg(f"data.expressions=folder:{tmp_path}?aus={aus}", "data.batch_size=2")
    batches, test = build_data(cfg, "aus", progress=False)
    # 3 images with AUs; no test split, so the first is held out (every 10th from the first)
    expect = torch.from_numpy(np.round(written, 2)).float()  # OpenFace CSVs keep 2 decimals
    torch.testing.assert_close(test.aus, expect[[0]], atol=1e-5, rtol=0)
    assert test.expressions.tolist() == [-1] and test.identities.tolist() == [-1]
    assert batches.steps_per_epoch == 1
    batch = batches.get(0, CPU)
    _check_batch(batch, 2, 3, 32)
    assert batch["expression"].tolist() == [-1, -1]  # no expression labels: kept, as -1
    rows = {tuple(r.tolist()) for r in batch["aus"]}
    assert rows == {tuple(expect[1].tolist()), tuple(expect[3].tolist())}  # b and d
    with pytest.raises(ValueError, match="no usable images"):  # the expressions kind needs labels
        build_data(cfg, "expressions", progress=False)


def test_aus_kind_needs_a_source_with_aus(tmp_path, build):
    build.ffhq(tmp_path)
    with pytest.raises(ValueError, match="has no Action Units"):
        build_data(_cfg(f"data.expressions=ffhq:{tmp_path}", "data.batch_size=2"), "aus", progress=False)


def test_aus_kind_from_a_prepared_store(tmp_path, build):
    written = build.store(tmp_path)  # 2 train faces, 1 test face, all with AUs
    batches, test = build_data(_cfg(f"data.expressions=store:{tmp_path}", "data.batch_size=2"), "aus", progress=False)
    torch.testing.assert_close(test.aus, torch.from_numpy(written[[2]]))
    got = batches.get(0, CPU)["aus"]
    assert sorted(map(tuple, got.tolist())) == sorted(map(tuple, written[:2].tolist()))


# --- unlabelled ------------------------------------------------------------------------------------------
def test_unlabelled_plain_folder(tmp_path, image_writer):
    for k in range(5):
        image_writer(tmp_path / f"{k:02d}.jpg", size=(20, 20), seed=k)
    cfg = _cfg(f"data.expressions=folder:{tmp_path}", "data.batch_size=2")
    batches, test = build_data(cfg, "unlabelled", progress=False)
    assert len(test) == 1 and batches.steps_per_epoch == 2  # 00.jpg held out, 4 train images
    batch = batches.get(0, CPU)
    assert list(batch) == ["image"]
    _check_batch(batch, 2, 3, 32)
    assert test.expressions.tolist() == [-1] and test.aus is None


@pytest.mark.parametrize("reader", ["ffhq", "celebahq"])
def test_unlabelled_face_sets(tmp_path, build, reader):
    {"ffhq": build.ffhq, "celebahq": build.celebahq_stargan}[reader](tmp_path)
    cfg = _cfg(f"data.expressions={reader}:{tmp_path}", "data.batch_size=2")
    batches, test = build_data(cfg, "unlabelled", progress=False)
    assert len(test) == 1 and batches.steps_per_epoch == 1  # their own val split
    _check_batch(batches.get(0, CPU), 2, 3, 32)
    with pytest.raises(ValueError, match="no usable images"):
        build_data(cfg, "expressions", progress=False)


# --- swap pairs ------------------------------------------------------------------------------------------
def test_swap_pairs_differ_in_identity_and_keep_labels():
    cfg = _cfg("data.augment=true")
    batches, _ = build_data(cfg, "swap_pairs", progress=False)
    data = batches.sets["main"]
    for step in range(3 * batches.steps_per_epoch):
        b = batches.get(step, CPU)
        assert bool((b["id_a"] != b["id_b"]).all()), f"step {step}: a pair of one identity"
        assert b["aus_a"].shape == b["aus_b"].shape == (4, 17)
        for side in "ab":  # each face's labels are its own
            rows = [int(torch.nonzero((data.aus == a).all(1))[0]) for a in b[f"aus_{side}"]]
            assert data.expressions[rows].tolist() == b[f"y_{side}"].tolist()
            assert data.identities[rows].tolist() == b[f"id_{side}"].tolist()


def test_swap_pairs_are_a_function_of_seed_and_step():
    cfg = _cfg("data.augment=true")
    a, _ = build_data(cfg, "swap_pairs", progress=False)
    b, _ = build_data(cfg, "swap_pairs", progress=False)
    late = b.get(5, CPU)  # b jumps straight to step 5
    for step in range(6):
        got = a.get(step, CPU)
    assert all(torch.equal(got[k], late[k]) for k in got)
    other_seed, _ = build_data(_cfg("data.augment=true", "train.seed=1"), "swap_pairs", progress=False)
    assert not torch.equal(other_seed.get(5, CPU)["x_b"], late["x_b"])


@pytest.mark.parametrize("step", [0, 3, 9])
def test_swap_pairs_shard_like_one_process(step):
    """Ranks 0 and 1 of 2 together hold the single-process batch: rank r has its items r::2."""
    cfg = _cfg("data.augment=true")
    whole = build_data(cfg, "swap_pairs", progress=False)[0]
    ranks = [build_data(cfg, "swap_pairs", rank=r, world=2, progress=False)[0] for r in (0, 1)]
    assert ranks[0].steps_per_epoch == ranks[1].steps_per_epoch == whole.steps_per_epoch
    full = whole.get(step, CPU)
    parts = [r.get(step, CPU) for r in ranks]
    for k in full:
        assert parts[0][k].shape[0] == 2
        assert torch.equal(parts[0][k], full[k][0::2]) and torch.equal(parts[1][k], full[k][1::2]), k
    assert not torch.equal(parts[0]["x_a"], parts[1]["x_a"])


def test_other_identity_is_uniform_over_other_identities():
    ids = torch.tensor([2, 0, 2, 1, 0, 2])
    idx = torch.tensor([0] * 60)  # item 0, identity 2: partners 1, 3, 4
    u = (torch.arange(60, dtype=torch.float64) + 0.5) / 60
    got = other_identity(ids, idx, u)
    assert torch.bincount(got, minlength=6).tolist() == [0, 20, 0, 20, 20, 0]
    assert bool((ids[other_identity(ids, torch.arange(6), torch.rand(6, dtype=torch.float64))] != ids).all())
    with pytest.raises(ValueError, match="same identity"):
        other_identity(torch.zeros(3, dtype=torch.long), torch.tensor([0]), torch.tensor([0.5], dtype=torch.float64))


def test_data_does_not_import_the_engine():
    code = "import sys, genfer.data.loaders; print(any(m.startswith('genfer.engine') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
