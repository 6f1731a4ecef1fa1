"""Fixture builders: tiny dataset trees in each reader's exact on-disk layout.

Each ``make_*`` fixture returns a function that writes a tree under a given folder and returns
what the reader should find, so tests can compare item by item. Images are 8x8 noise written
with Pillow (fast; readers never look at pixels).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def write_image(path: Path, size: tuple[int, int] = (8, 8), mode: str = "RGB", seed: int = 0, **save) -> Path:
    """Write a small noise image (format from the extension) and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    shape = (size[1], size[0]) if mode == "L" else (size[1], size[0], 3)
    img = Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), "L" if mode == "L" else "RGB")
    if mode not in ("L", "RGB"):
        img = img.convert(mode)
    img.save(path, **save)
    return path


@pytest.fixture
def image_writer() -> Callable[..., Path]:
    return write_image


def png_bytes(width: int, height: int, bit_depth: int = 8, colour_type: int = 0, data: bytes = b"") -> bytes:
    """A PNG stream with the given IHDR and one IDAT chunk (for headers Pillow cannot be made to save)."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return len(payload).to_bytes(4, "big") + kind + payload + crc.to_bytes(4, "big")

    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([bit_depth, colour_type, 0, 0, 0])
    body = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(data)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


@pytest.fixture
def png_writer() -> Callable[..., bytes]:
    return png_bytes


# --- RAF-DB -----------------------------------------------------------------------------------
RAF_LINES = [
    ("train_00001.jpg", 1),  # surprise
    ("train_00002.jpg", 4),  # happiness
    ("train_00003.jpg", 7),  # neutral
    ("test_0001.jpg", 6),  # anger
    ("test_0002.jpg", 2),  # fear
]


@pytest.fixture
def make_rafdb() -> Callable[..., Path]:
    """``make(root, lines=RAF_LINES, aligned=True, skip_aligned=(), extra_lines=())`` -> basic/ dir."""

    def make(root: Path, lines=RAF_LINES, aligned: bool = True, skip_aligned=(), extra_lines=()) -> Path:
        basic = root / "basic"
        (basic / "EmoLabel").mkdir(parents=True)
        text = "".join(f"{n} {lab}\r\n" for n, lab in lines) + "".join(f"{x}\n" for x in extra_lines)
        (basic / "EmoLabel" / "list_patition_label.txt").write_text(text)
        for i, (name, _) in enumerate(lines):
            stem = name.removesuffix(".jpg")
            write_image(basic / "Image" / "original" / name, (12, 10), seed=i)
            if aligned and name not in skip_aligned:
                write_image(basic / "Image" / "aligned" / f"{stem}_aligned.jpg", (10, 10), seed=i)
        return basic

    return make


# --- CASIA-WebFace ------------------------------------------------------------------------------
@pytest.fixture
def make_casia() -> Callable[..., dict[str, list[str]]]:
    """``make(root, tree={"0000045": ["001.jpg", ...], ...})`` writes the identity tree."""

    def make(root: Path, tree: dict[str, list[str]]) -> dict[str, list[str]]:
        for k, (ident, files) in enumerate(tree.items()):
            for j, f in enumerate(files):
                if f.endswith(".txt"):
                    (root / ident).mkdir(parents=True, exist_ok=True)
                    (root / ident / f).write_text("not an image\n")
                else:
                    write_image(root / ident / f, seed=10 * k + j)
        return tree

    return make


# --- the other layouts, one builder each -----------------------------------------------------------
def touch_images(paths, size=(8, 8)):
    for k, p in enumerate(paths):
        write_image(p, size, seed=k)


def build_affectnet_csv(root: Path) -> None:
    lists, imgs = root / "Manually_Annotated_file_lists", root / "Manually_Annotated_Images"
    lists.mkdir(parents=True)
    lnd = ";".join(f"{v:.2f}" for v in np.arange(136) / 2)
    header = (
        "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal"
    )
    rows = [
        f'1/a.jpg,10,12,50,52,"{lnd}",1,0.5,-0.25',
        f"1/b.jpg,0,0,8,8,{lnd},7,-0.1,0.2",
        f"2/c.jpg,0,0,8,8,{lnd},9,-2,-2",
        f"2/d.jpg,0,0,8,8,{lnd},0,0.0,0.0",
    ]
    (lists / "training.csv").write_text("\n".join([header, *rows]) + "\n")
    (lists / "validation.csv").write_text(f"3/e.jpg,0,0,8,8,{lnd},6,-0.5,0.5\n")  # no header row
    touch_images([imgs / r for r in ("1/a.jpg", "1/b.jpg", "2/c.jpg", "2/d.jpg", "3/e.jpg")])


def build_affectnet_npy(root: Path) -> None:
    labels = {
        "0": ("3", "0.5", "-0.1"),
        "1": ("0", "0.0", "0.0"),
        "2": ("10", "-2", "-2"),
        "10": ("5", "0.1", "0.2"),
    }
    ann = root / "train_set" / "annotations"
    ann.mkdir(parents=True)
    for stem, (exp, val, aro) in labels.items():
        write_image(root / "train_set" / "images" / f"{stem}.jpg")
        np.save(ann / f"{stem}_exp.npy", np.array(exp))
        np.save(ann / f"{stem}_val.npy", np.array(val))
        np.save(ann / f"{stem}_aro.npy", np.array(aro))
        np.save(ann / f"{stem}_lnd.npy", np.arange(136, dtype=np.float64))
    write_image(root / "val_set" / "images" / "0.jpg")
    (root / "val_set" / "annotations").mkdir(parents=True)
    for k, v in (("exp", "1"), ("val", "0.3"), ("aro", "0.4")):
        np.save(root / "val_set" / "annotations" / f"0_{k}.npy", np.array(v))


FER_ROWS = [(0, "Training"), (3, "Training"), (6, "PublicTest"), (5, "PrivateTest"), (4, "Training")]


def fer_pixels(k: int) -> np.ndarray:
    return ((np.arange(48 * 48) * (k + 1)) % 256).astype(np.uint8).reshape(48, 48)


def build_fer2013(root: Path, bad_rows: bool = False) -> Path:
    lines = ["emotion,pixels,Usage"]
    lines += [f"{e},{' '.join(map(str, fer_pixels(k).reshape(-1)))},{u}" for k, (e, u) in enumerate(FER_ROWS)]
    if bad_rows:
        lines += ["2," + " ".join(["7"] * 100) + ",Training", "7," + " ".join(["1"] * 2304) + ",Training"]
    root.mkdir(parents=True, exist_ok=True)
    (root / "fer2013.csv").write_text("\n".join(lines) + "\n")
    return root / "fer2013.csv"


# Usage, name, votes in file order: neutral happiness surprise sadness anger disgust fear contempt unknown NF
FERPLUS_ROWS = [
    ("Training", "fer0000000.png", [10, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
    ("Training", "fer0000001.png", [0, 6, 4, 0, 0, 0, 0, 0, 0, 0]),
    ("Training", "", [0, 0, 0, 0, 0, 0, 0, 0, 0, 10]),
    ("Training", "fer0000003.png", [0, 4, 0, 4, 1, 0, 0, 0, 1, 0]),
    ("PublicTest", "fer0000004.png", [0, 0, 0, 0, 0, 0, 0, 7, 0, 3]),
]


def build_ferplus(root: Path, folders: bool = True) -> None:
    header = "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF"
    lines = [header] + [f"{u},{n}," + ",".join(map(str, v)) for u, n, v in FERPLUS_ROWS]
    root.mkdir(parents=True, exist_ok=True)
    (root / "fer2013new.csv").write_text("\n".join(lines) + "\n")
    if folders:
        dirs = {"Training": "FER2013Train", "PublicTest": "FER2013Valid"}
        for k, (u, n, _) in enumerate(FERPLUS_ROWS):
            if n:
                (root / dirs[u]).mkdir(exist_ok=True)
                Image.fromarray(fer_pixels(k)).save(root / dirs[u] / n)
    else:
        rows = ["emotion,pixels,Usage"]
        for k, (u, _, _) in enumerate(FERPLUS_ROWS):
            rows.append(f"0,{' '.join(map(str, fer_pixels(k).reshape(-1)))},{u}")
        (root / "fer2013.csv").write_text("\n".join(rows) + "\n")


def build_ckplus(root: Path) -> None:
    """S005/001 5 frames disgust; S010/002 4 frames surprise (+ unlabelled 003);
    S011/001 3 frames contempt; S011/004 6 frames, peak at 4, happiness."""
    seqs = {("S005", "001", 5): (5, 3), ("S010", "002", 4): (4, 7), ("S010", "003", 3): None,
            ("S011", "001", 3): (3, 2), ("S011", "004", 6): (4, 5)}
    for (subj, seq, n), label in seqs.items():
        d = root / "cohn-kanade-images" / subj / seq
        touch_images([d / f"{subj}_{seq}_{i:08d}.png" for i in range(1, n + 1)])
        (d / ".DS_Store").write_bytes(b"\0\0")
        if label is not None:
            peak, value = label
            e = root / "Emotion" / subj / seq
            e.mkdir(parents=True)
            (e / f"{subj}_{seq}_{peak:08d}_emotion.txt").write_text(f"   {value:.7e}\n")


def build_oulu(root: Path) -> None:
    vl = root / "OriginalImg" / "VL" / "Strong"
    tree = {("P001", "Anger"): 5, ("P001", "Happiness"): 3, ("P002", "Surprise"): 4}
    for (p, e), n in tree.items():
        touch_images([vl / p / e / f"{i:03d}.jpeg" for i in range(n)])
    touch_images([root / "OriginalImg" / "NI" / "Strong" / "P001" / "Anger" / "000.jpeg"])
    touch_images([root / "OriginalImg" / "VL" / "Weak" / "P003" / "Fear" / "000.jpeg"])


def build_kdef(root: Path) -> None:
    names = ["AF01/AF01AFS.JPG", "AF01/AF01HAFL.JPG", "AM02/AM02NES.JPG", "BF01/BF01SUHR.JPG"]
    names.append("BF01/BF01DIS.JPG")
    touch_images([root / "KDEF" / n for n in names])


def build_multipie_raw(root: Path) -> None:
    files = [
        "session01/multiview/001/01/05_1/001_01_01_051_07.png",  # neutral
        "session01/multiview/001/01/05_1/001_01_01_051_00.png",  # neutral, flash 0
        "session01/multiview/001/02/05_1/001_01_02_051_07.png",  # smile
        "session01/multiview/001/02/04_1/001_01_02_041_07.png",  # another camera
        "session02/multiview/002/02/05_1/002_02_02_051_07.png",  # surprise
        "session02/multiview/002/03/05_1/002_02_03_051_07.png",  # squint
        "session03/multiview/003/03/05_1/003_03_03_051_07.png",  # disgust
        "session04/multiview/001/03/05_1/001_04_03_051_07.png",  # scream
    ]
    touch_images([root / "data" / f for f in files])


def build_multipie_jesrl(root: Path, bad_row: bool = False) -> None:
    header = "disgust scream smile squint surprise neutral"
    train = [
        "train_0001.jpg -1 -1 1 -1 -1 -1",  # smile
        "train_0002.jpg -1 1 -1 -1 -1 -1",  # scream
        "train_0003.jpg 1 -1 -1 -1 -1 -1",  # disgust
    ]
    if bad_row:
        train.append("train_0004.jpg 1 1 -1 -1 -1 -1")
    test = ["test_0001.jpg -1 -1 -1 -1 -1 1"]
    root.mkdir(parents=True)
    (root / "list_attr_multipie_train.txt").write_text("\n".join([str(len(train)), header, *train]) + "\n")
    (root / "list_attr_multipie_test.txt").write_text("\n".join([str(len(test)), header, *test]) + "\n")
    touch_images([root / "align_5p" / r.split()[0] for r in train + test])


def build_emotionet(root: Path) -> dict[str, np.ndarray]:
    from genfer.data.aus import write_openface_csv

    out = {}
    for b, batch in enumerate(("batch_a", "batch_b")):
        proc = root / batch / "processed"
        aus = np.random.default_rng(b).uniform(0, 5, (3, 17))
        write_openface_csv(proc / "EmotioNet.csv", aus, success=[1, 0, 1])
        touch_images([proc / "EmotioNet_aligned" / f"frame_det_00_{f:06d}.bmp" for f in (1, 3)])
        out[batch] = aus
    return out


def build_ganimation(root: Path) -> dict[str, np.ndarray]:
    from genfer.data.aus import write_ganimation_pkl

    table = {s: np.full(17, float(k)) for k, s in enumerate(("a", "b", "c", "d"))}
    write_ganimation_pkl(root / "aus_openface.pkl", table)
    touch_images([root / "imgs" / f"{s}.jpg" for s in ("a", "b", "c")])
    (root / "train_ids.csv").write_text("a.jpg\nb.jpg\n")
    (root / "test_ids.csv").write_text("c.jpg\n")
    return table


def build_ffhq(root: Path) -> None:
    touch_images([root / "images1024x1024" / d / f for d, f in
                  (("00000", "00000.png"), ("00000", "00001.png"), ("60000", "60000.png"))])
    touch_images([root / "thumbnails128x128" / "00000" / "00000.png"])


def build_celebahq_mask(root: Path) -> None:
    touch_images([root / "CelebA-HQ-img" / f"{i}.jpg" for i in (0, 1, 2, 10)])
    mapping = ["idx orig_idx orig_file", "0 119613 119614.jpg", "1 99 000100.jpg", "2 5 000006.jpg",
               "10 6 000007.jpg"]
    (root / "CelebA-HQ-to-CelebA-mapping.txt").write_text("\n".join(mapping) + "\n")
    part = ["119614.jpg 0", "000100.jpg 0", "000006.jpg 2", "000007.jpg 1"]
    (root / "list_eval_partition.txt").write_text("\n".join(part) + "\n")
    ident = ["119614.jpg 2880", "000100.jpg 15", "000006.jpg 2880", "000007.jpg 3"]
    (root / "identity_CelebA.txt").write_text("\n".join(ident) + "\n")


def build_celebahq_stargan(root: Path) -> None:
    for p in ("train/female/a.jpg", "train/male/b.jpg", "val/female/c.jpg"):
        write_image(root / "celeba_hq" / p)


def build_sfew(root: Path, nested: bool = False) -> None:
    inner = "Train_Aligned_Faces/" if nested else ""
    touch_images([root / f"Train/{inner}Angry/a.png", root / f"Train/{inner}Happy/b.png",
                  root / f"Train/{inner}Happy/c.png", root / "Val/Sad/d.png"])


@pytest.fixture
def build():
    """The layout builders, as attributes: ``build.ckplus(root)`` ..."""
    from types import SimpleNamespace

    builders = {k.removeprefix("build_"): v for k, v in globals().items() if k.startswith("build_")}
    return SimpleNamespace(**builders)


def build_store(root: Path) -> np.ndarray:
    """A prepared store of 3 faces with AUs (2 train, 1 test); returns their AUs [3, 17]."""
    import torch

    from genfer.data.store import StoreWriter

    aus = np.random.default_rng(3).uniform(0, 5, (3, 17)).astype(np.float32)
    labels = {"labelled": False, "has_aus": True, "subject_protocol": False, "extra_keys": []}
    with StoreWriter(root, (8, 8), 3, {"size": 8}, {"labels": labels}, shard_size=2) as w:
        for k, split in enumerate(("train", "train", "test")):
            rec = {"split": split, "path": f"{k}.jpg", "expression": -1, "identity": -1, "aus": aus[k].tolist()}
            w.add(str(k), torch.full((1, 3, 8, 8), k, dtype=torch.uint8), [rec])
    return aus


def build_openface_folder(root: Path, per_image: bool = False) -> np.ndarray:
    """A flat folder of 4 unlabelled images and their OpenFace AUs: one FeatureExtraction CSV
    ``openface.csv`` (frames in file-name order, frame 3 failed) or, with ``per_image``, a folder
    ``openface/<stem>.csv`` (image c's CSV has no successful face). Returns the AUs written [4, 17]."""
    from genfer.data.aus import write_openface_csv

    aus = np.random.default_rng(7).uniform(0, 5, (4, 17))
    names = ["a.png", "b.png", "c.png", "d.png"]
    for k, n in enumerate(names):
        write_image(root / n, seed=k)
    if per_image:
        for k, n in enumerate(names):
            two = np.stack([aus[k], aus[k] + 0.5])  # the second face is less confident
            write_openface_csv(root / "openface" / f"{n[0]}.csv", two, confidence=[0.9, 0.4], success=[k != 2] * 2)
    else:
        write_openface_csv(root / "openface.csv", aus, success=[1, 1, 0, 1])
    return aus
