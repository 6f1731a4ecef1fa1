"""OpenFace CSV and GANimation pkl I/O: formats as OpenFace writes them, exact round trips."""

from __future__ import annotations

import math
import os
import pickle

import numpy as np
import pytest

from genfer.data.aus import (
    AU_NAMES,
    NUM_AUS,
    presence_from_intensity,
    read_ganimation_pkl,
    read_openface_csv,
    write_ganimation_pkl,
    write_openface_csv,
)

PRESENCE = [*AU_NAMES[:16], "AU28", "AU45"]


def _feature_extraction_csv(path, rows, shuffle_aus=False, crlf=False, bom=False):
    """A FeatureExtraction CSV as OpenFace 2.2 writes it: ', ' separators, gaze/pose before AUs."""
    r_names = [f"{a}_r" for a in AU_NAMES]
    if shuffle_aus:
        r_names = r_names[::-1]
    header = ["frame", "face_id", "timestamp", "confidence", "success", "gaze_0_x", "pose_Tx"]
    header += r_names + [f"{a}_c" for a in PRESENCE]
    lines = [", ".join(header)]
    for frame, success, r, c in rows:
        r_vals = [r[AU_NAMES.index(n[:-2])] for n in r_names]
        vals = [str(frame), "0", f"{(frame - 1) / 30:.3f}", "0.98", str(success), "0.123456", "12.5"]
        vals += [f"{v:.2f}" for v in r_vals] + [f"{v:.1f}" for v in c]
        lines.append(", ".join(vals))
    text = ("\r\n" if crlf else "\n").join(lines) + "\n"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    return path


def test_feature_extraction_by_name_success_filter_and_au28(tmp_path):
    r1 = np.linspace(0, 4.8, NUM_AUS)
    r2 = np.full(NUM_AUS, 0.25)
    r3 = np.arange(NUM_AUS) / 10
    c = [1.0] * 16 + [1.0, 0.0]  # AU28_c = 1, AU45_c = 0
    p = _feature_extraction_csv(
        tmp_path / "fe.csv",
        [(1, 1, r1, c), (2, 0, r2, c), (3, 1, r3, [0.0] * 18)],
        shuffle_aus=True,
        crlf=True,
        bom=True,
    )
    t = read_openface_csv(p)
    assert t.kind == "FeatureExtraction" and len(t) == 2 and t.dropped == 1
    assert t.frame.tolist() == [1, 3] and t.face_id.tolist() == [0, 0]
    assert t.timestamp.tolist() == [0.0, pytest.approx(0.067)]
    assert t.confidence.tolist() == [0.98, 0.98] and t.success.tolist() == [True, True]
    np.testing.assert_array_equal(t.intensity[0], np.round(r1, 2).astype(np.float32))
    np.testing.assert_array_equal(t.intensity[1], np.round(r3, 2).astype(np.float32))
    assert t.intensity.dtype == np.float32 and t.intensity.shape == (2, NUM_AUS)
    assert t.presence[0].tolist() == [1.0] * 16 + [0.0]  # AU45_c lands at AU45, not at AU28
    assert t.au28_presence.tolist() == [1.0, 0.0]
    assert t.columns["gaze_0_x"].tolist() == [0.123456, 0.123456]
    everything = read_openface_csv(p, success_only=False)
    assert len(everything) == 3 and everything.success.tolist() == [True, False, True]


def test_face_landmark_img_layout_and_missing_aus(tmp_path):
    # FaceLandmarkImg -aus: face, confidence, 17 AU_r at positions [2:19], then the AU_c block.
    header = ["face", "confidence"] + [f"{a}_r" for a in AU_NAMES] + [f"{a}_c" for a in PRESENCE]
    row0 = ["0", "0.975"] + [f"{i / 4:.2f}" for i in range(NUM_AUS)] + ["1.0"] * 18
    row1 = ["1", "0.5"] + ["0.00"] * NUM_AUS + ["0.0"] * 18
    p = tmp_path / "img.csv"
    p.write_text("\n".join(", ".join(r) for r in (header, row0, row1)) + "\n")
    t = read_openface_csv(p)
    assert t.kind == "FaceLandmarkImg" and t.timestamp is None
    assert t.face_id.tolist() == [0, 1] and t.frame.tolist() == [1, 2]
    assert t.confidence.tolist() == [0.975, 0.5]
    positional = np.array([float(v) for v in row0[2:19]], dtype=np.float32)
    np.testing.assert_array_equal(t.intensity[0], positional)
    # A file with only some AUs: the rest are NaN, not zero.
    q = tmp_path / "few.csv"
    q.write_text("face, confidence, AU12_r, AU06_c\n0, 0.9, 2.50, 1.0\n")
    t = read_openface_csv(q)
    assert t.intensity[0, AU_NAMES.index("AU12")] == 2.5
    assert math.isnan(t.intensity[0, 0]) and np.isnan(t.intensity).sum() == NUM_AUS - 1
    assert t.presence[0, AU_NAMES.index("AU06")] == 1.0 and t.au28_presence is None


def test_bad_openface_files_name_file_and_line(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("frame, success, AU01_r\n1, 1, 0.5\n2, 1, oops\n")
    with pytest.raises(ValueError, match=r"bad\.csv:3: column 3 value 'oops' is not a number"):
        read_openface_csv(p)
    p.write_text("frame, success, AU01_r\n1, 1, 0.5\n2, 1\n")
    with pytest.raises(ValueError, match=r"bad\.csv:3: 2 values for 3 header columns"):
        read_openface_csv(p)
    p.write_text("frame, success, gaze_0_x\n1, 1, 0.5\n")
    with pytest.raises(ValueError, match="no AUxx_r"):
        read_openface_csv(p)
    p.write_text("")
    with pytest.raises(ValueError, match="empty file"):
        read_openface_csv(p)
    p.write_text("frame, success, AU01_r\n")
    assert len(read_openface_csv(p)) == 0


def test_write_format_and_exact_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    aus = rng.uniform(0, 5, (5, NUM_AUS))
    aus[0, :3] = [0.996, 1.0, -0.001]  # rounds up to present; exact 1; would print "-0.00"
    p = tmp_path / "out" / "aus.csv"
    write_openface_csv(p, aus, frames=[3, 4, 5, 6, 7], confidence=[0.9] * 5, success=[1, 1, 0, 1, 1])
    lines = p.read_text().splitlines()
    assert lines[0].startswith("frame, face_id, timestamp, confidence, success, AU01_r, AU02_r")
    assert lines[0].endswith("AU26_c, AU45_c") and "AU28" not in lines[0]
    first = lines[1].split(", ")
    assert first[:8] == ["3", "0", "0.000", "0.90", "1", "1.00", "1.00", "0.00"]
    assert first[5 + NUM_AUS : 5 + NUM_AUS + 3] == ["1.0", "1.0", "0.0"]
    t = read_openface_csv(p, success_only=False)
    written = np.array([[float(f"{v:.2f}") for v in row] for row in aus], dtype=np.float32)
    written[written == 0] = 0.0
    np.testing.assert_array_equal(t.intensity, written)
    np.testing.assert_array_equal(t.presence, presence_from_intensity(aus))
    assert t.frame.tolist() == [3, 4, 5, 6, 7] and t.success.tolist() == [True, True, False, True, True]
    assert len(read_openface_csv(p)) == 4
    # Writing what was read gives the same file.
    q = tmp_path / "again.csv"
    write_openface_csv(q, t.intensity, t.frame, t.confidence, t.success)
    assert q.read_text() == p.read_text()


def test_write_rejects_bad_shapes(tmp_path):
    with pytest.raises(ValueError, match=r"\[N, 17\]"):
        write_openface_csv(tmp_path / "x.csv", np.zeros((2, 6)))
    with pytest.raises(ValueError, match="NaN"):
        write_openface_csv(tmp_path / "x.csv", np.full((1, NUM_AUS), np.nan))
    with pytest.raises(ValueError, match="frames"):
        write_openface_csv(tmp_path / "x.csv", np.zeros((2, NUM_AUS)), frames=[1])


def test_ganimation_pkl_round_trip_and_old_numpy_pickles(tmp_path):
    table = {"N_0000000001_00001": np.arange(NUM_AUS) / 4, "img 2": np.ones(NUM_AUS)}
    p = tmp_path / "aus_openface.pkl"
    write_ganimation_pkl(p, table)
    got = read_ganimation_pkl(p)
    assert list(got) == list(table)
    for k in table:
        assert got[k].dtype == np.float32
        np.testing.assert_array_equal(got[k], table[k].astype(np.float32))
    # A pickle made by numpy 1.x names numpy.core.multiarray (protocol 2 spells globals as text).
    old = pickle.dumps({"a": np.arange(6, dtype=np.float64)}, protocol=2)
    old = old.replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")
    assert b"numpy.core.multiarray" in old
    (tmp_path / "old.pkl").write_bytes(old)
    assert read_ganimation_pkl(tmp_path / "old.pkl")["a"].tolist() == [0, 1, 2, 3, 4, 5]  # CDAN-style 6 AUs
    (tmp_path / "p5.pkl").write_bytes(pickle.dumps({"b": np.ones(3)}, protocol=5))
    assert read_ganimation_pkl(tmp_path / "p5.pkl")["b"].tolist() == [1, 1, 1]


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_ganimation_pkl_refuses_code(tmp_path):
    p = tmp_path / "evil.pkl"
    p.write_bytes(pickle.dumps({"x": _Evil()}))
    with pytest.raises(ValueError, match=r"evil\.pkl: not a readable AU pickle .*refusing to load"):
        read_ganimation_pkl(p)
    p.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(ValueError, match="expected a dict"):
        read_ganimation_pkl(p)
    p.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="not a readable AU pickle"):
        read_ganimation_pkl(p)
