"""SynthFace: determinism, identity consistency, AU effects where FACS puts them, splits, export, CLI."""

from __future__ import annotations

import pytest
import torch

from genfer.data.aus import AU_NAMES, NUM_AUS, au_index
from genfer.data.synthface import (
    PROTOTYPES,
    TEST_ID_START,
    SynthFace,
    aus_vector,
    render,
    sample_aus,
    split_identities,
)
from genfer.data.synthface.canvas import Y_SHIFT, ZOOM
from genfer.data.synthface.params import DROP_PROB


def _rows(size: int, y0: float, y1: float) -> slice:
    """Pixel rows of a canonical-frame band [y0, y1] (canvas rows show Y_SHIFT + [-1/ZOOM, 1/ZOOM])."""
    r0, r1 = ((y0 - Y_SHIFT) * ZOOM + 1) * size / 2, ((y1 - Y_SHIFT) * ZOOM + 1) * size / 2
    return slice(max(0, int(r0)), min(size, int(r1) + 1))


def _neutral_and_au(name: str, ids: torch.Tensor, size: int = 96) -> tuple[torch.Tensor, torch.Tensor]:
    n = len(ids)
    base = render(ids, torch.zeros(n, NUM_AUS), size=size, nuisance=0.0).float()
    aus = aus_vector({name: 5.0}).expand(n, NUM_AUS)
    return base, render(ids, aus, size=size, nuisance=0.0).float()


def test_deterministic_and_independent_of_batch():
    a = SynthFace(3, 4, size=64, seed=1)
    b = SynthFace(3, 4, size=64, seed=1)
    assert torch.equal(a.images, b.images) and torch.equal(a.aus, b.aus)
    # the same (seed, identity, index) is the same picture whatever else is rendered with it
    sub = SynthFace([2], 4, size=64, seed=1)
    assert torch.equal(sub.images, a.images[8:12])
    assert torch.equal(sub.expressions, a.expressions[8:12])
    other = SynthFace(3, 4, size=64, seed=2)
    assert (other.images.float() - a.images.float()).abs().mean() > 5


def test_render_reproduces_dataset_images():
    ds = SynthFace([5, 7], 3, size=64, channels=3, seed=4)
    again = render(ds.identities, ds.aus, size=64, channels=3, seed=4, nuisance_seed=ds.indices)
    assert torch.equal(again, ds.images)
    moved = render(ds.identities, ds.aus, size=64, channels=3, seed=4, nuisance_seed=1)
    assert not torch.equal(moved, ds.images)


@pytest.mark.parametrize("size", [64, 128])
@pytest.mark.parametrize("channels", [1, 3])
def test_shapes_and_dtypes(size, channels):
    ds = SynthFace(2, 1, size=size, channels=channels)
    assert ds.images.shape == (2, channels, size, size) and ds.images.dtype == torch.uint8
    assert ds.aus.shape == (2, NUM_AUS) and ds.aus.dtype == torch.float32
    assert ds.expressions.dtype == torch.long and ds.identities.dtype == torch.long
    item = ds[1]
    assert item["image"].shape == (channels, size, size) and item["image"].dtype == torch.uint8
    assert isinstance(item["expression"], int) and isinstance(item["identity"], int)
    assert item["aus"].shape == (NUM_AUS,)
    assert ds.images.float().std() > 20  # not a blank canvas


def test_small_resolution_and_bad_arguments():
    assert render(torch.tensor([0]), torch.zeros(1, NUM_AUS), size=32).shape == (1, 1, 32, 32)
    with pytest.raises(ValueError):
        render(torch.tensor([0]), torch.zeros(1, NUM_AUS), size=16)
    with pytest.raises(ValueError):
        render(torch.tensor([0]), torch.zeros(1, NUM_AUS), channels=2)
    with pytest.raises(ValueError):
        render(torch.tensor([0, 1]), torch.zeros(1, NUM_AUS))
    with pytest.raises(ValueError):
        SynthFace(1, 1, expressions=[7])


def test_identity_is_consistent_across_expressions():
    ids = torch.arange(4)
    size = 64
    neutral = render(ids, torch.zeros(4, NUM_AUS), size=size, nuisance=0.0).float()
    happy = render(ids, aus_vector(PROTOTYPES[1]).expand(4, NUM_AUS), size=size, nuisance=0.0).float()
    # top of the head (hair) is untouched by an expression
    top = _rows(size, -1.0, -0.62)
    assert torch.equal(neutral[:, :, top], happy[:, :, top])
    same_person = (neutral - happy).abs().mean()
    other_person = (neutral - neutral.roll(1, 0)).abs().mean()
    assert other_person > 3 * same_person


# AU -> (canonical band where it must act, band it must leave exactly alone)
BROW, EYE, MOUTH, FOREHEAD = (-0.52, -0.16), (-0.24, 0.02), (0.26, 0.85), (-1.0, -0.45)
AU_REGIONS = {
    "AU01": (BROW, MOUTH),
    "AU02": (BROW, MOUTH),
    "AU04": (BROW, MOUTH),
    "AU05": (EYE, MOUTH),
    "AU06": ((-0.24, 0.3), FOREHEAD),
    "AU07": (EYE, MOUTH),
    "AU09": ((-0.3, 0.6), FOREHEAD),
    "AU10": (MOUTH, BROW),
    "AU12": (MOUTH, BROW),
    "AU14": (MOUTH, BROW),
    "AU15": (MOUTH, BROW),
    "AU17": (MOUTH, BROW),
    "AU20": (MOUTH, BROW),
    "AU23": (MOUTH, BROW),
    "AU25": (MOUTH, EYE),
    "AU26": (MOUTH, EYE),
    "AU45": (EYE, MOUTH),
}


@pytest.mark.parametrize("name", AU_NAMES)
def test_each_au_changes_its_own_region(name):
    size = 96
    base, moved = _neutral_and_au(name, torch.tensor([0, 3, 11]), size)
    diff = (moved - base).abs().mean(1)  # [N, H, W]
    where, not_there = AU_REGIONS[name]
    inside = diff[:, _rows(size, *where)]
    assert (inside.flatten(1).sum(1) > 150).all(), f"{name} barely changes its region"
    assert diff[:, _rows(size, *not_there)].max() == 0, f"{name} changes a region it should not"
    # most of the change is in its region
    assert inside.sum() > 0.6 * diff.sum()


def test_au_directions():
    """Spot-check FACS directions: AU12 raises the corners, AU15 lowers them, AU26 drops the jaw."""
    size = 128
    ids = torch.tensor([1])
    names = ["AU12", "AU15", "AU26"]
    aus = torch.stack([torch.zeros(NUM_AUS)] + [aus_vector({n: 5.0}) for n in names])
    img = render(ids.expand(len(aus)), aus, size=size, nuisance=0.0).float()[:, 0]
    base = img[0]

    def centroid_row(d: torch.Tensor) -> float:
        w = d.abs().sum(1)
        return float((w * torch.arange(size)).sum() / w.sum())

    d12, d15 = img[1] - base, img[2] - base
    # lip corners sit at the mouth's sides: changes there go up for AU12, down for AU15
    sides = torch.cat([d12[:, : size // 2 - 14], d12[:, size // 2 + 14 :]], 1)
    sides15 = torch.cat([d15[:, : size // 2 - 14], d15[:, size // 2 + 14 :]], 1)
    assert centroid_row(sides) < centroid_row(sides15)
    # jaw drop makes the face longer: more face-coloured rows near the bottom centre
    col = slice(size // 2 - 4, size // 2 + 4)
    assert (img[3][:, col] - base[:, col]).abs().sum() > 2000


def test_sample_aus_follows_prototypes():
    g = torch.Generator().manual_seed(0)
    e = torch.arange(7).repeat(100)
    aus = sample_aus(e, g)
    assert aus.shape == (700, NUM_AUS) and aus.dtype == torch.float32
    assert aus.min() >= 0 and aus.max() <= 5
    mean = torch.stack([aus[e == k].mean(0) for k in range(7)])
    for k, proto in PROTOTYPES.items():
        for name, typical in proto.items():
            expected = typical * 0.85 * (1 - DROP_PROB.get(k, {}).get(name, 0.0))
            assert mean[k, au_index(name)] > 0.7 * expected, (k, name)
    assert mean[0, :16].max() < 0.5  # neutral: detector noise only
    assert (aus[e == 1][:, au_index("AU12")] >= 1).all()  # core AU never missing
    assert torch.equal(aus, sample_aus(e, torch.Generator().manual_seed(0)))


def test_mixed_au_draw_decorrelates_every_second_image():
    proto = SynthFace(40, 10, size=32, channels=3)
    mixed = SynthFace(40, 10, size=32, channels=3, au_draw="mixed")
    assert torch.equal(proto.aus[::2], mixed.aus[::2]) and torch.equal(proto.images[::2], mixed.images[::2])
    sparse = mixed.aus[1::2]
    on = sparse > 0
    assert sparse[on].min() >= 0.5 and sparse.max() <= 5
    assert 0.2 < on.float().mean() < 0.4  # each AU present with probability 0.3
    # prototypes tie AU25 to AU12 or AU26; the independent draws show it without both
    alone = (sparse[:, au_index("AU25")] > 0) & (sparse[:, au_index("AU12")] == 0) & (sparse[:, au_index("AU26")] == 0)
    assert alone.sum() > 10
    # the images wear their (new) AUs
    again = render(mixed.identities[:4], mixed.aus[:4], size=32, channels=3, nuisance_seed=mixed.indices[:4])
    assert torch.equal(again, mixed.images[:4]) and not torch.equal(mixed.images[1], proto.images[1])
    with pytest.raises(ValueError, match="au_draw"):
        SynthFace(1, 1, size=32, au_draw="random")


def test_splits_are_disjoint_and_labels_balanced():
    train, test = split_identities(10, 5)
    assert train == list(range(10)) and test[0] == TEST_ID_START and len(test) == 5
    assert not set(train) & set(test)
    ds = SynthFace(14, 3, size=32)
    assert torch.bincount(ds.expressions, minlength=7).tolist() == [6] * 7
    assert set(ds.identities.tolist()) == set(range(14))
    sub = SynthFace(2, 4, size=32, expressions=[1, 3])
    assert set(sub.expressions.tolist()) == {1, 3}
    assert torch.bincount(sub.expressions, minlength=7)[[1, 3]].tolist() == [4, 4]


def test_export_writes_three_layouts_that_parse_back(tmp_path):
    import csv

    import numpy as np
    from PIL import Image

    from genfer.data.aus import read_openface_csv
    from genfer.data.labels import RAFDB
    from genfer.data.synthface.export import export_synthface

    out = tmp_path / "synth"
    s = export_synthface(out, 3, 7, test_identities=2, size=32, channels=3, seed=5)
    assert s["images"] == {"train": 21, "test": 14}
    with open(out / "synthface_index.csv") as f:
        index = list(csv.DictReader(f))
    by_file = {r["file"]: r for r in index}
    # (a) RAF-DB basic: label lines in RAF's order, aligned JPEGs that decode
    lines = (out / "rafdb/basic/EmoLabel/list_patition_label.txt").read_text().split("\n")[:-1]
    assert len(lines) == 35 and lines[0].startswith("train_00001.jpg ") and lines[21].startswith("test_0001.jpg ")
    for line in lines:
        name, label = line.split(" ")
        img = out / "rafdb/basic/Image/aligned" / name.replace(".jpg", "_aligned.jpg")
        row = by_file[str(img.relative_to(out))]
        assert RAFDB.to_canonical(int(label)) == int(row["expression"])
        assert int(row["identity"]) >= 100_000 if name.startswith("test") else int(row["identity"]) < 3
    with Image.open(out / "rafdb/basic/Image/aligned/test_0014_aligned.jpg") as im:
        assert im.size == (32, 32) and im.mode == "RGB"
    # (b) CASIA-WebFace tree of the training identities
    assert sorted(p.name for p in (out / "casia").iterdir()) == ["0000000", "0000001", "0000002"]
    assert sorted(p.name for p in (out / "casia/0000001").iterdir()) == [f"{i:03d}.jpg" for i in range(1, 8)]
    # (c) OpenFace CSV + aligned BMPs, frames from 1, intensities as rendered
    table = read_openface_csv(out / "emotionet/processed/EmotioNet.csv")
    assert table.frame.tolist() == list(range(1, 22))
    ds = SynthFace(3, 7, size=32, channels=3, seed=5)
    assert np.allclose(table.intensity, ds.aus.numpy(), atol=0.006)
    bmp = out / "emotionet/processed/EmotioNet_aligned/frame_det_00_000021.bmp"
    assert np.array_equal(np.asarray(Image.open(bmp)), ds.images[20].permute(1, 2, 0).numpy())
    assert (out / "README.txt").read_text() and (out / "synthface.json").is_file()
    with pytest.raises(FileExistsError):
        export_synthface(out, 1, 1, size=32)


def test_export_reads_back_with_genfer_readers(tmp_path):
    from genfer.data.specs import open_dataset
    from genfer.data.synthface.export import export_synthface

    export_synthface(tmp_path, 2, 7, test_identities=1, size=32)
    raf = open_dataset(f"rafdb:{tmp_path}/rafdb", split="train", channels=1)
    ds = SynthFace(2, 7, size=32)
    assert len(raf) == 14 and sorted(raf.expressions.tolist()) == sorted(ds.expressions.tolist())
    assert len(open_dataset(f"rafdb:{tmp_path}/rafdb", split="test", channels=1)) == 7
    casia = open_dataset(f"casia:{tmp_path}/casia", channels=1)
    assert len(casia) == 14 and len(set(casia.identities.tolist())) == 2
    emo = open_dataset(f"emotionet:{tmp_path}/emotionet", channels=1)
    assert len(emo) == 14 and emo[0]["image"].shape == (1, 32, 32)


def test_cli_synth(tmp_path, capsys):
    import argparse

    from genfer.cli import synth

    parser = argparse.ArgumentParser()
    synth.register(parser.add_subparsers())
    out = tmp_path / "o"
    args = parser.parse_args(["synth", str(out), "--identities", "2", "--per-identity", "2", "--size", "32",
                              "--test-identities", "1", "--seed", "3", "--channels", "3"])
    assert args.func(args) == 0
    text = (out / "rafdb/basic/EmoLabel/list_patition_label.txt").read_text().split()
    assert text[0] == "train_00001.jpg" and text[-2] == "test_0002.jpg"
    assert "wrote 4 train + 2 test images" in capsys.readouterr().out
    import json

    assert json.loads((out / "synthface.json").read_text())["seed"] == 3


def test_figures_have_one_tile_per_cell():
    from genfer.data.synthface.figures import au_grid, expression_grid

    grid = expression_grid([0, 1], size=32, channels=1)
    assert grid.width >= 7 * 32 and 2 * 32 <= grid.height < 3 * 32 + 20
    aus = au_grid(0, size=32, intensities=(0, 5), blocks=1)
    assert aus.height >= 17 * 32 and aus.width >= 2 * 32


def test_parallel_chunks_match_serial(monkeypatch):
    import genfer.data.synthface.raster as raster

    monkeypatch.setattr(raster, "chunk_size", lambda size: 3)
    ids, aus = torch.arange(10), sample_aus(torch.arange(10) % 7, torch.Generator().manual_seed(1))
    serial = render(ids, aus, size=32, channels=3)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        pooled = render(ids, aus, size=32, channels=3)
        assert torch.get_num_threads() == 2  # restored after the pool
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(serial, pooled)
