"""The ``cdan`` reader: CDAN's pkl, GANimation's pkl and OpenFace CSVs as AU sources; bad AU files."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genfer.data.aus import au_index, write_ganimation_pkl, write_openface_csv
from genfer.data.base import DatasetIndexError
from genfer.data.datasets.cdan import CDANData, read_cdan_aus

SIX = [au_index(a) for a in ("AU01", "AU04", "AU06", "AU12", "AU15", "AU25")]


def _images(root: Path, names=("a.jpg", "b.jpg", "c.jpg")) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for i, n in enumerate(names):
        Image.fromarray(np.full((8, 8, 3), 30 * i, np.uint8)).save(root / n)


def _cdan_pkl(path: Path, table: dict) -> Path:
    with open(path, "wb") as f:  # as datasets_pre_col.py writes it: basename -> float array(6)
        pickle.dump({k: np.asarray(v, np.float64) for k, v in table.items()}, f)
    return path


def test_cdan_pkl_flat_folder_and_class_subfolders(tmp_path):
    _images(tmp_path / "imgs")
    _images(tmp_path / "imgs" / "happy", ("d.jpg",))
    pkl = _cdan_pkl(tmp_path / "au.pkl", {k: [1, 2, 3, 4, 5, 0.5] for k in "abcd"})
    ds = CDANData(tmp_path / "imgs", aus=str(pkl))
    assert [it.path.name for it in ds.items] == ["a.jpg", "b.jpg", "c.jpg", "d.jpg"]
    s = ds[3]
    assert s["aus"][SIX].tolist() == [1, 2, 3, 4, 5, 0.5]
    assert float(s["aus"].sum()) == pytest.approx(15.5)  # the other eleven are 0
    assert ds.items[3].extra["class_folder"] == "happy"


def test_a_face_missing_from_the_au_file_is_named_or_skipped_and_counted(tmp_path):
    _images(tmp_path)
    _cdan_pkl(tmp_path / "au.pkl", {"a": [1] * 6, "c": [2] * 6})
    with pytest.raises(DatasetIndexError, match=r"b\.jpg \('b'\) has no entry"):
        CDANData(tmp_path, aus="au.pkl")
    ds = CDANData(tmp_path, aus="au.pkl", on_error="skip")
    assert [it.path.stem for it in ds.items] == ["a", "c"] and len(ds.problems) == 1


def test_wrong_vector_lengths_and_code_carrying_pickles_are_rejected(tmp_path):
    _images(tmp_path)
    _cdan_pkl(tmp_path / "au.pkl", {"a": [1] * 5})
    with pytest.raises(ValueError, match="entry 'a' has 5 AU values; expected 6"):
        CDANData(tmp_path, aus="au.pkl")

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with open(tmp_path / "evil.pkl", "wb") as f:
        pickle.dump({"a": Evil()}, f)
    with pytest.raises(ValueError, match="refusing to load builtins.print"):
        read_cdan_aus(tmp_path / "evil.pkl")


def test_ganimation_pkl_gives_all_17(tmp_path):
    _images(tmp_path)
    write_ganimation_pkl(tmp_path / "aus_openface.pkl", {k: np.arange(17.0) / 4 for k in "abc"})
    ds = CDANData(tmp_path, aus="aus_openface.pkl")
    assert ds[0]["aus"].tolist() == (np.arange(17.0) / 4).tolist()


def test_openface_csv_folder_and_named_csv(tmp_path):
    _images(tmp_path / "imgs")
    out = tmp_path / "openface"
    for i, k in enumerate("abc"):
        write_openface_csv(out / f"{k}.csv", np.full((1, 17), float(i)))
    ds = CDANData(tmp_path / "imgs", aus=str(out))
    assert [float(ds[i]["aus"][SIX[0]]) for i in range(3)] == [0.0, 1.0, 2.0]
    named = tmp_path / "aus.csv"
    named.write_text("name, AU01_r, AU04_r, AU06_r, AU12_r, AU15_r, AU25_r\n"
                     "a.jpg, 1, 2, 3, 4, 5, 0\nb.jpg, 0, 0, 0, 0, 0, 1\nc.jpg, 1, 1, 1, 1, 1, 1\n")
    ds = CDANData(tmp_path / "imgs", aus=str(named))
    assert ds[0]["aus"][SIX].tolist() == [1, 2, 3, 4, 5, 0]


def test_an_au_file_with_wrong_columns_is_a_clear_error(tmp_path):
    _images(tmp_path)
    bad = tmp_path / "aus.csv"
    bad.write_text("name, AU01_r, AU02_r, AU06_r\na.jpg, 1, 2, 3\n")
    with pytest.raises(ValueError, match=r"aus\.csv: AU column\(s\) AU04_r, AU12_r, AU15_r, AU25_r missing"):
        CDANData(tmp_path, aus="aus.csv")
    nameless = tmp_path / "n.csv"
    nameless.write_text("AU01_r, AU04_r, AU06_r, AU12_r, AU15_r, AU25_r\n1, 2, 3, 4, 5, 0\n")
    with pytest.raises(ValueError, match="no image-name column"):
        CDANData(tmp_path, aus="n.csv")
    (tmp_path / "of").mkdir()
    (tmp_path / "of" / "a.csv").write_text("face, confidence, AU01_r, AU02_r\n0, 0.9, 1, 2\n")
    with pytest.raises(ValueError, match="AU04_r, AU06_r, AU12_r, AU15_r, AU25_r missing"):
        CDANData(tmp_path, aus="of")


def test_the_aus_kind_trains_cdan_on_a_cdan_folder(tmp_path):
    from genfer.data.specs import open_dataset

    _images(tmp_path, tuple(f"{k}.jpg" for k in "abcdef"))
    _cdan_pkl(tmp_path / "au.pkl", {k: [1] * 6 for k in "abcdef"})
    ds = open_dataset(f"cdan:{tmp_path}?aus=au.pkl")
    assert len(ds) == 6 and ds.has_aus
