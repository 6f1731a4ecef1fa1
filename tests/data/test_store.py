"""The prepared-face store: shards + manifest written resumably, read back as a dataset."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from genfer.data.specs import open_dataset
from genfer.data.store import StoreDataset, StoreError, StoreWriter, read_info, read_manifest

SETTINGS = {"align": "five-point", "size": 8}


def crops(n: int, c: int = 3, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, c, 8, 8), generator=g, dtype=torch.uint8)


def labels_info(**kw):
    return {"labels": {"labelled": True, "has_aus": False, "subject_protocol": False, "extra_keys": [], **kw}}


def write_store(root, items, c=3, shard_size=3, info=None):
    """items: (key, split, expression, subject or None, n_faces); returns the crops written, in order."""
    written = []
    with StoreWriter(root, (8, 8), c, SETTINGS, info or labels_info(), shard_size=shard_size) as w:
        for k, (key, split, expr, subject, n) in enumerate(items):
            x = crops(n, c, seed=k)
            rec = {"split": split, "path": f"{key}.jpg", "expression": expr, "identity": -1}
            if subject is not None:
                rec["subject"] = subject
            w.add(key, x, [dict(rec) for _ in range(n)])
            written.extend(x)
    return torch.stack(written)


ITEMS = [
    ("a", "train", 1, "s2", 1), ("b", "train", 3, "s1", 2), ("c", "test", 0, "s2", 1),
    ("d", "train", 6, "s3", 1), ("e", "test", 2, "s1", 1), ("f", "train", 5, "s3", 1),
]


def test_round_trip_across_shards_and_splits(tmp_path):
    written = write_store(tmp_path / "st", ITEMS)
    assert sorted(p.name for p in (tmp_path / "st" / "shards").iterdir()) == ["00000.npy", "00001.npy", "00002.npy"]
    info = read_info(tmp_path / "st")
    assert info["size"] == [8, 8] and info["channels"] == 3 and info["settings"] == SETTINGS
    everything = StoreDataset(tmp_path / "st")
    assert len(everything) == 7
    torch.testing.assert_close(everything.read_all(), written)
    idx = [6, 0, 3, 3]
    torch.testing.assert_close(everything.images(idx), written[idx])
    torch.testing.assert_close(everything.images(torch.tensor(idx)), written[idx])
    train = StoreDataset(tmp_path / "st", split="train")
    assert train.expressions.tolist() == [1, 3, 3, 6, 5]
    s = train[1]
    assert set(s) >= {"image", "expression", "identity", "index"} and s["image"].dtype == torch.uint8
    torch.testing.assert_close(s["image"], written[1])
    # identities are numbered over every split: s1 -> 0, s2 -> 1, s3 -> 2, in train and in test alike
    test = StoreDataset(tmp_path / "st", split="test")
    assert train.identities.tolist() == [1, 0, 0, 2, 2] and test.identities.tolist() == [1, 0]
    assert train.identity_names == test.identity_names == ["s1", "s2", "s3"]


def test_channels_and_size_conversion(tmp_path):
    written = write_store(tmp_path / "st", ITEMS[:2], c=3)
    grey = StoreDataset(tmp_path / "st", channels=1)
    w = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    expect = (written.float() * w).sum(1, keepdim=True).round().to(torch.uint8)
    torch.testing.assert_close(grey.read_all(), expect)
    big = StoreDataset(tmp_path / "st", size=16)
    assert big[0]["image"].shape == (3, 16, 16)
    write_store(tmp_path / "g", ITEMS[:1], c=1)
    assert StoreDataset(tmp_path / "g", channels=3)[0]["image"].shape == (3, 8, 8)


def test_registered_as_a_reader_and_label_policy(tmp_path):
    items = [*ITEMS, ("g", "train", 7, "s1", 1), ("h", "train", -1, "s1", 1)]
    write_store(tmp_path / "st", items)
    ds = open_dataset(f"store:{tmp_path / 'st'}", split="train", channels=3)
    assert isinstance(ds, StoreDataset) and 7 in ds.expressions.tolist() and -1 not in ds.expressions.tolist()
    no_contempt = open_dataset(f"store:{tmp_path / 'st'}?contempt=drop", split="train")
    assert 7 not in no_contempt.expressions.tolist()


def test_subject_protocol_stores_give_subject_folds(tmp_path):
    items = [(f"i{k}", "all", k % 7, f"s{k % 4}", 1) for k in range(12)]
    write_store(tmp_path / "st", items, info=labels_info(subject_protocol=True))
    tr = StoreDataset(tmp_path / "st", split="train", fold=0, folds=2)
    te = StoreDataset(tmp_path / "st", split="test", fold=0, folds=2)
    assert len(tr) + len(te) == 12
    assert not set(tr.identities.tolist()) & set(te.identities.tolist())


def test_resume_skips_done_keys_and_repairs_a_torn_line(tmp_path):
    root = tmp_path / "st"
    write_store(root, ITEMS[:3], shard_size=2)
    with open(root / "manifest.jsonl", "ab") as f:
        f.write(b'{"key":"x","status":"ok","sha')  # killed mid-append
    assert [r["key"] for r in read_manifest(root)] == ["a", "b", "b", "c"]
    w = StoreWriter(root, (8, 8), 3, SETTINGS, labels_info(), shard_size=2)
    assert w.done == {"a", "b", "c"}
    w.skip("z", "no_face", "z.jpg: no face found", {"split": "train", "path": "z.jpg"})
    w.add("d", crops(1, seed=9), [{"split": "train", "path": "d.jpg", "expression": 4}])
    w.close()
    lines = (root / "manifest.jsonl").read_text().splitlines()
    assert all(json.loads(x) for x in lines) and len(lines) == 6
    ds = StoreDataset(root)
    assert [it.extra["key"] for it in ds.items] == ["a", "b", "b", "c", "d"]
    torch.testing.assert_close(ds.images([4]), crops(1, seed=9))


def test_unflushed_faces_are_not_in_the_manifest(tmp_path):
    root = tmp_path / "st"
    w = StoreWriter(root, (8, 8), 3, SETTINGS, labels_info(), shard_size=10)
    w.add("a", crops(1), [{"split": "train", "path": "a.jpg"}])
    assert read_manifest(root) == []  # queued only: a crash now loses it, and a rerun redoes it
    assert StoreWriter(root, (8, 8), 3, SETTINGS, labels_info()).done == set()
    w.close()
    assert [r["key"] for r in read_manifest(root)] == ["a"]


def test_errors(tmp_path):
    with pytest.raises(StoreError, match="not a genfer store"):
        StoreDataset(tmp_path)
    write_store(tmp_path / "st", ITEMS[:1])
    with pytest.raises(StoreError, match="settings"):
        StoreWriter(tmp_path / "st", (8, 8), 3, {"align": "box"})
    w = StoreWriter(tmp_path / "st", (8, 8), 3, SETTINGS)
    with pytest.raises(ValueError, match="uint8"):
        w.add("k", crops(1).float(), [{}])
    with pytest.raises(ValueError, match="records"):
        w.add("k", crops(2), [{}])
    info = json.loads((tmp_path / "st" / "store.json").read_text())
    (tmp_path / "st" / "store.json").write_text(json.dumps({**info, "version": 99}))
    with pytest.raises(StoreError, match="version"):
        StoreDataset(tmp_path / "st")


def test_shards_are_plain_npy_memory_maps(tmp_path):
    written = write_store(tmp_path / "st", ITEMS, shard_size=100)
    arr = np.load(tmp_path / "st" / "shards" / "00000.npy", mmap_mode="r")
    assert arr.dtype == np.uint8 and arr.shape == (7, 3, 8, 8)
    np.testing.assert_array_equal(np.asarray(arr), written.numpy())
