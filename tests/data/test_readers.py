"""Dataset readers on tiny fixture trees in each dataset's exact layout, checked item by item."""

from __future__ import annotations

import pytest
import torch

import genfer.data.datasets  # noqa: F401  (registers the readers)
from genfer.core.registry import DATASETS
from genfer.data.aus import AU_NAMES
from genfer.data.base import DatasetIndexError, FaceDataset, subject_folds
from genfer.data.labels import EXPRESSIONS, UNKNOWN
from genfer.data.specs import open_dataset

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


def _open(name, root, split="train", **kw):
    return DATASETS.get(name)(root, split=split, **kw)


def test_every_reader_is_registered():
    expected = {
        "affectnet", "casia", "celebahq", "ckplus", "emotionet", "fer2013", "ferplus", "ffhq",
        "folder", "ganimation", "kdef", "multipie", "oulu", "rafdb", "sfew",
    }
    assert expected <= set(DATASETS.names())
    for name in expected:
        assert issubclass(DATASETS.get(name), FaceDataset)


# --- AffectNet --------------------------------------------------------------------------------------
def test_affectnet_csv(tmp_path, build):
    build.affectnet_csv(tmp_path)
    ds = _open("affectnet", tmp_path, landmarks=True)
    assert _names(ds) == ["1/a.jpg", "1/b.jpg", "2/d.jpg"]  # 9 (uncertain) dropped
    assert ds.expressions.tolist() == [E["happiness"], E["contempt"], E["neutral"]]
    s = ds[0]
    assert s["valence"] == 0.5 and s["arousal"] == -0.25
    assert s["landmarks"].shape == (68, 2) and s["landmarks"][1].tolist() == [1.0, 1.5]
    assert ds.items[0].extra["box"] == (10, 12, 50, 52)
    assert "landmarks" not in _open("affectnet", tmp_path)[0]
    seven = _open("affectnet", tmp_path, contempt="drop")
    assert seven.expressions.tolist() == [E["happiness"], E["neutral"]] and len(seven.class_names) == 7
    keep = _open("affectnet", tmp_path, unknown="keep")
    assert keep.expressions.tolist() == [E["happiness"], E["contempt"], UNKNOWN, E["neutral"]]
    val = _open("affectnet", tmp_path, "test")  # validation.csv, which has no header row
    assert val.split == "val" and _names(val) == ["3/e.jpg"] and val.expressions.tolist() == [E["anger"]]


def test_affectnet_csv_problems(tmp_path, build):
    build.affectnet_csv(tmp_path)
    f = tmp_path / "Manually_Annotated_file_lists" / "training.csv"
    f.write_text(f.read_text() + "1/a.jpg,0,0,8,8,1;2,1,0,0\n9/zz.jpg,0,0,8,8,1;2,1,0,0\n1/q.jpg,0,0,8,8,1;2,12,0,0\n")
    with pytest.raises(DatasetIndexError, match=r"training\.csv:6: duplicate entry '1/a.jpg' \(first on line 2\)"):
        _open("affectnet", tmp_path)
    ds = _open("affectnet", tmp_path, on_error="skip")
    assert len(ds) == 3 and len(ds.problems) == 3
    assert "zz.jpg not found" in ds.problems[1] and "label 12 outside 0..10" in ds.problems[2]


def test_affectnet_npy(tmp_path, build):
    build.affectnet_npy(tmp_path)
    ds = _open("affectnet", tmp_path, landmarks=True)
    assert _names(ds) == ["0.jpg", "1.jpg", "10.jpg"]  # numeric order; 2 is non-face (10)
    assert ds.expressions.tolist() == [E["surprise"], E["neutral"], E["disgust"]]
    assert [it.extra["valence"] for it in ds.items] == [0.5, 0.0, 0.1]
    assert ds[2]["arousal"] == pytest.approx(0.2) and ds[0]["landmarks"].shape == (68, 2)
    val = _open("affectnet", tmp_path, "val")  # no _lnd files: fine without landmarks
    assert val.expressions.tolist() == [E["happiness"]] and val[0]["valence"] == pytest.approx(0.3)
    with pytest.raises(DatasetIndexError, match=r"0_exp\.npy: annotation of 0\.jpg missing"):
        _open("affectnet", tmp_path, "val", landmarks=True)


# --- FER2013 / FERPlus ---------------------------------------------------------------------------------
def test_fer2013(tmp_path, build):
    import numpy as np

    build.fer2013(tmp_path)
    train = _open("fer2013", tmp_path, channels=1)
    assert [it.extra["row"] for it in train.items] == [2, 3, 6]
    assert train.expressions.tolist() == [E["anger"], E["happiness"], E["sadness"]]
    assert np.array_equal(train[1]["image"][0].numpy(), _fer_pixels(1))
    assert _open("fer2013", tmp_path / "fer2013.csv", "val").expressions.tolist() == [E["neutral"]]
    test = _open("fer2013", tmp_path, "test", channels=3, size=24)
    assert test.expressions.tolist() == [E["surprise"]] and test[0]["image"].shape == (3, 24, 24)
    assert len(_open("fer2013", tmp_path, "all")) == 5


def _fer_pixels(k):
    import numpy as np

    return ((np.arange(48 * 48) * (k + 1)) % 256).astype(np.uint8).reshape(48, 48)


def test_fer2013_bad_rows(tmp_path, build):
    build.fer2013(tmp_path, bad_rows=True)
    with pytest.raises(DatasetIndexError, match=r"fer2013\.csv:7: pixels are not 2304 values"):
        _open("fer2013", tmp_path)
    ds = _open("fer2013", tmp_path, on_error="skip")
    assert len(ds) == 3 and "label 7 outside 0..6" in ds.problems[1] and ":8:" in ds.problems[1]


@pytest.mark.parametrize("folders", [True, False])
def test_ferplus_majority_and_probability(tmp_path, build, folders):
    import numpy as np

    build.ferplus(tmp_path, folders=folders)
    maj = _open("ferplus", tmp_path, channels=1)
    assert _names(maj) == ["fer0000000.png", "fer0000001.png"]  # empty name skipped, 50/50 tie unknown
    assert maj.expressions.tolist() == [E["neutral"], E["happiness"]]
    assert np.array_equal(maj[1]["image"][0].numpy(), _fer_pixels(1))  # same pixels either way
    prob = _open("ferplus", tmp_path, mode="probability")
    assert _names(prob) == ["fer0000000.png", "fer0000001.png", "fer0000003.png"]
    assert prob.expressions.tolist() == [E["neutral"], E["happiness"], E["happiness"]]  # tie: first column
    p1 = prob[1]["expression_probs"]
    assert p1.shape == (8,) and p1[E["happiness"]] == pytest.approx(0.6) and p1[E["surprise"]] == pytest.approx(0.4)
    p3 = prob[2]["expression_probs"]  # single votes (anger 1, unknown 1) dropped
    assert p3[E["happiness"]] == pytest.approx(0.5) and p3[E["sadness"]] == pytest.approx(0.5)
    assert p3[E["anger"]] == 0
    val = _open("ferplus", tmp_path, "val")
    assert val.expressions.tolist() == [E["contempt"]]  # 7 of 10 votes
    with pytest.raises(ValueError, match="no usable items for split 'val'"):
        _open("ferplus", tmp_path, "val", contempt="drop")


# --- CK+ ------------------------------------------------------------------------------------------------
def test_ckplus_sequence_protocol(tmp_path, build):
    build.ckplus(tmp_path)
    ds = _open("ckplus", tmp_path, "all")
    got = [(it.extra["sequence"], it.extra["frame"], it.expression) for it in ds.items]
    assert got == [
        ("S005/001", 3, E["disgust"]), ("S005/001", 4, E["disgust"]), ("S005/001", 5, E["disgust"]),
        ("S005/001", 1, E["neutral"]),
        ("S010/002", 2, E["surprise"]), ("S010/002", 3, E["surprise"]), ("S010/002", 4, E["surprise"]),
        ("S010/002", 1, E["neutral"]),
        ("S011/001", 1, E["contempt"]), ("S011/001", 2, E["contempt"]), ("S011/001", 3, E["contempt"]),
        ("S011/004", 2, E["happiness"]), ("S011/004", 3, E["happiness"]), ("S011/004", 4, E["happiness"]),
        ("S011/004", 1, E["neutral"]),
    ]
    assert ds.identity_names == ["S005", "S010", "S011"]
    assert ds.identities.tolist() == [0] * 4 + [1] * 4 + [2] * 7
    peak = _open("ckplus", tmp_path, "all", frames="peak")
    assert [(it.extra["sequence"], it.extra["frame"]) for it in peak.items] == [
        ("S005/001", 5), ("S010/002", 4), ("S011/001", 3), ("S011/004", 4)
    ]
    assert _open("ckplus", tmp_path, "all", neutral=False, last=1).expressions.tolist() == \
        peak.expressions.tolist()


def test_ckplus_subject_folds(tmp_path, build):
    build.ckplus(tmp_path)
    tests = []
    for fold in range(3):
        tr = _open("ckplus", tmp_path, "train", folds=3, fold=fold)
        te = _open("ckplus", tmp_path, "test", folds=3, fold=fold)
        assert not set(tr.identities.tolist()) & set(te.identities.tolist())
        assert len(tr) + len(te) == 15
        assert tr.identity_names == te.identity_names == ["S005", "S010", "S011"]  # ids stable across splits
        tests += [(str(it.path), it.expression) for it in te.items]
    assert len(tests) == len(set(tests)) == 15  # test folds cover every item once
    with pytest.raises(ValueError, match="cannot make 10"):
        _open("ckplus", tmp_path)  # 10 folds from 3 subjects


def test_ckplus_bad_label_and_missing_peak(tmp_path, build):
    build.ckplus(tmp_path)
    bad = tmp_path / "Emotion" / "S005" / "001" / "S005_001_00000005_emotion.txt"
    bad.write_text("9.0000000e+00\n")
    with pytest.raises(DatasetIndexError, match=r"S005_001_00000005_emotion\.txt:1: emotion label: .*outside 0..7"):
        _open("ckplus", tmp_path, "all")
    gone = tmp_path / "Emotion" / "S010" / "002" / "S010_002_00000009_emotion.txt"
    (gone.parent / "S010_002_00000004_emotion.txt").rename(gone)
    ds = _open("ckplus", tmp_path, "all", on_error="skip")
    assert len(ds.problems) == 2 and "peak frame 9 not found" in ds.problems[1]
    assert ds.identity_names == ["S011"]


# --- Oulu-CASIA -----------------------------------------------------------------------------------------
def test_oulu(tmp_path, build):
    build.oulu(tmp_path)
    ds = _open("oulu", tmp_path, "all")
    got = [(it.extra["sequence"], it.path.name, it.expression) for it in ds.items]
    assert got == [
        ("P001/Anger", "002.jpeg", E["anger"]), ("P001/Anger", "003.jpeg", E["anger"]),
        ("P001/Anger", "004.jpeg", E["anger"]),
        ("P001/Happiness", "000.jpeg", E["happiness"]), ("P001/Happiness", "001.jpeg", E["happiness"]),
        ("P001/Happiness", "002.jpeg", E["happiness"]),
        ("P002/Surprise", "001.jpeg", E["surprise"]), ("P002/Surprise", "002.jpeg", E["surprise"]),
        ("P002/Surprise", "003.jpeg", E["surprise"]),
    ]
    assert all("VL" in it.path.parts and "Strong" in it.path.parts for it in ds.items)
    assert ds.identity_names == ["P001", "P002"] and ds.identities.tolist() == [0] * 6 + [1] * 3
    with_neutral = _open("oulu", tmp_path / "OriginalImg" / "VL", "all", neutral=True)
    assert with_neutral.expressions.tolist().count(E["neutral"]) == 2  # P001 Anger, P002 Surprise
    ni = _open("oulu", tmp_path, "all", modality="NI")
    assert len(ni) == 1 and "NI" in ni.items[0].path.parts
    weak = _open("oulu", tmp_path, "all", lighting="Weak")
    assert weak.identity_names == ["P003"] and weak.expressions.tolist() == [E["fear"]]
    te = _open("oulu", tmp_path, "test", folds=2, fold=1)
    tr = _open("oulu", tmp_path, "train", folds=2, fold=1)
    assert len(te) + len(tr) == 9 and len(set(te.identities.tolist())) == 1


# --- KDEF -----------------------------------------------------------------------------------------------
def test_kdef(tmp_path, build):
    build.kdef(tmp_path)
    ds = _open("kdef", tmp_path, "all")
    got = [(it.path.name, it.expression, it.extra["subject"], it.extra["angle"]) for it in ds.items]
    assert got == [
        ("AF01AFS.JPG", E["fear"], "F01", "S"), ("AF01HAFL.JPG", E["happiness"], "F01", "FL"),
        ("AM02NES.JPG", E["neutral"], "M02", "S"), ("BF01DIS.JPG", E["disgust"], "F01", "S"),
        ("BF01SUHR.JPG", E["surprise"], "F01", "HR"),
    ]
    assert ds.identity_names == ["F01", "M02"] and ds.identities.tolist() == [0, 0, 1, 0, 0]
    front = _open("kdef", tmp_path / "KDEF", "all", angles="S")
    assert [it.path.name for it in front.items] == ["AF01AFS.JPG", "AM02NES.JPG", "BF01DIS.JPG"]
    (tmp_path / "KDEF" / "AF01" / "AF01XXS.JPG").write_bytes(b"x")
    with pytest.raises(DatasetIndexError, match=r"AF01XXS\.JPG: unknown expression code 'XX'"):
        _open("kdef", tmp_path, "all")


# --- Multi-PIE ------------------------------------------------------------------------------------------
def test_multipie_raw_tree(tmp_path, build):
    build.multipie_raw(tmp_path)
    ds = _open("multipie", tmp_path, "all")
    got = [(it.path.name, it.expression) for it in ds.items]
    assert got == [
        ("001_01_01_051_00.png", E["neutral"]), ("001_01_01_051_07.png", E["neutral"]),
        ("001_01_02_051_07.png", E["happiness"]),
        ("002_02_02_051_07.png", E["surprise"]),  # squint (002_02_03) has no canonical class
        ("003_03_03_051_07.png", E["disgust"]),  # scream (001_04_03) neither
    ]
    assert ds.identity_names == ["001", "002", "003"] and ds.identities.tolist() == [0, 0, 0, 1, 2]
    native = _open("multipie", tmp_path, "all", labels="native", illuminations=[7])
    assert native.class_names == ("disgust", "scream", "smile", "squint", "surprise", "neutral")
    assert [(it.path.name, it.expression) for it in native.items] == [
        ("001_01_01_051_07.png", 5), ("001_01_02_051_07.png", 2), ("002_02_02_051_07.png", 4),
        ("002_02_03_051_07.png", 3), ("003_03_03_051_07.png", 0), ("001_04_03_051_07.png", 1),
    ]
    cam = _open("multipie", tmp_path, "all", cameras=["04_1"])
    assert [it.path.name for it in cam.items] == ["001_01_02_041_07.png"]
    te = _open("multipie", tmp_path, "test", folds=3, fold=0, labels="native")
    tr = _open("multipie", tmp_path, "train", folds=3, fold=0, labels="native")
    assert len(te) + len(tr) == 7 and not set(te.identities.tolist()) & set(tr.identities.tolist())


def test_multipie_jesrl_lists(tmp_path, build):
    root = tmp_path / "dataset" / "multipie"
    build.multipie_jesrl(root)
    native = _open("multipie", root, labels="native")
    assert _names(native) == ["train_0001.jpg", "train_0002.jpg", "train_0003.jpg"]
    assert native.expressions.tolist() == [2, 1, 0] and native.identities.tolist() == [-1] * 3
    canon = _open("multipie", root)
    assert canon.expressions.tolist() == [E["happiness"], E["disgust"]]  # scream dropped
    test = _open("multipie", root, "test")
    assert _names(test) == ["test_0001.jpg"] and test.expressions.tolist() == [E["neutral"]]
    assert len(_open("multipie", root, "all", labels="native")) == 4


def test_multipie_jesrl_bad_row(tmp_path, build):
    root = tmp_path / "mp"
    build.multipie_jesrl(root, bad_row=True)
    with pytest.raises(DatasetIndexError, match=r"list_attr_multipie_train\.txt:6: train_0004\.jpg: 2 classes"):
        _open("multipie", root)


# --- EmotioNet / GANimation -----------------------------------------------------------------------------
@pytest.mark.parametrize("values", ["intensity", "presence"])
def test_emotionet(tmp_path, build, values):
    import numpy as np

    from genfer.data.aus import presence_from_intensity

    written = build.emotionet(tmp_path)
    ds = _open("emotionet", tmp_path, aus=values)
    rel = [f"{it.path.parts[-4]}/{it.path.name}" for it in ds.items]
    assert rel == ["batch_a/frame_det_00_000001.bmp", "batch_a/frame_det_00_000003.bmp",
                   "batch_b/frame_det_00_000001.bmp", "batch_b/frame_det_00_000003.bmp"]  # success=0 row gone
    expect = np.concatenate([written["batch_a"][[0, 2]], written["batch_b"][[0, 2]]])
    expect = np.round(expect, 2) if values == "intensity" else presence_from_intensity(expect)
    s = ds[3]
    assert s["aus"].dtype == torch.float32 and s["aus"].shape == (17,)
    np.testing.assert_allclose(torch.stack([ds[i]["aus"] for i in range(4)]).numpy(), expect, atol=1e-6)
    assert ds.expressions.tolist() == [UNKNOWN] * 4 and len(_open("emotionet", tmp_path / "batch_b")) == 2


def test_ganimation(tmp_path, build):
    build.ganimation(tmp_path)
    train = _open("ganimation", tmp_path)
    assert _names(train) == ["a", "b"] and train[1]["aus"].tolist() == [1.0] * 17
    test = _open("ganimation", tmp_path, "test")
    assert _names(test) == ["c"] and test[0]["aus"].tolist() == [2.0] * 17
    with pytest.raises(DatasetIndexError, match=r"aus_openface\.pkl: 'd': no image"):
        _open("ganimation", tmp_path, "all")
    assert _names(_open("ganimation", tmp_path, "all", on_error="skip")) == ["a", "b", "c"]
    (tmp_path / "test_ids.csv").write_text("c.jpg\nzz.jpg\n")
    with pytest.raises(DatasetIndexError, match=r"test_ids\.csv:2: 'zz' has no entry in aus_openface\.pkl"):
        _open("ganimation", tmp_path, "test")


# --- FFHQ / CelebA-HQ -----------------------------------------------------------------------------------
def test_ffhq(tmp_path, build):
    build.ffhq(tmp_path)
    assert [it.path.name for it in _open("ffhq", tmp_path).items] == ["00000.png", "00001.png"]
    val = _open("ffhq", tmp_path, "test")
    assert val.split == "val" and [it.extra["number"] for it in val.items] == [60000]
    assert len(_open("ffhq", tmp_path, "all")) == 3
    thumbs = _open("ffhq", tmp_path, resolution=128)
    assert len(thumbs) == 1 and "thumbnails128x128" in thumbs.items[0].path.parts
    assert thumbs[0]["identity"] == -1 and thumbs[0]["expression"] == UNKNOWN


def test_celebahq_mask_layout(tmp_path, build):
    build.celebahq_mask(tmp_path)
    train = _open("celebahq", tmp_path)
    assert [it.extra["number"] for it in train.items] == [0, 1]  # CelebA partition 0
    assert _open("celebahq", tmp_path, "test").items[0].extra["celeba_file"] == "000006.jpg"
    assert [it.extra["number"] for it in _open("celebahq", tmp_path, "val").items] == [10]
    everything = _open("celebahq", tmp_path, "all")
    assert [it.extra["number"] for it in everything.items] == [0, 1, 2, 10]
    assert everything.identity_names == ["15", "2880", "3"] and everything.identities.tolist() == [1, 0, 1, 2]
    (tmp_path / "list_eval_partition.txt").unlink()
    with pytest.raises(FileNotFoundError, match="list_eval_partition"):
        _open("celebahq", tmp_path, "test")
    assert len(_open("celebahq", tmp_path)) == 4


def test_celebahq_stargan_layout(tmp_path, build):
    build.celebahq_stargan(tmp_path)
    train = _open("celebahq", tmp_path)
    assert [(it.path.name, it.extra["gender"]) for it in train.items] == [("a.jpg", "female"), ("b.jpg", "male")]
    assert [it.path.name for it in _open("celebahq", tmp_path, "test").items] == ["c.jpg"]


# --- SFEW / folder --------------------------------------------------------------------------------------
@pytest.mark.parametrize("nested", [False, True])
def test_sfew(tmp_path, build, nested):
    build.sfew(tmp_path, nested=nested)
    train = _open("sfew", tmp_path)
    assert [it.path.name for it in train.items] == ["a.png", "b.png", "c.png"]
    assert train.expressions.tolist() == [E["anger"], E["happiness"], E["happiness"]]
    val = _open("sfew", tmp_path, "test")
    assert val.split == "val" and val.expressions.tolist() == [E["sadness"]]


def test_folder_class_names_and_splits(tmp_path, image_writer):
    for rel in ("train/happy/x.jpg", "train/Angry/sub/y.jpg", "train/contempt/w.jpg", "Test/Neutral/z.jpg"):
        image_writer(tmp_path / rel)
    train = _open("folder", tmp_path)
    assert [(it.path.name, it.expression) for it in train.items] == [
        ("y.jpg", E["anger"]), ("w.jpg", E["contempt"]), ("x.jpg", E["happiness"])
    ]
    assert _open("folder", tmp_path, "test").expressions.tolist() == [E["neutral"]]
    assert len(_open("folder", tmp_path, "all")) == 4
    with pytest.raises(FileNotFoundError, match="no val/ folder"):
        _open("folder", tmp_path, "val")
    image_writer(tmp_path / "train" / "other" / "o.jpg")
    with pytest.raises(DatasetIndexError, match=r"other: not a class folder: unknown expression 'other'"):
        _open("folder", tmp_path)
    flat = tmp_path / "flat"
    image_writer(flat / "sad" / "s.jpg")
    assert _open("folder", flat).expressions.tolist() == [E["sadness"]]


def test_folder_numbered_classes_need_a_label_map(tmp_path, image_writer):
    for k in (1, 4, 7):
        image_writer(tmp_path / "raf-db" / "train" / str(k) / f"{k}.jpg")
    with pytest.raises(DatasetIndexError, match="pass label_map="):
        _open("folder", tmp_path / "raf-db")
    ds = _open("folder", tmp_path / "raf-db", label_map="rafdb")
    assert ds.expressions.tolist() == [E["surprise"], E["happiness"], E["neutral"]]
    canon = _open("folder", tmp_path / "raf-db", label_map="canonical")
    assert canon.expressions.tolist() == [E["happiness"], E["fear"], E["contempt"]]


def test_folder_csv_list(tmp_path, image_writer):
    for n in ("a b.jpg", "é.jpg", "c.jpg", "d.jpg"):
        image_writer(tmp_path / "imgs" / n)
    lst = tmp_path / "list.csv"
    lst.write_text(
        "path,expression,split,subject\n"
        "imgs/a b.jpg,happy,train,s2\nimgs/é.jpg,6,train,s1\nimgs/c.jpg,,test,s1\nimgs/d.jpg,fear,valid,s3\n"
    )
    train = _open("folder", lst)
    assert [it.path.name for it in train.items] == ["a b.jpg", "é.jpg"]
    assert train.expressions.tolist() == [E["happiness"], E["anger"]]
    assert train.identity_names == ["s1", "s2"] and train.identities.tolist() == [1, 0]
    assert _open("folder", tmp_path, "test", list_file="list.csv", unknown="keep").expressions.tolist() == [UNKNOWN]
    assert _open("folder", lst, "val").expressions.tolist() == [E["fear"]]
    plain = tmp_path / "plain.txt"
    plain.write_text("imgs/c.jpg,surprise\nimgs/d.jpg,bogus\nimgs/c.jpg,sad\n")
    ds = _open("folder", plain, on_error="skip")
    assert ds.expressions.tolist() == [E["surprise"]]
    assert "plain.txt:2: label: unknown expression 'bogus'" in ds.problems[0]
    assert "plain.txt:3: duplicate entry" in ds.problems[1]
    with pytest.raises(ValueError, match="no split column"):
        _open("folder", plain, "test")


def test_every_reader_has_a_docs_page():
    from pathlib import Path

    docs = Path(__file__).resolve().parents[2] / "docs" / "datasets"
    table = (docs / "README.md").read_text()
    for name in DATASETS.names():
        page = docs / f"{name}.md"
        assert page.is_file(), f"missing {page}"
        assert f"`{name}`" in table and f"({name}.md)" in table
        text = page.read_text()
        assert "## " in text and "Use with genfer" in text


def test_readers_on_synthface_export(tmp_path):
    """SynthFace's export writes RAF-DB, CASIA and EmotioNet layouts; readers must agree with its index."""
    import csv

    export = pytest.importorskip("genfer.data.synthface.export")
    export.export_synthface(tmp_path, identities=2, per_identity=3, test_identities=1, size=32, channels=1)
    with open(tmp_path / "synthface_index.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    truth = {r["file"]: r for r in rows}
    raf = _open("rafdb", tmp_path / "rafdb", channels=1)
    for it in raf.items:
        assert it.expression == int(truth[str(it.path.relative_to(tmp_path))]["expression"])
    assert len(raf) == 6 and len(_open("rafdb", tmp_path / "rafdb", "test")) == 3
    casia = _open("casia", tmp_path / "casia")
    idents = [int(truth[str(it.path.relative_to(tmp_path))]["identity"]) for it in casia.items]
    assert casia.identities.tolist() == [sorted(set(idents)).index(i) for i in idents]
    emo = _open("emotionet", tmp_path / "emotionet")
    assert len(emo) == 6
    for it in emo.items:
        expect = [float(truth[str(it.path.relative_to(tmp_path))][a]) for a in AU_NAMES]
        assert it.aus.tolist() == pytest.approx(expect, abs=0.0051)  # CSV keeps 2 decimals


def test_bad_image_file_fails_at_load_naming_it(tmp_path, make_rafdb):
    from genfer.data.io import ImageError

    basic = make_rafdb(tmp_path)
    broken = basic / "Image" / "aligned" / "train_00002_aligned.jpg"
    broken.write_bytes(b"")
    ds = _open("rafdb", basic)  # indexing only stats files
    assert ds[0]["image"].shape == (3, 10, 10)
    with pytest.raises(ImageError, match=r"train_00002_aligned\.jpg: empty file"):
        ds[1]


def test_added_label_maps_round_trip():
    from genfer.data.labels import FERPLUS, KDEF_CODES, LABEL_MAPS, MULTIPIE, MULTIPIE_RECORDINGS

    assert set(LABEL_MAPS) == {"rafdb", "fer2013", "affectnet", "ckplus", "ferplus", "multipie"}
    for m in LABEL_MAPS.values():
        for label in range(m.offset, m.offset + len(m.names)):
            c = m.to_canonical(label)
            if c != UNKNOWN:
                assert m.from_canonical(c) == label
    assert [FERPLUS.to_canonical(j) for j in range(10)] == [0, 1, 3, 2, 6, 5, 4, 7, UNKNOWN, UNKNOWN]
    assert [MULTIPIE.to_canonical(j) for j in range(6)] == [5, UNKNOWN, 1, UNKNOWN, 3, 0]
    assert sorted(E[v] for v in KDEF_CODES.values()) == list(range(7))
    assert set(MULTIPIE_RECORDINGS.values()) == {"disgust", "scream", "smile", "squint", "surprise", "neutral"}


def test_open_dataset_typed_options(tmp_path, build):
    build.ckplus(tmp_path)
    ds = open_dataset(f"ckplus:{tmp_path}?folds=3&fold=2&frames=peak&neutral=false", split="test")
    assert ds.frames == "peak" and ds.neutral is False and len(ds) in (1, 2)
    with pytest.raises(ValueError, match="not key=value"):
        open_dataset(f"ckplus:{tmp_path}?folds")


# --- every registered reader against a generated fixture ---------------------------------------------
READER_FIXTURES = {
    "affectnet": lambda root, fx: fx.build.affectnet_csv(root),
    "casia": lambda root, fx: fx.make_casia(root, {"0000001": ["001.jpg", "002.jpg"], "0000002": ["001.jpg"]}),
    "cdan": lambda root, fx: fx.build.ganimation(root),  # imgs/ read as a class folder, pkl by basename
    "celebahq": lambda root, fx: fx.build.celebahq_mask(root),
    "ckplus": lambda root, fx: fx.build.ckplus(root),
    "emotionet": lambda root, fx: fx.build.emotionet(root),
    "fer2013": lambda root, fx: fx.build.fer2013(root),
    "ferplus": lambda root, fx: fx.build.ferplus(root),
    "ffhq": lambda root, fx: fx.build.ffhq(root),
    "folder": lambda root, fx: fx.build.openface_folder(root),
    "ganimation": lambda root, fx: fx.build.ganimation(root),
    "kdef": lambda root, fx: fx.build.kdef(root),
    "multipie": lambda root, fx: fx.build.multipie_jesrl(root),
    "oulu": lambda root, fx: fx.build.oulu(root),
    "rafdb": lambda root, fx: fx.make_rafdb(root),
    "sfew": lambda root, fx: fx.build.sfew(root),
    "store": lambda root, fx: fx.build.store(root),
}
READER_OPTIONS = {"folder": {"aus": "openface.csv"}, "ganimation": {"on_error": "skip"},
                  "cdan": {"aus": "aus_openface.pkl"}}


@pytest.mark.parametrize("name", DATASETS.names())
def test_every_reader_reads_its_generated_fixture(tmp_path, name, build, make_rafdb, make_casia):
    """A reader registered without a fixture here fails: every reader is read from a generated tree."""
    from types import SimpleNamespace

    assert name in READER_FIXTURES, f"reader {name!r} has no generated fixture in READER_FIXTURES"
    root = tmp_path / name  # builders create it (some insist on a new folder)
    made = READER_FIXTURES[name](root, SimpleNamespace(build=build, make_rafdb=make_rafdb, make_casia=make_casia))
    if isinstance(made, type(root)):
        root = made  # builders that return the dataset root (rafdb's basic/)
    reader = DATASETS.get(name)
    split = "all" if "all" in reader.splits else "train"
    ds = reader(root, split=split, channels=1, size=12, **READER_OPTIONS.get(name, {}))
    assert len(ds) > 0 and ds.expressions.shape == ds.identities.shape == (len(ds),)
    assert bool(((ds.expressions >= -1) & (ds.expressions <= 7)).all())
    for i in (0, len(ds) - 1):
        s = ds[i]
        assert s["image"].dtype == torch.uint8 and s["image"].shape == (1, 12, 12)
        assert s["expression"] == int(ds.expressions[i]) and s["identity"] == int(ds.identities[i])
        if ds.has_aus:
            assert s["aus"].dtype == torch.float32 and s["aus"].shape == (17,) and bool(torch.isfinite(s["aus"]).all())
        else:
            assert "aus" not in s


def test_folder_unlabelled_images(tmp_path, image_writer):
    for rel in ("b.jpg", "a.jpg", "openface/a.csv.jpg"):  # a non-class sub-folder is ignored
        image_writer(tmp_path / "flat" / rel)
    flat = _open("folder", tmp_path / "flat")
    assert [it.path.name for it in flat.items] == ["a.jpg", "b.jpg"] and not flat.labelled
    assert flat.expressions.tolist() == [UNKNOWN, UNKNOWN] and flat[0]["identity"] == -1
    for rel in ("00000/1.png", "00001/2.png"):
        image_writer(tmp_path / "nested" / rel)
    with pytest.raises(DatasetIndexError, match="not a class folder"):
        _open("folder", tmp_path / "nested")
    assert [it.path.name for it in _open("folder", tmp_path / "nested", labels="none").items] == ["1.png", "2.png"]
    image_writer(tmp_path / "mixed" / "loose.jpg")
    image_writer(tmp_path / "mixed" / "happy" / "h.jpg")  # a class folder: a labelled tree
    assert _open("folder", tmp_path / "mixed").expressions.tolist() == [E["happiness"]]


def test_folder_openface_csv_problems(tmp_path, build):
    build.openface_folder(tmp_path, per_image=True)
    (tmp_path / "openface" / "b.csv").unlink()
    with pytest.raises(DatasetIndexError, match=r"b\.csv: no OpenFace CSV for b\.png"):
        _open("folder", tmp_path, aus="openface")
    ds = _open("folder", tmp_path, aus="openface", on_error="skip")
    assert [it.path.name for it in ds.items] == ["a.png", "d.png"] and len(ds.problems) == 1
    build.openface_folder(tmp_path / "one")
    (tmp_path / "one" / "e.png").write_bytes((tmp_path / "one" / "a.png").read_bytes())
    with pytest.raises(DatasetIndexError, match="4 rows for 5 images"):
        _open("folder", tmp_path / "one", aus="openface.csv")
