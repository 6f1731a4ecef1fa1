"""Dataset readers on tiny fixture trees in each dataset's exact layout, checked item by item."""

from __future__ import annotations

import pytest
import torch

import genfer.data.datasets  # noqa: F401  (registers the readers)
from genfer._registry import DATASETS
from genfer.data.base import DatasetIndexError, FaceDataset, open_dataset, subject_folds
from genfer.data.labels import EXPRESSIONS, UNKNOWN

E = {name: i for i, name in enumerate(EXPRESSIONS)}


def _names(ds, key="name"):
    return [it.extra[key] for it in ds.items]


# --- base behaviour -------------------------------------------------------------------------------
def test_subject_folds_partition_subjects():
    ids = [0, 0, 1, 1, 1, 2, 3, 3, 4, 5, 5, 6]
    folds = subject_folds(ids, 3, seed=1)
    assert len(folds) == 3
    seen = []
    for train, test in folds:
        assert sorted(train + test) == list(range(len(ids)))
        assert not {ids[i] for i in train} & {ids[i] for i in test}
        seen += test
    assert sorted(seen) == list(range(len(ids)))
    assert sorted(len({ids[i] for i in t}) for _, t in folds) == [2, 2, 3]
    assert folds == subject_folds(torch.tensor(ids), 3, seed=1)
    assert folds != subject_folds(ids, 3, seed=2)
    with pytest.raises(ValueError, match="subjects"):
        subject_folds(ids, 8)
    with pytest.raises(ValueError, match="no subject id"):
        subject_folds([0, -1, 1], 2)


# --- RAF-DB ----------------------------------------------------------------------------------------
def test_rafdb_labels_splits_and_samples(tmp_path, make_rafdb):
    basic = make_rafdb(tmp_path)
    train = DATASETS.get("rafdb")(basic, split="train")
    assert _names(train) == ["train_00001.jpg", "train_00002.jpg", "train_00003.jpg"]
    assert train.expressions.tolist() == [E["surprise"], E["happiness"], E["neutral"]]
    assert train.identities.tolist() == [-1, -1, -1]
    assert [it.path.name for it in train.items] == [f"train_0000{i}_aligned.jpg" for i in (1, 2, 3)]
    s = train[1]
    assert s["image"].shape == (3, 10, 10) and s["image"].dtype == torch.uint8
    assert s["expression"] == E["happiness"] and s["identity"] == -1 and s["index"] == 1
    assert "aus" not in s
    test = DATASETS.get("rafdb")(tmp_path, split="val", channels=1)  # parent of basic/, val -> test
    assert test.split == "test"
    assert _names(test) == ["test_0001.jpg", "test_0002.jpg"]
    assert test.expressions.tolist() == [E["anger"], E["fear"]]
    assert test[0]["image"].shape == (1, 10, 10)


def test_rafdb_original_fallback_and_option(tmp_path, make_rafdb):
    basic = make_rafdb(tmp_path, skip_aligned=("train_00002.jpg",))
    ds = DATASETS.get("rafdb")(basic)
    assert [it.path.parent.name for it in ds.items] == ["aligned", "original", "aligned"]
    ds = DATASETS.get("rafdb")(basic, images="original", size=7)
    assert all(it.path.parent.name == "original" for it in ds.items)
    assert ds[0]["image"].shape == (3, 7, 7)


def test_rafdb_bad_index(tmp_path, make_rafdb):
    extra = ("train_00001.jpg 3", "train_00009.jpg 9", "garbage line here", "train_00077.jpg 2")
    basic = make_rafdb(tmp_path, extra_lines=extra)
    label_file = basic / "EmoLabel" / "list_patition_label.txt"
    with pytest.raises(DatasetIndexError) as info:
        DATASETS.get("rafdb")(basic)
    assert str(label_file) in str(info.value) and ":6:" in str(info.value)
    assert "duplicate entry 'train_00001.jpg' (first on line 1)" in str(info.value)
    ds = DATASETS.get("rafdb")(basic, on_error="skip")
    assert len(ds) == 3 and len(ds.problems) == 4
    assert "label 9 outside 1..7" in ds.problems[1] and ":7:" in ds.problems[1]
    assert "expected '<name>.jpg <label 1..7>'" in ds.problems[2]
    assert "train_00077.jpg" in ds.problems[3] and "not found" in ds.problems[3]


def test_rafdb_missing_layout_and_unknown_split(tmp_path):
    with pytest.raises(FileNotFoundError, match="list_patition_label"):
        DATASETS.get("rafdb")(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        DATASETS.get("rafdb")(tmp_path / "nowhere")


def test_rafdb_unknown_split(tmp_path, make_rafdb):
    make_rafdb(tmp_path)
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        DATASETS.get("rafdb")(tmp_path, split="dev")


def test_open_dataset_spec(tmp_path, make_rafdb):
    basic = make_rafdb(tmp_path)
    ds = open_dataset(f"rafdb:{basic}?images=original", split="test", channels=1)
    assert isinstance(ds, FaceDataset) and len(ds) == 2
    assert all(it.path.parent.name == "original" for it in ds.items)
    with pytest.raises(KeyError, match="unknown dataset"):
        open_dataset(f"nosuch:{basic}")


# --- CASIA-WebFace ------------------------------------------------------------------------------------
def test_casia_identities_from_sorted_folders(tmp_path, make_casia):
    make_casia(
        tmp_path,
        {
            "0000107": ["002.jpg", "001.jpg"],
            "0000045": ["001.jpg", "003.jpg", "notes.txt"],
            "0000099": ["001.jpg"],
        },
    )
    ds = DATASETS.get("casia")(tmp_path)
    assert ds.identity_names == ["0000045", "0000099", "0000107"]
    rel = [f"{it.path.parent.name}/{it.path.name}" for it in ds.items]
    assert rel == [
        "0000045/001.jpg", "0000045/003.jpg", "0000099/001.jpg", "0000107/001.jpg", "0000107/002.jpg"
    ]
    assert ds.identities.tolist() == [0, 0, 1, 2, 2]
    assert ds.expressions.tolist() == [UNKNOWN] * 5  # kept: no expression labels to drop by
    assert ds[3]["identity"] == 2 and ds[3]["image"].shape == (3, 8, 8)
    first2 = DATASETS.get("casia")(tmp_path, max_identities=2, channels=1)
    assert first2.identity_names == ["0000045", "0000099"] and first2.identities.tolist() == [0, 0, 1]
    assert first2[0]["image"].shape == (1, 8, 8)


def test_casia_parent_folder_and_empty_identity(tmp_path, make_casia):
    make_casia(tmp_path / "CASIA-WebFace", {"0000001": ["001.jpg"], "0000002": ["a.txt"]})
    with pytest.raises(DatasetIndexError, match="0000002: identity folder holds no images"):
        DATASETS.get("casia")(tmp_path)
    ds = DATASETS.get("casia")(tmp_path, on_error="skip")
    assert ds.identity_names == ["0000001"] and len(ds) == 1
